/** Test doubles for the metadata app: a scripted backend and a hand-driven scheduler. */
import type { Clock } from "../../src/clock.ts";
import { HttpError } from "../../src/errors.ts";
import type { IdTokenFormat, MetadataBackend } from "../../src/metadata/backend.ts";
import type { Scheduler } from "../../src/metadata/change_wait.ts";
import type { ExpiringToken } from "../../src/token_cache.ts";

/** Encodes a JSON object as base64url without padding. */
export function b64url(value: unknown): string {
  return btoa(JSON.stringify(value)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A well-formed (unsigned) compact JWT carrying `payload`. */
export function fakeJwt(payload: Record<string, unknown>): string {
  return `${b64url({ alg: "RS256", typ: "JWT" })}.${b64url(payload)}.c2ln`;
}

/** Decodes a compact JWT's payload. */
export function jwtPayload(jwt: string): Record<string, unknown> {
  const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(part.padEnd(Math.ceil(part.length / 4) * 4, "=")));
}

/** A backend whose answers tests script and whose calls tests count. */
export class FakeBackend implements MetadataBackend {
  tokenCalls: string[][] = [];
  idTokenCalls: [string, IdTokenFormat][] = [];
  universe = "googleapis.com";
  failWith?: HttpError;
  #serial = 0;
  #tokens = new Map<string, ExpiringToken>();

  constructor(readonly clock: Clock, readonly lifetimeMs = 3600_000) {}

  token(scopes: string[]): Promise<ExpiringToken> {
    this.tokenCalls.push(scopes);
    if (this.failWith) return Promise.reject(this.failWith);
    const key = scopes.join(",");
    let token = this.#tokens.get(key);
    if (!token) {
      token = {
        accessToken: `ya29.fake-${++this.#serial}`,
        expiresAt: this.clock.now() + this.lifetimeMs,
      };
      this.#tokens.set(key, token);
    }
    return Promise.resolve(token);
  }

  /** Like the gate client: a token already minted and not failing is available synchronously. */
  cachedToken(scopes: string[]): ExpiringToken | undefined {
    return this.failWith ? undefined : this.#tokens.get(scopes.join(","));
  }

  idToken(audience: string, format: IdTokenFormat): Promise<string> {
    this.idTokenCalls.push([audience, format]);
    if (this.failWith) return Promise.reject(this.failWith);
    const iat = Math.floor(this.clock.now() / 1000);
    const payload: Record<string, unknown> = {
      aud: audience,
      azp: "111",
      exp: iat + 3600,
      iat,
      iss: "https://accounts.google.com",
      sub: "111",
    };
    if (format === "full") {
      payload.email = "dev-runner@demo-project.iam.gserviceaccount.com";
      payload.email_verified = true;
    }
    return Promise.resolve(fakeJwt(payload));
  }

  projectNumber(): Promise<string> {
    if (this.failWith) return Promise.reject(this.failWith);
    return Promise.resolve("123456789012");
  }

  universeDomain(): Promise<string> {
    return Promise.resolve(this.universe);
  }

  identityEmail(): Promise<string> {
    if (this.failWith) return Promise.reject(this.failWith);
    return Promise.resolve("engineer@example.com");
  }
}

/** A scheduler whose timers fire only when the test advances it. */
export class ManualScheduler implements Scheduler {
  #now = 0;
  #timers: { at: number; fn: () => void; live: boolean }[] = [];

  after(ms: number, fn: () => void): () => void {
    const timer = { at: this.#now + ms, fn, live: true };
    this.#timers.push(timer);
    return () => {
      timer.live = false;
    };
  }

  /** Timers still pending. */
  get pending(): number {
    return this.#timers.filter((t) => t.live).length;
  }

  /** Moves time forward, firing due timers. */
  advance(ms: number): void {
    this.#now += ms;
    for (const t of this.#timers) {
      if (t.live && t.at <= this.#now) {
        t.live = false;
        t.fn();
      }
    }
    this.#timers = this.#timers.filter((t) => t.live);
  }
}
