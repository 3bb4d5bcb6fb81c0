/**
 * How a prod request ended when it did not end with a grant, as the gate answers it on the wire
 * (`{error, code}` plus the status below). A human's "no", nobody answering the queue in time, a
 * prompt left unanswered and a client that went away are different events and every surface (the
 * gate's answer, the audit `result`, the admin CLI, with-prod's message) keeps them apart. with-prod
 * and the admin commands map these codes to their messages; the gate builds its errors from here.
 * @module
 */

/** The `code` of a prod request's non-grant answer. */
export const PROD_OUTCOME_CODES = {
  /** A human said no (dialog, terminal or `authcalator deny`): 403. */
  denied: "prod_denied",
  /** Queued for `authcalator approve` and nobody decided before the queue's deadline: 408. */
  expired: "prod_request_expired",
  /** A dialog or the terminal prompt was shown and got no answer in its time: 408. */
  timedOut: "prod_prompt_timed_out",
  /** The client went away before a decision (or before delivery): 499, which nobody reads. */
  cancelled: "prod_request_cancelled",
  /** The gate is shutting down: 503. */
  shuttingDown: "gate_shutting_down",
  /** A confirmation limit (per requester, global concurrency, per-minute cap, cooldown): 429. */
  rateLimited: "prod_rate_limited",
  /** PAM entitlements are not served by this release: 501. */
  pamNotSupported: "pam_not_supported",
  /** The request body did not arrive whole and in time: 408 / 413 / 400. */
  badBody: "request_body_incomplete",
} as const;

/** One of {@link PROD_OUTCOME_CODES}' values. */
export type ProdOutcomeCode = typeof PROD_OUTCOME_CODES[keyof typeof PROD_OUTCOME_CODES];

/**
 * Codes the admin socket answers for a pending id that is no longer waiting (410 Gone), so
 * `approve`, `deny` and `pending <id>` can say what happened to it instead of "not found".
 */
export const GONE_CODES = {
  /** The requester disconnected; the request was dropped and can never be approved. */
  requesterGone: "requester_gone",
  /** Nobody decided before the queue's deadline. */
  expired: "pending_expired",
  /** Already approved. */
  approved: "already_approved",
  /** Already denied. */
  denied: "already_denied",
  /** The gate shut down while it waited. */
  shutdown: "gate_shut_down",
} as const;

/** One of {@link GONE_CODES}' values. */
export type GoneCode = typeof GONE_CODES[keyof typeof GONE_CODES];

/** What with-prod (and any client) should tell its user for a non-grant `code`. */
export function describeProdOutcome(code: string | undefined, fallback: string): string {
  switch (code) {
    case PROD_OUTCOME_CODES.denied:
      return "Prod access denied by a human on the host.";
    case PROD_OUTCOME_CODES.expired:
      return "Prod request expired: nobody approved it on the host in time " +
        "(run 'authcalator pending' and 'authcalator approve <id>' there).";
    case PROD_OUTCOME_CODES.timedOut:
      return "Prod request timed out: the approval dialog or terminal prompt on the host " +
        "got no answer in time.";
    case PROD_OUTCOME_CODES.cancelled:
      return "Prod request cancelled: the client went away before a decision.";
    case PROD_OUTCOME_CODES.shuttingDown:
      return "The gate is shutting down; prod access was not granted.";
    default:
      return fallback;
  }
}
