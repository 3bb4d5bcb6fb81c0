/**
 * Fault injection for tests and the reliability suite. Each switch arms the next N calls of one
 * API (see api_names.ts) and is consumed by the emulator's middleware (app.ts):
 *
 * | switch                    | what the client sees                                              |
 * | ------------------------- | ----------------------------------------------------------------- |
 * | `latency(api, ms)`        | every answer delayed by `ms` (ends early when the client leaves)  |
 * | `failNext(api, n, status)`| Google's error shape with `status` (5xx, 403, ...)                |
 * | `rateLimitNext(api, n, s)`| 429 RESOURCE_EXHAUSTED with `Retry-After: s`                      |
 * | `resetNext(api, n)`       | the connection closed with no answer at all (raw TCP front)       |
 * | `hangNext(api, n)`        | no answer until the client gives up (or the emulator stops)       |
 * | `stallBody(api, n)`       | a 200 whose body starts and never ends                            |
 * | `slowBodyNext(api, n, ms)`| the real answer, its body sent one byte every `ms`                |
 * | `badJsonNext(api, n)`     | a 200 `application/json` whose body is not JSON                   |
 * | `malformNext(api, kind)`  | a 200 whose JSON lacks or breaks a field: see {@link Malformation}|
 * | `reauthAfter(n)`          | refreshes fail with `invalid_rapt` after n more successes          |
 * | `revokeRefreshToken()`    | refreshes fail with `invalid_grant` (token expired or revoked)    |
 *
 * Only latency and slow bodies hold a timer, cleared when the client leaves or on `stop()`; hangs
 * and stalls hold none.
 * @module
 */
import type { ApiName } from "./api_names.ts";

/** A pending forced failure. */
export interface ForcedFailure {
  status: number;
  message: string;
  /** Extra response headers, e.g. `Retry-After` on a 429. */
  headers?: Record<string, string>;
}

/** Faults that arm the next N calls of an API. */
export type ArmedFault = "reset" | "hang" | "stall" | "bad_json";

/**
 * How `malformNext` breaks a successful JSON answer: `missing_expiry` drops `expireTime` /
 * `expires_in`, `past_expiry` dates it an hour ago, `garbled_expiry` makes it unparseable,
 * `missing_token` drops `accessToken` / `access_token` / `token`, `not_object` answers a string.
 */
export type Malformation =
  | "missing_expiry"
  | "past_expiry"
  | "garbled_expiry"
  | "missing_token"
  | "not_object";

/** Every {@link Malformation}, for loops in tests. */
export const MALFORMATIONS: readonly Malformation[] = [
  "missing_expiry",
  "past_expiry",
  "garbled_expiry",
  "missing_token",
  "not_object",
];

/** What the next refresh_token grant with a valid refresh token must answer. */
export type RefreshOutcome = "ok" | "reauth" | "revoked";

/** Default messages Google's front end gives for forced statuses. */
const DEFAULT_MESSAGES: Record<number, string> = {
  400: "Request contains an invalid argument.",
  401: "Request had invalid authentication credentials.",
  403: "The caller does not have permission",
  404: "Requested entity was not found.",
  429: "Quota exceeded.",
  500: "Internal error encountered.",
  502: "Bad Gateway",
  503: "The service is currently unavailable.",
  504: "The request timed out. Please try again.",
};

/** The fault switches; set by tests, consumed by the emulator's middleware and token route. */
export class Faults {
  readonly #latency = new Map<ApiName, number>();
  readonly #failures = new Map<ApiName, { remaining: number; failure: ForcedFailure }>();
  readonly #armed = new Map<`${ArmedFault}:${ApiName}`, number>();
  readonly #malformations = new Map<ApiName, { kind: Malformation; remaining: number }>();
  readonly #slowBodies = new Map<ApiName, { intervalMs: number; remaining: number }>();
  #reauthAfter?: number;
  #refreshes = 0;
  #revoked = false;
  readonly #onRevoke: () => void;

  /** `onRevoke` runs when the refresh token is revoked (Google also revokes its access tokens). */
  constructor(onRevoke: () => void = () => {}) {
    this.#onRevoke = onRevoke;
  }

