/**
 * The metadata proxy's backend: cached, coalesced, bounded calls to the gate through the one gate
 * client (src/gate_api/client.ts), over any transport. When the gate goes away, tokens already
 * cached keep being served until they expire; when it comes back, the next call reaches it again
 * (a new connection per attempt, no restart).
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import { HttpError } from "../errors.ts";
import { DeadlineError, withDeadline } from "../http/deadline_fetch.ts";
import { GateApi, stringField, tokenOf } from "../gate_api/client.ts";
import {
  type GateTransport,
  GateUnreachableError,
  UnixSocketTransport,
} from "../gate_api/transport.ts";
import { encodeScopes, GATE_PATHS, GATE_QUERY, type HealthAnswer } from "../gate_api/wire.ts";
import { type ExpiringToken, TokenCache, type TokenCacheOptions } from "../token_cache.ts";
import type { IdTokenFormat, MetadataBackend } from "./backend.ts";

/** Per-call deadlines (ms), as gcp-authcalator's proxy: long enough for a gate that mints. */
export interface GateTimeouts {
  health: number;
  token: number;
  idToken: number;
  identity: number;
  projectNumber: number;
  universeDomain: number;
}

/** Default deadlines. */
export const GATE_TIMEOUTS: Readonly<GateTimeouts> = {
  health: 3_000,
  token: 75_000,
  idToken: 75_000,
  identity: 105_000,
  projectNumber: 105_000,
  universeDomain: 45_000,
};

/**
 * How long a request waits for a refresh when an unexpired cached token exists: clients give
 * the metadata server about 3 s, so past this the cached token is served and the refresh goes on.
 */
export const STALE_WAIT_MS = 2_000;

/** Options for {@link GateClient}. */
export interface GateClientOptions {
  /** The gate's Unix socket (used when no `transport` is given). */
  socketPath?: string;
  /** How the gate is reached (default: a Unix-socket transport on `socketPath`). */
  transport?: GateTransport;
  clock?: Clock;
  timeouts?: Partial<GateTimeouts>;
  /** How long to wait for a refresh before serving a still-valid cached token. */
  staleWaitMs?: number;
  /** Bounds of the access-token and identity-token caches (each); defaults are documented there. */
  cache?: TokenCacheOptions;
}

/** The gate's `/health` answer. */
export type GateHealth = HealthAnswer;

/** A value fetched once and kept for the process lifetime; a failure lets the next call retry. */
class Forever<T> {
  #value?: T;
  #inflight?: Promise<T>;

  get(load: () => Promise<T>): Promise<T> {
    if (this.#value !== undefined) return Promise.resolve(this.#value);
    this.#inflight ??= load().then((v) => (this.#value = v)).finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }
}

/** The gate backend of the dev metadata proxy. */
export class GateClient implements MetadataBackend {
  readonly #gate: GateApi;
  readonly #clock: Clock;
  readonly #timeouts: GateTimeouts;
  readonly #staleWaitMs: number;
  readonly #tokens: TokenCache;
  readonly #idTokens: TokenCache;
  readonly #projectNumber = new Forever<string>();
  readonly #universe = new Forever<string>();
  #lastScopes?: string[];
  #lastKey = "";

  constructor(options: GateClientOptions) {
    const transport = options.transport ?? unixTransport(options);
    this.#gate = new GateApi(transport);
    this.#clock = options.clock ?? systemClock;
    this.#timeouts = { ...GATE_TIMEOUTS, ...options.timeouts };
    this.#staleWaitMs = options.staleWaitMs ?? STALE_WAIT_MS;
    this.#tokens = new TokenCache(this.#clock, options.cache);
    this.#idTokens = new TokenCache(this.#clock, options.cache);
  }

  /** Releases the transport. */
  close(): void {
    this.#gate.close();
  }

  /** GETs `path` from the gate and parses its JSON; every failure becomes an HttpError. */
  async #get(path: string, what: string, timeoutMs: number): Promise<Record<string, unknown>> {
    try {
      return await this.#gate.json(path, { timeoutMs, what });
    } catch (err) {
      if (err instanceof DeadlineError) {
        throw new HttpError(504, `the gate did not answer within ${timeoutMs} ms while ${what}`);
      }
      if (err instanceof GateUnreachableError) throw new HttpError(503, err.message);
      throw err;
    }
  }

  /** The gate's `/health`, within the health deadline (startup check). */
  async health(): Promise<GateHealth> {
    const what = "checking the gate's health";
    const body = await this.#get(GATE_PATHS.health, what, this.#timeouts.health);
    return {
      status: stringField(body, "status", what),
      uptime_seconds: body.uptime_seconds as number,
    };
  }

  /**
   * A token for `scopes`: cached until its adaptive refresh point, one gate call for concurrent
   * misses; an unexpired cached token is served when the gate fails or is slow to refresh it.
   */
  async token(scopes: string[]): Promise<ExpiringToken> {
    const key = this.#keyOf(scopes);
    const hit = this.#tokens.fresh(key);
    if (hit) return hit;
    const fresh = this.#tokens.get(key, () => this.#fetchToken(scopes));
    const cached = this.#usable(this.#tokens.peek(key));
    if (!cached) return await fresh;
    try {
      return await withDeadline(fresh, this.#staleWaitMs, "refreshing a token");
    } catch {
      fresh.catch(() => {}); // the refresh may still fail later; nobody awaits it then
      return this.#usable(this.#tokens.peek(key)) ?? await fresh;
    }
  }

  cachedToken(scopes: string[]): ExpiringToken | undefined {
    return this.#usable(this.#tokens.fresh(this.#keyOf(scopes)));
  }

  /** The cache key of `scopes`; the warm path passes the same default array every time. */
  #keyOf(scopes: string[]): string {
    if (scopes !== this.#lastScopes) {
      this.#lastScopes = scopes;
      this.#lastKey = scopes.join(",");
    }
    return this.#lastKey;
  }

  /** A cached token with at least a second left (clients reject `expires_in: 0`). */
  #usable(token: ExpiringToken | undefined): ExpiringToken | undefined {
    return token && token.expiresAt - this.#clock.now() >= 1000 ? token : undefined;
  }

