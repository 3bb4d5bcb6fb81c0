/**
 * The idle rule of a routed stream: no deadline while bytes flow (a long download or a model
 * thinking aloud over server-sent events may run for minutes), but a stream that moves nothing for
 * the idle time is stalled and is cut, which aborts the exchange with the gate and so the upstream
 * request. One timer per stream, re-armed only when it fires (a chunk just stamps the clock), so a
 * 50 MB body costs no timer churn.
 * @module
 */
import type { Clock } from "../clock.ts";
import type { Timers } from "../gate/confirm/timers.ts";

/** Why a watched stream was cut for idling (its message is safe to log). */
export class StreamIdleError extends Error {
  constructor(what: string, idleMs: number) {
    super(`${what} moved no bytes for ${Math.round(idleMs / 1000)} s`);
    this.name = "StreamIdleError";
  }
}

/** What {@link watchIdle} needs. */
export interface IdleWatch {
  idleMs: number;
  clock: Clock;
  timers: Timers;
  /**
   * Called at most once, never on a normal end: the stream idled (with a {@link StreamIdleError}),
   * its source failed, or its reader cancelled (the client left).
   */
  onStop: (reason: unknown) => void;
  /** `the response body`, `the request body`: for the error message. */
  what: string;
}

/**
 * `source` passed through unchanged, chunk by chunk as it arrives; errors with a
 * {@link StreamIdleError} (and calls `onStop`) when no chunk came for `idleMs`, and calls `onStop`
 * when its reader cancels (the client left). The timer is released when the stream ends either way.
 */
export function watchIdle(
  source: ReadableStream<Uint8Array>,
  watch: IdleWatch,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let last = watch.clock.now();
  let cancelTimer: (() => void) | undefined;
  let stopped = false;
  let idleController: ReadableStreamDefaultController<Uint8Array> | undefined;

  const stop = (reason: unknown) => {
    cancelTimer?.();
    cancelTimer = undefined;
    if (stopped) return;
    stopped = true;
    watch.onStop(reason);
  };
  const arm = (ms: number) => {
    cancelTimer = watch.timers.setTimeout(check, ms);
  };
  function check() {
    cancelTimer = undefined;
    if (stopped) return;
    const quiet = watch.clock.now() - last;
    if (quiet < watch.idleMs) return arm(watch.idleMs - quiet);
    const err = new StreamIdleError(watch.what, watch.idleMs);
    idleController?.error(err);
    reader.cancel(err).catch(() => {});
    stop(err);
  }

  return new ReadableStream<Uint8Array>({
    start(controller) {
      idleController = controller;
      arm(watch.idleMs);
    },
    async pull(controller) {
      let step: ReadableStreamReadResult<Uint8Array>;
      try {
        step = await reader.read();
      } catch (err) {
        if (!stopped) controller.error(err);
        stop(err);
        return;
      }
      if (stopped) return;
      if (step.done) {
        cancelTimer?.();
        cancelTimer = undefined;
        stopped = true;
        controller.close();
        return;
      }
      last = watch.clock.now();
      controller.enqueue(step.value);
    },
    cancel(reason) {
      stop(reason);
      return reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}
