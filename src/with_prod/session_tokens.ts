/**
 * The prod session's token as the wrapped command sees it: served only by the temporary proxy
 * (never written to disk), cached and single-flight, refreshed from the gate on demand once past
 * its refresh point. When the session ends under it (the gate revoked it, the held connection
 * broke, or with-prod is shutting down) {@link SessionTokens.end} makes every later call fail with
 * a 401 naming the reason, and the cached token is dropped: no prod token is served after that.
 * @module
 */
import type { Clock } from "../clock.ts";
import { HttpError } from "../errors.ts";
import { type ExpiringToken, TokenCache } from "../token_cache.ts";

/** What the token source is built from. */
export interface SessionTokenOptions {
  initial: ExpiringToken;
  /** Asks the gate for a new token (the session id lives in this closure only). */
  fetch: () => Promise<ExpiringToken>;
  clock: Clock;
}

const KEY = "session";

/** A cached, single-flight prod token that stops at the end of the session. */
export class SessionTokens {
  readonly #options: SessionTokenOptions;
  #cache: TokenCache;
  #seeded: Promise<unknown>;
  #ended?: string;

  constructor(options: SessionTokenOptions) {
    this.#options = options;
    this.#cache = new TokenCache(options.clock, { maxEntries: 1, maxFetches: 1 });
    // Seed the cache with the token the session was created with.
    this.#seeded = this.#cache.get(KEY, () => Promise.resolve(options.initial));
  }

  /** Why the session ended, once it has. */
  get ended(): string | undefined {
    return this.#ended;
  }

  /** The current token, refreshed once past its refresh point; a 401 once the session ended. */
  async token(): Promise<ExpiringToken> {
    this.#throwIfEnded();
    await this.#seeded;
    const token = await this.#cache.get(KEY, () => this.#options.fetch());
    // A refresh that raced the end of the session is not served either.
    this.#throwIfEnded();
    return token;
  }

  /** Ends the session: every later {@link token} call fails with `reason`. Idempotent. */
  end(reason: string): void {
    if (this.#ended !== undefined) return;
    this.#ended = reason;
    // Drop the cached token: a fresh, empty cache holds nothing.
    this.#cache = new TokenCache(this.#options.clock, { maxEntries: 1, maxFetches: 1 });
    this.#seeded = Promise.resolve();
  }

  #throwIfEnded(): void {
    if (this.#ended !== undefined) throw new HttpError(401, this.#ended);
  }
}
