import type { Clock } from "./clock.ts";

/** A bearer token with its absolute expiry in epoch milliseconds. */
export interface ExpiringToken {
  accessToken: string;
  expiresAt: number;
}

const MAX_MARGIN_MS = 5 * 60 * 1000;

/**
 * When a token fetched at `fetchedAt` should be refreshed: 10% of its lifetime before expiry,
 * capped at five minutes, so short tokens are not refreshed constantly and long ones not too late.
 */
export function refreshAt(expiresAt: number, fetchedAt: number): number {
  const lifetime = Math.max(0, expiresAt - fetchedAt);
  return expiresAt - Math.min(MAX_MARGIN_MS, lifetime * 0.1);
}

/** Whole seconds until `expiresAt`, floored, never negative. */
export function secondsUntil(expiresAt: number, now: number): number {
  return Math.max(0, Math.floor((expiresAt - now) / 1000));
}

interface Entry<T extends ExpiringToken> {
  token: T;
  refreshAt: number;
}

/**
 * A keyed single-flight token cache: concurrent misses for one key share one fetch, and a failed
 * fetch frees the slot so the next caller retries.
 */
export class TokenCache<T extends ExpiringToken = ExpiringToken> {
  readonly #clock: Clock;
  readonly #entries = new Map<string, Entry<T>>();
  readonly #inflight = new Map<string, Promise<T>>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Returns a fresh cached token for `key`, or runs `fetch` once for all concurrent callers. */
  get(key: string, fetch: () => Promise<T>): Promise<T> {
    const entry = this.#entries.get(key);
    if (entry && this.#clock.now() < entry.refreshAt) return Promise.resolve(entry.token);
    const running = this.#inflight.get(key);
    if (running) return running;
    const fetchedAt = this.#clock.now();
    const promise = fetch().then(
      (token) => {
        this.#entries.set(key, { token, refreshAt: refreshAt(token.expiresAt, fetchedAt) });
        return token;
      },
    ).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, promise);
    return promise;
  }

  /** The cached token for `key` if it is before its refresh point: the synchronous hot path. */
  fresh(key: string): T | undefined {
    const entry = this.#entries.get(key);
    return entry && this.#clock.now() < entry.refreshAt ? entry.token : undefined;
  }

  /** The cached token for `key` if it has not expired yet (even past its refresh point). */
  peek(key: string): T | undefined {
    const entry = this.#entries.get(key);
    if (entry && this.#clock.now() < entry.token.expiresAt) return entry.token;
    return undefined;
  }

  /** Forgets every cached token (credentials changed). */
  clear(): void {
    this.#entries.clear();
  }
}
