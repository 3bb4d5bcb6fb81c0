/**
 * The prod confirmation rate limiter, shared by every listener: one confirmation at a time, a 1 s
 * cooldown after a denial, and 20 acquisitions per sliding minute. The limits are constants on
 * purpose: they bound how often a human can be asked, whatever the configuration says.
 * @module
 */
import type { Clock } from "../clock.ts";

/** At most this many acquisitions per {@link WINDOW_MS}. */
export const MAX_PER_WINDOW = 20;
/** The sliding window. */
export const WINDOW_MS = 60_000;
/** Cooldown after a human denial. */
export const DENIAL_COOLDOWN_MS = 1_000;

/** How a held slot ended: only `denied` starts the cooldown. */
export type ReleaseOutcome = "granted" | "denied" | "error";

/** A held slot; releasing it twice is harmless. */
export interface RateLimitSlot {
  release(outcome: ReleaseOutcome): void;
}

/** The result of {@link RateLimiter.acquire}. */
export type Acquisition = { ok: true; slot: RateLimitSlot } | { ok: false; reason: string };

/** The limiter; pure apart from the injected clock. */
export class RateLimiter {
  readonly #clock: Clock;
  readonly #attempts: number[] = [];
  #held = false;
  #cooldownUntil = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Takes the single confirmation slot, or says why not (the 429 body). */
  acquire(): Acquisition {
    const now = this.#clock.now();
    if (this.#held) return { ok: false, reason: "A prod confirmation dialog is already pending" };
    if (now < this.#cooldownUntil) {
      const seconds = Math.ceil((this.#cooldownUntil - now) / 1000);
      return { ok: false, reason: `Prod access denied recently; retry in ${seconds}s` };
    }
    while (this.#attempts.length && this.#attempts[0] <= now - WINDOW_MS) this.#attempts.shift();
    if (this.#attempts.length >= MAX_PER_WINDOW) {
      return {
        ok: false,
        reason: `Rate limit exceeded: max ${MAX_PER_WINDOW} prod attempts per ${
          WINDOW_MS / 60_000
        } minutes`,
      };
    }
    this.#attempts.push(now);
    this.#held = true;
    let released = false;
    return {
      ok: true,
      slot: {
        release: (outcome) => {
          if (released) return;
          released = true;
          this.#held = false;
          if (outcome === "denied") this.#cooldownUntil = this.#clock.now() + DENIAL_COOLDOWN_MS;
        },
      },
    };
  }

  /** Whether a confirmation is outstanding. */
  get busy(): boolean {
    return this.#held;
  }
}