  /** Delays every call to `api` by `ms` of real time before it is answered (0 removes it). */
  latency(api: ApiName, ms: number): this {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`latency must be >= 0 ms, got ${ms}`);
    if (ms === 0) this.#latency.delete(api);
    else this.#latency.set(api, ms);
    return this;
  }

  /** Makes the next `count` calls to `api` fail with `status` in Google's error shape. */
  failNext(api: ApiName, count = 1, status = 503, message?: string): this {
    checkCount(count);
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(`status must be an HTTP error status, got ${status}`);
    }
    const failure = { status, message: message ?? DEFAULT_MESSAGES[status] ?? "Error." };
    this.#failures.set(api, { remaining: count, failure });
    return this;
  }

  /** Makes the next `count` calls to `api` answer 429 with `Retry-After: retryAfterSeconds`. */
  rateLimitNext(api: ApiName, count = 1, retryAfterSeconds = 30): this {
    if (!Number.isInteger(retryAfterSeconds) || retryAfterSeconds < 0) {
      throw new RangeError(`retryAfterSeconds must be an integer >= 0, got ${retryAfterSeconds}`);
    }
    this.failNext(api, count, 429);
    this.#failures.get(api)!.failure.headers = { "retry-after": String(retryAfterSeconds) };
    return this;
  }

  /** Makes the next `count` calls to `api` send headers and a partial body, then hang. */
  stallBody(api: ApiName, count = 1): this {
    return this.#arm("stall", api, count);
  }

  /** Makes the next `count` connections carrying a call to `api` close without any answer. */
  resetNext(api: ApiName, count = 1): this {
    return this.#arm("reset", api, count);
  }

  /** Makes the next `count` calls to `api` never answer, until the client leaves or stop(). */
  hangNext(api: ApiName, count = 1): this {
    return this.#arm("hang", api, count);
  }

  /** Makes the next `count` calls to `api` answer 200 with a body that is not JSON. */
  badJsonNext(api: ApiName, count = 1): this {
    return this.#arm("bad_json", api, count);
  }

  /** Makes the next `count` successful answers of `api` malformed in the way `kind` says. */
  malformNext(api: ApiName, kind: Malformation, count = 1): this {
    if (!MALFORMATIONS.includes(kind)) throw new RangeError(`unknown malformation ${kind}`);
    checkCount(count);
    this.#malformations.set(api, { kind, remaining: count });
    return this;
  }

  /** Makes the next `count` answers of `api` trickle their body, one byte every `intervalMs`. */
  slowBodyNext(api: ApiName, count = 1, intervalMs = 100): this {
    checkCount(count);
    if (!Number.isInteger(intervalMs) || intervalMs < 1 || intervalMs > 60_000) {
      throw new RangeError(`intervalMs must be an integer from 1 to 60000, got ${intervalMs}`);
    }
    this.#slowBodies.set(api, { intervalMs, remaining: count });
    return this;
  }

  /** Takes one pending slow body for `api`: its interval in ms, if any. */
  takeSlowBody(api: ApiName): number | undefined {
    const pending = this.#slowBodies.get(api);
    if (!pending) return undefined;
    if (--pending.remaining === 0) this.#slowBodies.delete(api);
    return pending.intervalMs;
  }

  #arm(fault: ArmedFault, api: ApiName, count: number): this {
    checkCount(count);
    this.#armed.set(`${fault}:${api}`, count);
    return this;
  }

  /** Takes one armed `fault` for `api`, if any is pending. */
  take(fault: ArmedFault, api: ApiName): boolean {
    const key = `${fault}:${api}` as const;
    const n = this.#armed.get(key);
    if (!n) return false;
    if (n === 1) this.#armed.delete(key);
    else this.#armed.set(key, n - 1);
    return true;
  }

  /** Takes one pending malformation for `api`'s next successful answer, if any. */
  takeMalformation(api: ApiName): Malformation | undefined {
    const pending = this.#malformations.get(api);
    if (!pending) return undefined;
    if (--pending.remaining === 0) this.#malformations.delete(api);
    return pending.kind;
  }

  /** After `refreshes` more successful refreshes, every refresh fails with invalid_rapt. */
  reauthAfter(refreshes: number): this {
    if (!Number.isInteger(refreshes) || refreshes < 0) {
      throw new RangeError(`refreshes must be >= 0`);
    }
    this.#reauthAfter = refreshes;
    this.#refreshes = 0;
    return this;
  }

  /** Revokes the engineer's refresh token and the access tokens minted from it. */
  revokeRefreshToken(): this {
    this.#revoked = true;
    this.#onRevoke();
    return this;
  }

  /** Removes every fault (a revoked refresh token becomes valid again). */
  clear(): this {
    this.#latency.clear();
    this.#failures.clear();
    this.#armed.clear();
    this.#malformations.clear();
    this.#slowBodies.clear();
    this.#reauthAfter = undefined;
    this.#refreshes = 0;
    this.#revoked = false;
    return this;
  }

  /** The delay for `api` in ms (0 when none). */
  latencyFor(api: ApiName): number {
    return this.#latency.get(api) ?? 0;
  }

  /** Takes one forced failure for `api`, if any is pending. */
  takeFailure(api: ApiName): ForcedFailure | undefined {
    const pending = this.#failures.get(api);
    if (!pending) return undefined;
    if (--pending.remaining === 0) this.#failures.delete(api);
    return pending.failure;
  }

  /** Takes one stall for `api`, if any is pending. */
  takeStall(api: ApiName): boolean {
    return this.take("stall", api);
  }

  /** Decides the answer to a refresh with a valid refresh token, counting successes. */
  refreshOutcome(): RefreshOutcome {
    if (this.#revoked) return "revoked";
    if (this.#reauthAfter !== undefined && this.#refreshes >= this.#reauthAfter) return "reauth";
    this.#refreshes++;
    return "ok";
  }
}

function checkCount(count: number): void {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`count must be >= 1`);
}
