/**
 * with-prod's exit codes and messages when the wrapped command never ran because prod access was
 * not granted. Each way a request can end without a grant (src/gate_api/prod_outcome.ts, the one
 * home of the wire codes) has its own code, in a block (80–86) that common tools rarely use, so a
 * script can tell "a human said no" from "nobody answered" from "the command failed".
 *
 * | exit | meaning                                                            |
 * | ---- | ------------------------------------------------------------------ |
 * | 80   | denied by a human (dialog, terminal or `authcalator deny`)         |
 * | 81   | expired: queued for `authcalator approve`, nobody decided in time  |
 * | 82   | timed out: the dialog or terminal prompt got no answer in time     |
 * | 83   | cancelled: the gate dropped the request as its client went away    |
 * | 84   | rate limited: a confirmation limit on the gate refused the request |
 * | 85   | the gate is shutting down                                          |
 * | 1    | anything else (gate unreachable, a malformed answer, …)            |
 *
 * With the command run, with-prod exits with the command's own code (128+n if a signal killed
 * it); 2 is a usage error, 126/127 a command that could not be run, 130/143 a SIGINT/SIGTERM
 * that cancelled the request before the command started.
 * @module
 */
import { describeProdOutcome, PROD_OUTCOME_CODES } from "../gate_api/prod_outcome.ts";

/** Exit codes per non-grant outcome. */
export const OUTCOME_EXIT_CODES: Readonly<Record<string, number>> = {
  [PROD_OUTCOME_CODES.denied]: 80,
  [PROD_OUTCOME_CODES.expired]: 81,
  [PROD_OUTCOME_CODES.timedOut]: 82,
  [PROD_OUTCOME_CODES.cancelled]: 83,
  [PROD_OUTCOME_CODES.rateLimited]: 84,
  [PROD_OUTCOME_CODES.shuttingDown]: 85,
};

/** The exit code of any other failure to acquire prod access. */
export const ACQUIRE_FAILED_EXIT = 1;

/** with-prod's message and exit code for a gate error `{code, message}`. */
export function acquisitionOutcome(
  code: string | undefined,
  gateMessage: string,
): { message: string; exitCode: number } {
  const exitCode = code !== undefined && Object.hasOwn(OUTCOME_EXIT_CODES, code)
    ? OUTCOME_EXIT_CODES[code]
    : ACQUIRE_FAILED_EXIT;
  return { message: describeProdOutcome(code, gateMessage), exitCode };
}
