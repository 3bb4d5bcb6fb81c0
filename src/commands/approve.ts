/**
 * `authcalator approve <id>`: prints the whole queued command first, then approves it only after
 * the operator types `yes` (or passes `--yes`); off a terminal it refuses without `--yes`. The
 * wait for `yes` is bounded by the request's own expiry.
 * @module
 */
import type { Invocation } from "../cli/commands.ts";
import { type Clock, systemClock } from "../clock.ts";
import {
  type AdminCall,
  AdminError,
  answerError,
  checkId,
  type CliIO,
  fetchRequest,
  goneMessage,
  processIO,
  renderRequest,
  secondsLeft,
  withAdmin,
} from "./pending.ts";
import { ADMIN_PATHS } from "../gate_api/wire.ts";

/** The operator's terminal, for the typed confirmation. */
export interface ConfirmInput {
  isTerminal: boolean;
  /** Writes the question without a newline. */
  prompt(text: string): void;
  /** One line, or null at end of input or after `timeoutMs`. */
  readLine(timeoutMs: number): Promise<string | null>;
}

/** Approves (or refuses to approve) one request. */
export async function approveCommand(
  call: AdminCall,
  rawId: string | undefined,
  options: { yes: boolean; input: ConfirmInput; io: CliIO; clock: Clock },
): Promise<number> {
  const { io, input, clock } = options;
  const id = checkId(rawId);
  const request = await fetchRequest(call, id);
  io.out(renderRequest(request, clock));
  if (!options.yes) {
    if (!input.isTerminal) {
      throw new AdminError("refusing to approve without confirmation; re-run with --yes");
    }
    const left = secondsLeft(request, clock);
    if (left <= 0) throw new AdminError("this request has already expired.");
    input.prompt(`Approve this request? Type 'yes' within ${left}s to approve: `);
    const expires = Date.parse(request.expiresAt);
    const answer = await input.readLine(Math.max(0, expires - clock.now()));
    if (answer === null) {
      throw new AdminError("request expired while waiting for confirmation.");
    }
    if (answer.trim().toLowerCase() !== "yes") {
      io.err("Aborted.");
      return 1;
    }
  }
  const answer = await call("POST", ADMIN_PATHS.decide(id, "approve"));
  if (answer.status === 410) throw new AdminError(goneMessage(id, answer));
  if (answer.status === 404) throw new AdminError(`request ${id} not found (may have expired)`);
  if (answer.status !== 200) throw new AdminError(answerError(answer));
  io.out(`Approved request ${id}.`);
  return 0;
}

/** Reads one line of stdin within `timeoutMs` (null on timeout or end of input). */
export async function readStdinLine(timeoutMs: number): Promise<string | null> {
  const reader = Deno.stdin.readable.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) =>
    timer = setTimeout(() => resolve(null), timeoutMs)
  );
  try {
    while (true) {
      const chunk = await Promise.race([reader.read(), timeout]);
      if (chunk === null) return null;
      if (chunk.done) return text === "" ? null : text;
      text += decoder.decode(chunk.value, { stream: true });
      const nl = text.indexOf("\n");
      if (nl >= 0) return text.slice(0, nl);
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
}

/** `authcalator approve <id> [--yes]`. */
export function run(invocation: Invocation): Promise<number> {
  const id = checkId(invocation.positionals[0], "approve");
  return withAdmin(invocation, processIO, async (call) => {
    return await approveCommand(call, id, {
      yes: invocation.flags.yes === true,
      io: processIO,
      clock: systemClock,
      input: {
        isTerminal: Deno.stdin.isTerminal(),
        prompt: (text) => Deno.stdout.writeSync(new TextEncoder().encode(text)),
        readLine: readStdinLine,
      },
    });
  });
}
