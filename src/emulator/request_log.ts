/**
 * Per-API call counters and a request log for tests. Entries hold the method, the path without
 * its query, the status and the caller's email: never a token, secret, key or request body.
 * @module
 */
import type { ApiName } from "./api_names.ts";
import type { Malformation } from "./faults.ts";

/** One answered request. */
export interface RequestLogEntry {
  /** Emulator clock time, RFC 3339. */
  at: string;
  api: ApiName | "unknown";
  method: string;
  /** URL path only: query strings can carry tokens (tokeninfo) and are never kept. */
  path: string;
  /** The answer's status; 0 when the client got none (the reset and hang faults). */
  status: number;
  /** Email of the authenticated caller or the subject of the grant, when known. */
  principal?: string;
  /** The injected fault that shaped the answer, if any. */
  fault?: "fail" | "stall" | "latency" | "reset" | "hang" | "bad_json" | "slow_body" | Malformation;
}

/** Counts and records requests. */
export class RequestLog {
  readonly #counts = new Map<string, number>();
  readonly #entries: RequestLogEntry[] = [];
  readonly #onEntry?: (entry: RequestLogEntry) => void;

  constructor(onEntry?: (entry: RequestLogEntry) => void) {
    this.#onEntry = onEntry;
  }

  /** Counts one call to `api` (at arrival, so failed and stalled calls count too). */
  count(api: ApiName | "unknown"): void {
    this.#counts.set(api, (this.#counts.get(api) ?? 0) + 1);
  }

  /** Appends an entry once the response status is known. */
  record(entry: RequestLogEntry): void {
    this.#entries.push(entry);
    this.#onEntry?.(entry);
  }

  /** Calls to `api` so far, or to every API when omitted. */
  calls(api?: ApiName | "unknown"): number {
    if (api !== undefined) return this.#counts.get(api) ?? 0;
    let n = 0;
    for (const v of this.#counts.values()) n += v;
    return n;
  }

  /** A copy of the log. */
  entries(): RequestLogEntry[] {
    return this.#entries.map((e) => ({ ...e }));
  }

  /** Forgets counts and entries. */
  reset(): void {
    this.#counts.clear();
    this.#entries.length = 0;
  }
}
