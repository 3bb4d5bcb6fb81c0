/**
 * The confirmation chain: a desktop dialog when one can be shown, else the gate's terminal, else
 * the pending queue for `authcalator approve`. A surface that is unavailable falls through; a
 * surface that answers decides. Every wait is bounded, and a client that goes away ends the wait
 * as `cancelled`. How a wait ended (a human's no, a prompt's timeout, the queue's expiry, a client
 * gone) is kept apart in the decision's `outcome`. The terminal asks one question at a time: while
 * it is asking, further requests go to the pending queue instead of fighting over stdin.
 * @module
 */
import type { PendingQueue } from "../pending.ts";
import {
  DIALOG_BACKSTOP_MS,
  interpretDialog,
  osascriptInvocation,
  zenityInvocation,
} from "./dialogs.ts";
import type { DialogRunner } from "./dialog_runner.ts";
import { type TerminalIO, terminalPrompt } from "./terminal.ts";
import type { ConfirmRequest } from "./text.ts";
import type { Timers } from "./timers.ts";

/** Which surface decided. */
export type ConfirmVia = "zenity" | "osascript" | "terminal" | "pending" | "none";

/** How the confirmation ended; only `approved` grants. */
export type ConfirmOutcome =
  | "approved"
  | "denied"
  | "timed_out"
  | "expired"
  | "cancelled"
  | "shutdown";

/** The human's answer. */
export interface Decision {
  approved: boolean;
  via: ConfirmVia;
  outcome: ConfirmOutcome;
  /** A short reason for the gate's log (never contains a token or session id). */
  why: string;
}

/** The injectable pieces of the chain. */
export interface ConfirmDeps {
  /** `Deno.build.os`. */
  platform: string;
  /** The gate's environment, for DISPLAY / WAYLAND_DISPLAY. */
  env: Record<string, string | undefined>;
  runDialog: DialogRunner;
  /** The gate's terminal; absent when the gate has no TTY. */
  terminal?: TerminalIO;
  pending: PendingQueue;
  timers: Timers;
  log: (line: string) => void;
}

/** Whether a desktop dialog can be shown at all: macOS, or Linux with an X11/Wayland display. */
export function dialogProgram(
  platform: string,
  env: Record<string, string | undefined>,
): "zenity" | "osascript" | undefined {
  if (platform === "darwin") return "osascript";
  if (platform === "linux" && (env.DISPLAY || env.WAYLAND_DISPLAY)) return "zenity";
  return undefined;
}

// Terminals with a question on screen: a second question waits in the pending queue instead.
const asking = new WeakSet<TerminalIO>();

/** Asks a human, through the first surface available. */
export async function confirmProdAccess(req: ConfirmRequest, deps: ConfirmDeps): Promise<Decision> {
  if (req.signal?.aborted) {
    return { approved: false, via: "none", outcome: "cancelled", why: "client went away" };
  }
  const program = dialogProgram(deps.platform, deps.env);
  if (program) {
    const inv = program === "zenity" ? zenityInvocation(req) : osascriptInvocation(req);
    const result = await deps.runDialog(inv.program, inv.args, {
      stdin: inv.stdin,
      timeoutMs: DIALOG_BACKSTOP_MS,
      signal: req.signal,
    });
    const { verdict, why } = interpretDialog(result);
    if (verdict !== "unavailable") {
      const outcome: ConfirmOutcome = verdict === "allow"
        ? "approved"
        : result.kind === "cancelled" || req.signal?.aborted
        ? "cancelled"
        : result.kind === "timeout" || (result.kind === "exited" && result.code === 5)
        ? "timed_out"
        : "denied";
      return { approved: verdict === "allow", via: program, outcome, why };
    }
    deps.log(`confirm: ${program} unavailable (${why}); trying the next method`);
  }
  if (deps.terminal && !asking.has(deps.terminal)) {
    asking.add(deps.terminal);
    try {
      const { outcome, why } = await terminalPrompt(req, deps.terminal, deps.timers);
      return { approved: outcome === "approved", via: "terminal", outcome, why };
    } finally {
      asking.delete(deps.terminal);
    }
  }
  if (deps.terminal) deps.log("confirm: the terminal is asking about another request; queueing");
  const { outcome } = deps.pending.enqueue({
    email: req.email,
    command: req.command,
    pamPolicy: req.pamPolicy,
    id: req.pendingId,
    pairingCode: req.pairingCode,
    requester: req.requester,
    signal: req.signal,
    push: req.push,
  });
  const result = await outcome;
  return {
    approved: result === "approved",
    via: "pending",
    outcome: result,
    why: result === "approved" ? "approved with authcalator approve" : `pending request ${result}`,
  };
}
