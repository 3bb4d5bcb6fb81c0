/**
 * The metadata proxy's backend over the gate's Unix socket: cached, coalesced, bounded calls.
 * When the gate goes away, tokens already cached keep being served until they expire; when it
 * comes back, the next call reaches it again (a new connection per attempt, no restart).
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import { HttpError } from "../errors.ts";
import { DeadlineError, fetchWithDeadline, withDeadline } from "../http/deadline_fetch.ts";
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
  /** The gate's Unix socket. */
  socketPath: string;
  clock?: Clock;
  timeouts?: Partial<GateTimeouts>;
  /** How long to wait for a refresh before serving a still-valid cached token. */
  staleWaitMs?: number;
  /** Injected fetch for tests; by default a Deno HTTP client on the socket is used. */
  fetchFn?: typeof fetch;
  /** Bounds of the access-token and identity-token caches (each); defaults are documented there. */
  cache?: TokenCacheOptions;
}

/** The gate's `/health` answer. */
export interface GateHealth {
  status: string;
  uptime_seconds?: number;
}

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

/** Why a connection failed, from the OS error text (the fetch message carries the URL). */
function connectReason(err: unknown): string {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const m = /([A-Za-z][A-Za-z ]*[a-z]) \(os error \d+\)/.exec(e.message);
    if (m) return m[1].toLowerCase();
  }
  return "connection failed";
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The gate backend of the dev metadata proxy. */
export class GateClient implements MetadataBackend {
  readonly #socketPath: string;
  readonly #clock: Clock;
  readonly #timeouts: GateTimeouts;
  readonly #staleWaitMs: number;
  readonly #fetchFn?: typeof fetch;
  readonly #client?: Deno.HttpClient;
  readonly #tokens: TokenCache;
  readonly #idTokens: TokenCache;
  readonly #projectNumber = new Forever<string>();
  readonly #universe = new Forever<string>();
  #lastScopes?: string[];
  #lastKey = "";

  constructor(options: GateClientOptions) {
    this.#socketPath = options.socketPath;
    this.#clock = options.clock ?? systemClock;
    this.#timeouts = { ...GATE_TIMEOUTS, ...options.timeouts };
    this.#staleWaitMs = options.staleWaitMs ?? STALE_WAIT_MS;
    this.#fetchFn = options.fetchFn;
    if (!options.fetchFn) {
      this.#client = Deno.createHttpClient({
        proxy: { transport: "unix", path: options.socketPath },
      });
    }
    this.#tokens = new TokenCache(this.#clock, options.cache);
    this.#idTokens = new TokenCache(this.#clock, options.cache);
  }

  /** Releases the HTTP client. */
  close(): void {
    this.#client?.close();
  }

  /** GETs `path` from the gate and parses its JSON; every failure becomes an HttpError. */
  async #get(path: string, what: string, timeoutMs: number): Promise<Record<string, unknown>> {
    let res;
    try {
      res = await fetchWithDeadline(`http://localhost${path}`, {
        timeoutMs,
        what,
        client: this.#client,
        fetchFn: this.#fetchFn,
      });
    } catch (err) {
      if (err instanceof DeadlineError) {
        throw new HttpError(504, `the gate did not answer within ${timeoutMs} ms while ${what}`);
      }
      throw new HttpError(
        503,
        `cannot reach the gate at ${this.#socketPath} (${connectReason(err)}) while ${what}; ` +
          "is `authcalator gate` running on the host, with its socket mounted here?",
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(res.text);
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      if (isRecord(body) && typeof body.error === "string") {
        const code = typeof body.code === "string" ? body.code : undefined;
        // The gate's Retry-After (Google rate-limiting it) reaches the client; only a plain
        // delay in seconds is relayed, so nothing the gate did not mean can be injected.
        const retryAfter = res.headers.get("retry-after");
        const headers = retryAfter && /^\d{1,6}$/.test(retryAfter)
          ? { "retry-after": retryAfter }
          : undefined;
        throw new HttpError(res.status, body.error, code, { headers });
      }
      throw new HttpError(502, `the gate answered ${res.status} while ${what}`);
    }
    if (!isRecord(body)) {
      throw new HttpError(502, `the gate's answer was not a JSON object while ${what}`);
    }
    return body;
  }

  #field(body: Record<string, unknown>, name: string, what: string): string {
    const value = body[name];
    if (typeof value !== "string" || value === "") {
      throw new HttpError(502, `the gate's answer had no ${name} while ${what}`);
    }
    return value;
  }

  /** The gate's `/health`, within the health deadline (startup check). */
  async health(): Promise<GateHealth> {
    const what = "checking the gate's health";
    const body = await this.#get("/health", what, this.#timeouts.health);
    return {
      status: this.#field(body, "status", what),
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
    const query = scopes.map(encodeURIComponent).join(",");
    const body = await this.#get(`/token?scopes=${query}`, what, this.#timeouts.token);
    // `expires_in` counts from when the gate answered, so it is dated from the answer's arrival:
    // a gate that took 50 s must not leave its 3599 s token looking 50 s older than it is.
    const arrivedAt = this.#clock.now();
    const accessToken = this.#field(body, "access_token", what);
    const expiresIn = body.expires_in === undefined ? 3600 : body.expires_in;
    if (typeof expiresIn !== "number" || !Number.isFinite(expiresIn) || expiresIn <= 0) {
      throw new HttpError(502, `the gate's answer had an invalid expires_in while ${what}`);
    }
    return { accessToken, expiresAt: arrivedAt + expiresIn * 1000 };
  }

  /** An identity token, cached per audience and format until near its `exp`. */
  async idToken(audience: string, format: IdTokenFormat): Promise<string> {
    const key = `${format} ${audience}`;
    const token = await this.#idTokens.get(key, async () => {
      const what = "asking the gate for an identity token";
      const path = `/id-token?audience=${encodeURIComponent(audience)}&format=${format}`;
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
      const jwt = this.#field(body, "id_token", what);
      return { accessToken: jwt, expiresAt: jwtExpiry(jwt) ?? this.#clock.now() };
    });
    return token.accessToken;
  }

  /** The project number (asked once, then kept). */
  projectNumber(): Promise<string> {
    return this.#projectNumber.get(async () => {
      const what = "asking the gate for the project number";
      const body = await this.#get("/project-number", what, this.#timeouts.projectNumber);
      const value = this.#field(body, "project_number", what);
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
      const body = await this.#get("/universe-domain", what, this.#timeouts.universeDomain);
      return this.#field(body, "universe_domain", what);
    });
  }

  /** The engineer's email (not cached: the gate caches it and drops it when ADC changes). */
  async identityEmail(): Promise<string> {
    const what = "asking the gate for the engineer's identity";
    const body = await this.#get("/identity", what, this.#timeouts.identity);
    return this.#field(body, "email", what);
  }
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
