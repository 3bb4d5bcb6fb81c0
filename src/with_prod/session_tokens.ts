/**
 * The prod session's token as the wrapped command sees it: served by the temporary proxy and
 * mirrored into the sandbox's token file. A refresh writes the file first and commits the token to
 * memory only after the write succeeded, so the file and the proxy never disagree. A background
 * timer refreshes ahead of expiry too, because gcloud reading only `access_token_file` never asks
 * the proxy.
 * @module
 */
import type { Clock } from "../clock.ts";
import { messageOf } from "../errors.ts";
import { type ExpiringToken, refreshAt, TokenCache } from "../token_cache.ts";
import type { Timers } from "../gate/confirm/timers.ts";

/** Retry delay after a failed background refresh. */
export const RETRY_MS = 30_000;

/** What the token source is built from. */
export interface SessionTokenOptions {
  initial: ExpiringToken;
  /** Asks the gate for a new token (the session id lives in this closure only). */
  fetch: () => Promise<ExpiringToken>;
  /** Persists a token (the token file) before it is committed. */
  persist: (token: ExpiringToken) => Promise<void>;
  clock: Clock;
  timers: Timers;
  log: (line: string) => void;
}

const KEY = "session";

/** A cached, single-flight, file-mirrored prod token. */
export class SessionTokens {
  readonly #cache: TokenCache;
  readonly #options: SessionTokenOptions;
  #cancelTimer?: () => void;
  #stopped = false;
  readonly #seeded: Promise<unknown>;

  constructor(options: SessionTokenOptions) {
    this.#options = options;
    this.#cache = new TokenCache(options.clock);
    // Seed the cache with the token the session was created with (already on disk).
    this.#seeded = this.#cache.get(KEY, () => Promise.resolve(options.initial));
    this.#schedule(refreshAt(options.initial.expiresAt, options.clock.now()));
  }

  /** The current token, refreshed (file first) once past its refresh point. */
  async token(): Promise<ExpiringToken> {
    await this.#seeded;
    return await this.#cache.get(KEY, async () => {
      const token = await this.#options.fetch();
      await this.#options.persist(token);
      this.#schedule(refreshAt(token.expiresAt, this.#options.clock.now()));
      return token;
    });
  }

  /** Stops the background refresh. */
  stop(): void {
    this.#stopped = true;
    this.#cancelTimer?.();
  }

  #schedule(at: number): void {
    if (this.#stopped) return;
    this.#cancelTimer?.();
    const delay = Math.max(0, at - this.#options.clock.now());
    this.#cancelTimer = this.#options.timers.setTimeout(() => {
      this.token().catch((err) => {
        this.#options.log(`with-prod: background token refresh failed: ${messageOf(err)}`);
        const live = this.#cache.peek(KEY);
        if (live) this.#schedule(Math.min(live.expiresAt, this.#options.clock.now() + RETRY_MS));
      });
    }, delay);
  }
}
