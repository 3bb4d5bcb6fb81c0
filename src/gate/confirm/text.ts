/**
 * The words every confirmation surface shows, so a dialog, the terminal and the pending CLI say
 * the same thing about the same request.
 * @module
 */
import { argumentCount, type CommandDisplay, sanitizeText } from "../command_display.ts";
import { requesterLines, type RequesterView } from "../requester.ts";
import type { PushDisplay } from "../../routes/git_push.ts";

/** What a human is asked to decide. */
export interface ConfirmRequest {
  /** The engineer whose credential the prod token is. */
  email: string;
  /** The PAM entitlement, when one is in effect. */
  pamPolicy?: string;
  /** The reported command, already redacted and sanitised; absent when none was reported. */
  command?: CommandDisplay;
  /** The request's pending id (the client's `X-Pending-Id` or the gate's), used if it is queued. */
  pendingId?: string;
  /** The pairing code with-prod printed in the engineer's terminal (from the pending id). */
  pairingCode?: string;
  /** Who asked, as the kernel reports it; every surface shows it. */
  requester?: RequesterView;
  /** Aborts when the client goes away: every surface stops asking and the answer is no. */
  signal?: AbortSignal;
  /** A git push through a route (`push = "approve"`): the repository and each ref, old → new. */
  push?: PushDisplay;
}

/** The dialog title. */
export const DIALOG_TITLE = "authcalator gate: Prod Access";

/** The dialog title of a request: a git push says so, everything else is prod access. */
export function dialogTitle(req: ConfirmRequest): string {
  return req.push ? "authcalator gate: git push" : DIALOG_TITLE;
}

/** The question. */
export function headline(req: ConfirmRequest): string {
  if (req.push) {
    return `Allow a git push to ${sanitizeText(req.push.repository)} through route '${
      sanitizeText(req.push.route)
    }'?`;
  }
  const email = sanitizeText(req.email);
  if (req.pamPolicy) {
    return `Grant prod-level GCP access to ${email} via PAM entitlement '${
      sanitizeText(req.pamPolicy)
    }'?`;
  }
  return `Grant prod-level GCP access to ${email}?`;
}

/** The line above the numbered arguments. */
export function heading(req: ConfirmRequest): string {
  if (req.push) {
    return `Refs this push updates (${req.push.totalRefs}), old → new, read from the push itself:`;
  }
  if (!req.command) return "No command was reported by the client.";
  return `Full command as reported by the client (${argumentCount(req.command.totalArgs)}):`;
}

/** The numbered argument lines, or one line saying there are none. */
export function commandLines(req: ConfirmRequest): string[] {
  if (req.push) return req.push.refs.map((line) => sanitizeText(line));
  return req.command ? req.command.lines : ["  (no command reported)"];
}

/**
 * Who asked and how to match it to a terminal: the pairing code, the kernel's view of the
 * requester, and the verdict on the reported command (MISMATCH in capitals).
 */
export function requestDetails(req: ConfirmRequest): string[] {
  const code = req.pairingCode
    ? `Pairing code: ${
      sanitizeText(req.pairingCode)
    } (with-prod prints it in the terminal that asked)`
    : "Pairing code: (none)";
  const reported = req.push?.reportedBy
    ? [`Reported by the container's routes proxy: ${sanitizeText(req.push.reportedBy)}`]
    : [];
  return [code, ...requesterLines(req.requester), ...reported];
}

/** The whole text of a dialog body: question, who asked, heading, the reported command. */
export function dialogBody(req: ConfirmRequest): string {
  return [headline(req), "", ...requestDetails(req), "", heading(req), ...commandLines(req)].join(
    "\n",
  ) + "\n";
}
