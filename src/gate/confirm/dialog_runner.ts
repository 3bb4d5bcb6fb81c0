/**
 * Runs a dialog program with its content on stdin, stderr drained from the start, and a
 * parent-side backstop: a wedged dialog is killed and counts as a denial, so it can never hold
 * the confirmation slot for ever.
 * @module
 */
import type { Timers } from "./timers.ts";

/** How a dialog run ended. */
export type DialogResult =
  | { kind: "exited"; code: number; stderr: string }
  | { kind: "timeout" }
  | { kind: "cancelled" }
  | { kind: "unavailable"; why: string };

/** Options of one run. */
export interface DialogRunOptions {
  /** Text written to the dialog's stdin (closed afterwards). */
  stdin: string;
  /** Parent-side backstop. */
  timeoutMs: number;
  /** Aborts when the requesting client is gone. */
  signal?: AbortSignal;
}

/** Runs `program args…`; the seam the confirmation chain is tested through. */
export type DialogRunner = (
  program: string,
  args: string[],
  options: DialogRunOptions,
) => Promise<DialogResult>;

const STDERR_CAP = 64 * 1024;

/**
 * The real runner. `env` is the dialog's whole environment (the gate passes its own minus
 * credentials); the program is looked up on its PATH.
 */
export function commandDialogRunner(env: Record<string, string>, timers: Timers): DialogRunner {
  return async (program, args, options) => {
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(program, {
        args,
        env,
        clearEnv: true,
        stdin: "piped",
        stdout: "null",
        stderr: "piped",
      }).spawn();
    } catch (err) {
      return { kind: "unavailable", why: `cannot start ${program}: ${(err as Error).name}` };
    }
    let ended: "timeout" | "cancelled" | undefined;
    const kill = (why: "timeout" | "cancelled") => {
      ended ??= why;
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    };
    const cancelBackstop = timers.setTimeout(() => kill("timeout"), options.timeoutMs);
    const onAbort = () => kill("cancelled");
    options.signal?.addEventListener("abort", onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    const stderr = drain(child.stderr);
    try {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(options.stdin));
      await writer.close();
    } catch {
      // A dialog that exits before reading (EPIPE) is judged by its exit code, not by this.
    }
    const status = await child.status;
    cancelBackstop();
    options.signal?.removeEventListener("abort", onAbort);
    const text = await stderr;
    if (ended) return { kind: ended };
    return { kind: "exited", code: status.code, stderr: text };
  };
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  try {
    for await (const chunk of stream) {
      if (text.length < STDERR_CAP) text += decoder.decode(chunk, { stream: true });
    }
  } catch { /* closed */ }
  return text.slice(0, STDERR_CAP);
}
