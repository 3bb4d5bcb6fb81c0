/**
 * The timer seam of the confirmation chain: pending expiry, dialog backstops and prompt budgets
 * are scheduled through it so tests drive them with a manual clock instead of sleeping.
 * @module
 */

/** Schedules `fn` after `ms`; returns a function that cancels it. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): () => void;
}

/** Real timers; unref'd so a pending expiry never keeps a finished process alive. */
export const realTimers: Timers = {
  setTimeout(fn, ms) {
    const id = setTimeout(fn, ms);
    Deno.unrefTimer(id);
    return () => clearTimeout(id);
  },
};

/** Resolves after `ms` on `timers`, or when `signal` aborts (whichever is first). */
export function delay(timers: Timers, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const cancel = timers.setTimeout(done, ms);
    function done() {
      cancel();
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
