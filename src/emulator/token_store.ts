/**
 * The access tokens the emulator has issued, remembered with principal, scopes and expiry against
 * an injected clock, so tokeninfo and bearer checks expire tokens exactly as Google does.
 * @module
 */
import type { Clock } from "../clock.ts";
import { newAccessToken } from "./random.ts";

/** How a token was obtained (drives tokeninfo's `access_type` and revocation). */
export type TokenSource = "refresh_token" | "jwt_bearer" | "iamcredentials" | "test";

/** What the emulator remembers about one access token. */
export interface TokenRecord {
  /** Email of the user or service account the token acts as. */
  principal: string;
  /** Numeric id of the principal (`sub`). */
  subject: string;
  /** OAuth client (users) or the account's unique id (service accounts): tokeninfo azp/aud. */
  clientId: string;
  scopes: string[];
  source: TokenSource;
  issuedAt: number;
  expiresAt: number;
}

/** Issues opaque tokens and answers "is this token live, and whose is it?". */
export class TokenStore {
  readonly #clock: Clock;
  readonly #tokens = new Map<string, TokenRecord>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Issues a token valid for `lifetimeSeconds` from now. */
  issue(
    fields: Omit<TokenRecord, "issuedAt" | "expiresAt">,
    lifetimeSeconds: number,
  ): { token: string; record: TokenRecord } {
    this.#prune();
    const now = this.#clock.now();
    const record: TokenRecord = {
      ...fields,
      scopes: [...fields.scopes],
      issuedAt: now,
      expiresAt: now + lifetimeSeconds * 1000,
    };
    const token = newAccessToken();
    this.#tokens.set(token, record);
    return { token, record };
  }

  /** The record of a live token; undefined when unknown, revoked or expired. */
  lookup(token: string): TokenRecord | undefined {
    const record = this.#tokens.get(token);
    if (!record || record.expiresAt <= this.#clock.now()) return undefined;
    return record;
  }

  /** Revokes every token matching `predicate`; returns how many. */
  revokeWhere(predicate: (record: TokenRecord) => boolean): number {
    let n = 0;
    for (const [token, record] of this.#tokens) {
      if (predicate(record)) {
        this.#tokens.delete(token);
        n++;
      }
    }
    return n;
  }

  /** Number of live tokens. */
  get size(): number {
    this.#prune();
    return this.#tokens.size;
  }

  #prune(): void {
    const now = this.#clock.now();
    for (const [token, record] of this.#tokens) {
      if (record.expiresAt <= now) this.#tokens.delete(token);
    }
  }
}
