/**
 * The desktop dialogs: zenity on Linux with a display, osascript on macOS. Every word a client
 * can influence goes on the dialog's stdin, never in its argv; the argv holds only constants.
 * @module
 */
import type { DialogResult } from "./dialog_runner.ts";
import {
  commandLines,
  type ConfirmRequest,
  dialogBody,
  dialogTitle,
  heading,
  headline,
  requestDetails,
} from "./text.ts";

/** The dialog's own timeout. */
export const DIALOG_TIMEOUT_SECONDS = 60;
/** The parent-side backstop, a little longer so the dialog's own timeout normally wins. */
export const DIALOG_BACKSTOP_MS = 65_000;

/** A program, its argv and its stdin. */
export interface DialogInvocation {
  program: "zenity" | "osascript";
  args: string[];
  stdin: string;
}

/** What the chain does with a dialog's result. */
export type DialogVerdict = "allow" | "deny" | "unavailable";

/**
 * zenity `--text-info` with the request on stdin, Allow/Deny buttons and a checkbox that must be
 * ticked before Allow works. Never `--html`, `--editable` or `--filename`.
 */
export function zenityInvocation(req: ConfirmRequest): DialogInvocation {
  return {
    program: "zenity",
    args: [
      "--text-info",
      `--title=${dialogTitle(req)}`,
      "--width=700",
      "--height=500",
      "--ok-label=Allow",
      "--cancel-label=Deny",
      `--checkbox=${
        req.push ? "I have read every ref being updated" : "I have read the full command"
      }`,
      `--timeout=${DIALOG_TIMEOUT_SECONDS}`,
    ],
    stdin: dialogBody(req),
  };
}

/** An AppleScript string literal. */
export function appleScriptString(text: string): string {
  return `"${text.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/**
 * osascript reading its script from stdin (`osascript -`): a list of every display line with no
 * default selection and no empty selection, so Allow stays disabled until the human selects a
 * line. The prompt text is joined with `linefeed`, not escapes, so nothing in it is interpreted.
 */
export function osascriptInvocation(req: ConfirmRequest): DialogInvocation {
  const items = [...requestDetails(req), heading(req), ...commandLines(req)].map(appleScriptString)
    .join(", ");
  const prompt = [
    appleScriptString(headline(req)),
    "linefeed",
    "linefeed",
    appleScriptString("Select any line to enable Allow."),
  ].join(" & ");
  const script = [
    `set r to choose from list {${items}} with title ${appleScriptString(dialogTitle(req))} ` +
    `with prompt (${prompt}) default items {} OK button name "Allow" cancel button name "Deny"`,
    `if r is false then error "denied"`,
    "",
  ].join("\n");
  return { program: "osascript", args: ["-"], stdin: script };
}

const REJECTED_OPTION = [
  /this option is not available/i,
  /unknown option/i,
  /unrecogni[sz]ed option/i,
  /option parsing failed/i,
  // zenity without a usable display: the chain should fall through, not read it as "Deny".
  /cannot open display/i,
];

/**
 * Reads a dialog's result: a program that is missing, cannot run, or rejects our options is
 * unavailable (the chain falls through); 0 allows; a timeout, a cancel or any other code denies.
 */
export function interpretDialog(result: DialogResult): { verdict: DialogVerdict; why: string } {
  switch (result.kind) {
    case "unavailable":
      return { verdict: "unavailable", why: result.why };
    case "timeout":
      return { verdict: "deny", why: "dialog timed out" };
    case "cancelled":
      return { verdict: "deny", why: "client went away" };
    case "exited":
      if (REJECTED_OPTION.some((p) => p.test(result.stderr))) {
        return { verdict: "unavailable", why: "dialog program rejected its options" };
      }
      if (result.code === 127) return { verdict: "unavailable", why: "dialog program not found" };
      if (result.code === 0) return { verdict: "allow", why: "allowed in dialog" };
      if (result.code === 5) return { verdict: "deny", why: "dialog timed out" };
      if (result.code === 1) return { verdict: "deny", why: "denied in dialog" };
      return { verdict: "deny", why: `dialog exited with code ${result.code}` };
  }
}
