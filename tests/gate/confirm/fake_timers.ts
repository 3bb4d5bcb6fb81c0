/** Timers driven by a ManualClock: `advance` moves the clock and fires what became due. */
import { ManualClock } from "../../../src/clock.ts";
import type { Timers } from "../../../src/gate/confirm/timers.ts";

/** Manual timers for tests; nothing fires until `advance`. */
export class FakeTimers implements Timers {
  readonly clock: ManualClock;
  #seq = 0;
  readonly #due = new Map<number, { at: number; fn: () => void }>();

  constructor(clock = new ManualClock()) {
    this.clock = clock;
  }

  setTimeout(fn: () => void, ms: number): () => void {
    const id = ++this.#seq;
    this.#due.set(id, { at: this.clock.now() + ms, fn });
    return () => this.#due.delete(id);
  }

  /** How many timers are armed. */
  get armed(): number {
    return this.#due.size;
  }

  /** Moves time forward by `ms`, firing due timers in order, then lets promises settle. */
  async advance(ms: number): Promise<void> {
    const target = this.clock.now() + ms;
    while (true) {
      const next = [...this.#due.entries()].filter(([, t]) => t.at <= target)
        .sort((a, b) => a[1].at - b[1].at)[0];
      if (!next) break;
      this.clock.advance(Math.max(0, next[1].at - this.clock.now()));
      this.#due.delete(next[0]);
      next[1].fn();
      await flush();
    }
    this.clock.advance(target - this.clock.now());
    await flush();
  }
}

/** Lets queued promise callbacks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}
