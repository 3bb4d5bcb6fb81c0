/**
 * Fault injection for tests: latency, failing the next calls, reauth and revocation errors on
 * refresh, and responses whose body never finishes.
 * @module
 */
import type { ApiName } from "./api_names.ts";

/** A pending forced failure. */
export interface ForcedFailure {
  status: number;
  message: string;
}

/** What the next refresh_token grant with a valid refresh token must answer. */
export type RefreshOutcome = "ok" | "reauth" | "revoked";

/** Default messages Google's front end gives for forced statuses. */
const DEFAULT_MESSAGES: Record<number, string> = {
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
  readonly #stalls = new Map<ApiName, number>();
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
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`count must be >= 1`);
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(`status must be an HTTP error status, got ${status}`);
    }
    const failure = { status, message: message ?? DEFAULT_MESSAGES[status] ?? "Error." };
    this.#failures.set(api, { remaining: count, failure });
    return this;
  }

  /** Makes the next `count` calls to `api` send headers and a partial body, then hang. */
  stallBody(api: ApiName, count = 1): this {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`count must be >= 1`);
    this.#stalls.set(api, count);
    return this;
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
    this.#stalls.clear();
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
    const n = this.#stalls.get(api);
    if (!n) return false;
    if (n === 1) this.#stalls.delete(api);
    else this.#stalls.set(api, n - 1);
    return true;
  }

  /** Decides the answer to a refresh with a valid refresh token, counting successes. */
  refreshOutcome(): RefreshOutcome {
    if (this.#revoked) return "revoked";
    if (this.#reauthAfter !== undefined && this.#refreshes >= this.#reauthAfter) return "reauth";
    this.#refreshes++;
    return "ok";
  }
}
