/**
 * with-prod's signal handling. Before the child starts, SIGINT/SIGTERM cancel the acquisition and
 * the command is never run (exit 130/143). After, the first signal is forwarded with a SIGKILL
 * 5 s later, and a second signal kills at once. The child's exit code is propagated (128+n for a
 * death by signal).
 * @module
 */
import type { Timers } from "../gate/confirm/timers.ts";

/** The signals with-prod handles. */
export const HANDLED: readonly Deno.Signal[] = ["SIGINT", "SIGTERM"];
/** Grace between the forwarded signal and SIGKILL. */
export const KILL_GRACE_MS = 5_000;

/** Where signal handlers are registered (tests pass a fake). */
export interface SignalSource {
  add(signal: Deno.Signal, handler: () => void): void;
  remove(signal: Deno.Signal, handler: () => void): void;
}

/** The process's own signals. */
export const processSignals: SignalSource = {
  add: (s, h) => Deno.addSignalListener(s, h),
  remove: (s, h) => Deno.removeSignalListener(s, h),
};

/** The exit code of a process killed by `signal`. */
export function signalExitCode(signal: Deno.Signal): number {
  return signal === "SIGINT" ? 130 : 143;
}

/** Cancels acquisition on the first SIGINT/SIGTERM; remembers which one came. */
export class AcquisitionGuard {
  readonly controller = new AbortController();
  received?: Deno.Signal;
  readonly #source: SignalSource;
  readonly #handlers = new Map<Deno.Signal, () => void>();

  constructor(source: SignalSource) {
    this.#source = source;
    for (const signal of HANDLED) {
      const handler = () => {
        this.received ??= signal;
        this.controller.abort();
      };
      this.#handlers.set(signal, handler);
      source.add(signal, handler);
    }
  }

  /** The signal to abort in-flight requests with. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Removes the handlers. */
  dispose(): void {
    for (const [signal, handler] of this.#handlers) this.#source.remove(signal, handler);
    this.#handlers.clear();
  }
}

/** A started child, as far as supervision needs it. */
export interface Supervised {
  kill(signal: Deno.Signal): void;
  status: Promise<Deno.CommandStatus>;
}

/** Forwards signals to `child` until it exits; resolves with its exit code. */
export async function superviseChild(
  child: Supervised,
  source: SignalSource,
  timers: Timers,
): Promise<number> {
  let forwarded = false;
  let cancelKill: (() => void) | undefined;
  const kill = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch { /* already gone */ }
  };
  const handlers = new Map<Deno.Signal, () => void>();
  for (const signal of HANDLED) {
    const handler = () => {
      if (!forwarded) {
        forwarded = true;
        kill(signal);
        cancelKill = timers.setTimeout(() => kill("SIGKILL"), KILL_GRACE_MS);
      } else {
        cancelKill?.();
        kill("SIGKILL");
      }
    };
    handlers.set(signal, handler);
    source.add(signal, handler);
  }
  try {
    const status = await child.status;
    return status.code;
  } finally {
    cancelKill?.();
    for (const [signal, handler] of handlers) source.remove(signal, handler);
  }
}
