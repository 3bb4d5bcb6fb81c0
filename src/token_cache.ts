/**
 * The token cache shared by the gate (dev tokens per scope set), the metadata proxy (tokens per
 * scope set, identity tokens per audience) and with-prod: single-flight, refreshed before expiry,
 * and bounded because its keys come from clients.
 * @module
 */
import type { Clock } from "./clock.ts";
import { HttpError } from "./errors.ts";

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
 * Default most cached tokens per cache. Keys are scope sets (or audiences), which a client
 * chooses freely: 1,024 tokens of ~2 KB each is a few MB, far above what real workloads use
 * (a handful of scope sets) and far below what an unbounded map reaches under a scope flood.
 */
export const DEFAULT_MAX_TOKEN_ENTRIES = 1024;

/** Default most distinct keys being fetched at once (each holds an upstream call). */
export const DEFAULT_MAX_TOKEN_FETCHES = 256;

/** Bounds for a {@link TokenCache}. */
export interface TokenCacheOptions {
  /** Most cached tokens; past it the least recently used is evicted. */
  maxEntries?: number;
  /** Most distinct keys fetched concurrently; past it `get` rejects with a 503. */
  maxFetches?: number;
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`TokenCache ${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/**
 * A keyed single-flight token cache, bounded: concurrent misses for one key share one fetch, a
 * failed fetch frees the slot so the next caller retries, at most `maxEntries` tokens are kept
 * (least recently used evicted first; a hit counts as a use) and at most `maxFetches` distinct
 * keys are fetched at once (more fail with 503 rather than queue without bound).
 */
export class TokenCache<T extends ExpiringToken = ExpiringToken> {
  readonly #clock: Clock;
  /** Map iteration order is the recency order: first is least recently used. */
  readonly #entries = new Map<string, Entry<T>>();
  readonly #inflight = new Map<string, Promise<T>>();
  readonly #maxEntries: number;
  readonly #maxFetches: number;
  /** The key last moved to the most recent position: repeated hits on it skip the move. */
  #newest?: string;

  constructor(clock: Clock, options: TokenCacheOptions = {}) {
    this.#clock = clock;
    this.#maxEntries = positiveInteger(
      options.maxEntries ?? DEFAULT_MAX_TOKEN_ENTRIES,
      "maxEntries",
    );
    this.#maxFetches = positiveInteger(
      options.maxFetches ?? DEFAULT_MAX_TOKEN_FETCHES,
      "maxFetches",
    );
  }

  /** How many tokens are cached now. */
  get size(): number {
    return this.#entries.size;
  }

  /** How many distinct keys are being fetched now. */
  get fetching(): number {
    return this.#inflight.size;
  }

  /** The entry for `key`, marked as the most recently used. */
  #use(key: string): Entry<T> | undefined {
    const entry = this.#entries.get(key);
    if (entry && key !== this.#newest) {
      this.#entries.delete(key);
      this.#entries.set(key, entry);
      this.#newest = key;
    }
    return entry;
  }

  #store(key: string, entry: Entry<T>): void {
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    this.#newest = key;
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }

  /** Returns a fresh cached token for `key`, or runs `fetch` once for all concurrent callers. */
  get(key: string, fetch: () => Promise<T>): Promise<T> {
    const entry = this.#use(key);
    if (entry && this.#clock.now() < entry.refreshAt) return Promise.resolve(entry.token);
    const running = this.#inflight.get(key);
    if (running) return running;
    if (this.#inflight.size >= this.#maxFetches) {
      return Promise.reject(
        new HttpError(
          503,
          `too many different tokens are being fetched at once (${this.#maxFetches}); retry shortly`,
        ),
      );
    }
    const fetchedAt = this.#clock.now();
    const promise = fetch().then(
      (token) => {
        // `expiresAt` is absolute (the fetcher dates it from the answer's arrival); the margin is
        // sized from the start, which only ever refreshes earlier.
        this.#store(key, { token, refreshAt: refreshAt(token.expiresAt, fetchedAt) });
        return token;
      },
    ).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, promise);
    return promise;
  }

  /** The cached token for `key` if it is before its refresh point: the synchronous hot path. */
  fresh(key: string): T | undefined {
    const entry = this.#use(key);
    return entry && this.#clock.now() < entry.refreshAt ? entry.token : undefined;
  }

  /** The cached token for `key` if it has not expired yet (even past its refresh point). */
  peek(key: string): T | undefined {
    const entry = this.#use(key);
    if (entry && this.#clock.now() < entry.token.expiresAt) return entry.token;
    return undefined;
  }

  /** Forgets every cached token (credentials changed). */
  clear(): void {
    this.#entries.clear();
    this.#newest = undefined;
  }
}
