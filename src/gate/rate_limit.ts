/**
 * The prod confirmation rate limiter, shared by every listener. Slots are per requester (the
 * kernel pid of the caller; every unverified caller shares one slot), so one process cannot hold
 * the queue against another's request. The global limits bound how often a human can be asked,
 * whatever the configuration says: at most {@link MAX_CONCURRENT} requests outstanding at once,
 * {@link MAX_PER_WINDOW} acquisitions per sliding minute, and a {@link DENIAL_COOLDOWN_MS} pause for
 * everyone after a human says no.
 * @module
 */
import type { Clock } from "../clock.ts";

/** At most this many acquisitions per {@link WINDOW_MS}. */
export const MAX_PER_WINDOW = 20;
/** The sliding window. */
export const WINDOW_MS = 60_000;
/** Cooldown after a human denial. */
export const DENIAL_COOLDOWN_MS = 1_000;
/**
 * Most requests outstanding at once, across requesters: a few engineers' terminals at a time,
 * while a flood of processes still cannot put more than this many questions in front of a human.
 */
export const MAX_CONCURRENT = 4;

/** How a held slot ended: only `denied` starts the cooldown. */
export type ReleaseOutcome = "granted" | "denied" | "error";

/** A held slot; releasing it twice is harmless. */
export interface RateLimitSlot {
  release(outcome: ReleaseOutcome): void;
}

/** The result of {@link RateLimiter.acquire}. */
export type Acquisition = { ok: true; slot: RateLimitSlot } | { ok: false; reason: string };

/** The key every caller the listener could not identify shares. */
export const UNVERIFIED_KEY = "unverified";

/** The limiter; pure apart from the injected clock. */
export class RateLimiter {
  readonly #clock: Clock;
  readonly #attempts: number[] = [];
  readonly #held = new Set<string>();
  #cooldownUntil = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Takes `requester`'s confirmation slot, or says why not (the 429 body). */
  acquire(requester: string = UNVERIFIED_KEY): Acquisition {
    const now = this.#clock.now();
    if (this.#held.has(requester)) {
      return {
        ok: false,
        reason: requester === UNVERIFIED_KEY
          ? "A prod confirmation from an unverified requester is already pending"
          : requester.startsWith("remote:")
          ? "A prod confirmation from this remote client is already pending"
          : "A prod confirmation from this process is already pending",
      };
    }
    if (this.#held.size >= MAX_CONCURRENT) {
      return {
        ok: false,
        reason: `Too many prod confirmations pending (max ${MAX_CONCURRENT}); ` +
          "see 'authcalator pending' on the host",
      };
    }
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
    this.#held.add(requester);
    let released = false;
    return {
      ok: true,
      slot: {
        release: (outcome) => {
          if (released) return;
          released = true;
          this.#held.delete(requester);
          if (outcome === "denied") this.#cooldownUntil = this.#clock.now() + DENIAL_COOLDOWN_MS;
        },
      },
    };
  }

  /** Whether any confirmation is outstanding. */
  get busy(): boolean {
    return this.#held.size > 0;
  }

  /** How many confirmations are outstanding. */
  get outstanding(): number {
    return this.#held.size;
  }
}