  async #fetchToken(scopes: string[]): Promise<ExpiringToken> {
    const what = "asking the gate for an access token";
    const path = `${GATE_PATHS.token}?${GATE_QUERY.scopes}=${encodeScopes(scopes)}`;
    const body = await this.#get(path, what, this.#timeouts.token);
    // Dated from the answer's arrival: a gate that took 50 s must not age its token by 50 s.
    const token = tokenOf(body, this.#clock.now(), what);
    // A dev token that is already expired is useless to a client (they reject `expires_in: 0`).
    if (token.expiresAt <= this.#clock.now()) {
      throw new HttpError(502, `the gate's answer had an invalid expires_in while ${what}`);
    }
    return token;
  }

  /** An identity token, cached per audience and format until near its `exp`. */
  async idToken(audience: string, format: IdTokenFormat): Promise<string> {
    const key = `${format} ${audience}`;
    const token = await this.#idTokens.get(key, async () => {
      const what = "asking the gate for an identity token";
      const Q = GATE_QUERY;
      const path = `${GATE_PATHS.idToken}?${Q.audience}=${encodeURIComponent(audience)}&` +
        `${Q.format}=${format}`;
      let body;
      try {
        body = await this.#get(path, what, this.#timeouts.idToken);
      } catch (err) {
        // gcp-authcalator's gate has no /id-token route.
        if (err instanceof HttpError && err.status === 404) {
          throw new HttpError(404, "identity tokens are not supported by this gate");
        }
        throw err;
      }
      const jwt = stringField(body, "id_token", what);
      return { accessToken: jwt, expiresAt: jwtExpiry(jwt) ?? this.#clock.now() };
    });
    return token.accessToken;
  }

  /** The project number (asked once, then kept). */
  projectNumber(): Promise<string> {
    return this.#projectNumber.get(async () => {
      const what = "asking the gate for the project number";
      const body = await this.#get(GATE_PATHS.projectNumber, what, this.#timeouts.projectNumber);
      const value = stringField(body, "project_number", what);
      if (!/^[0-9]+$/.test(value)) {
        throw new HttpError(502, `the gate's project number is not numeric while ${what}`);
      }
      return value;
    });
  }

  /** The universe domain (asked once, then kept). */
  universeDomain(): Promise<string> {
    return this.#universe.get(async () => {
      const what = "asking the gate for the universe domain";
      const body = await this.#get(GATE_PATHS.universeDomain, what, this.#timeouts.universeDomain);
      return stringField(body, "universe_domain", what);
    });
  }

  /** The engineer's email (not cached: the gate caches it and drops it when ADC changes). */
  async identityEmail(): Promise<string> {
    const what = "asking the gate for the engineer's identity";
    const body = await this.#get(GATE_PATHS.identity, what, this.#timeouts.identity);
    return stringField(body, "email", what);
  }
}

/** The default transport: the Unix socket of `options.socketPath`. */
function unixTransport(options: GateClientOptions): GateTransport {
  if (!options.socketPath) throw new Error("GateClient needs a transport or a socketPath");
  return new UnixSocketTransport(options.socketPath);
}

/** The `exp` claim of a compact JWT in epoch ms, or undefined if it cannot be read. */
export function jwtExpiry(jwt: string): number | undefined {
  const parts = jwt.split(".");
  if (parts.length !== 3) return undefined;
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const payload = JSON.parse(atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, "=")));
    return typeof payload.exp === "number" ? payload.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
