/**
 * The words every confirmation surface shows, so a dialog, the terminal and the pending CLI say
 * the same thing about the same request.
 * @module
 */
import { argumentCount, type CommandDisplay, sanitizeText } from "../command_display.ts";

/** What a human is asked to decide. */
export interface ConfirmRequest {
  /** The engineer whose credential the prod token is. */
  email: string;
  /** The PAM entitlement, when one is in effect. */
  pamPolicy?: string;
  /** The reported command, already redacted and sanitised; absent when none was reported. */
  command?: CommandDisplay;
  /** The client's `X-Pending-Id`, used if the request ends up queued. */
  pendingId?: string;
  /** Aborts when the client goes away: every surface stops asking and the answer is no. */
  signal?: AbortSignal;
}

/** The dialog title. */
export const DIALOG_TITLE = "authcalator gate: Prod Access";

/** The question. */
export function headline(req: ConfirmRequest): string {
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
  if (!req.command) return "No command was reported by the client.";
  return `Full command (${argumentCount(req.command.totalArgs)}):`;
}

/** The numbered argument lines, or one line saying there are none. */
export function commandLines(req: ConfirmRequest): string[] {
  return req.command ? req.command.lines : ["  (no command reported)"];
}

/** The whole text of a dialog body: question, blank line, heading, lines. */
export function dialogBody(req: ConfirmRequest): string {
  return [headline(req), "", heading(req), ...commandLines(req)].join("\n") + "\n";
}
