/**
 * ETags and `wait_for_change`: a hanging GET returns when the value's ETag moves, when its
 * `timeout_sec` passes, when the client goes away, or when the server stops.
 * @module
 */
import { fnv1a64Hex } from "./fnv.ts";
import { HttpError } from "../errors.ts";

/** GCE's ETag: 16 lowercase hex characters, unquoted (here the body's FNV-1a 64-bit digest). */
export function etagOf(body: string): string {
  return fnv1a64Hex(body);
}

/** Strips the quoting or `W/` a client may have added to an ETag it echoes back. */
export function bareEtag(etag: string): string {
  return etag.trim().replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
}

/** Runs `fn` after `ms`; returns a cancel function. Injected so tests move time by hand. */
export interface Scheduler {
  after(ms: number, fn: () => void): () => void;
}

/** The real timer. */
export const timerScheduler: Scheduler = {
  after(ms, fn) {
    const id = setTimeout(fn, ms);
    return () => clearTimeout(id);
  },
};

/** Tells waiters that some value may have changed. */
export class ChangeFeed {
  readonly #listeners = new Set<() => void>();

  /** Calls `fn` on every change until the returned function is called. */
  subscribe(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Announces a change. */
  notify(): void {
    for (const fn of [...this.#listeners]) fn();
  }
}

/** One hanging request. */
export interface WaitRequest {
  /** The ETag the client last saw; absent means "wait for the next change". */
  lastEtag?: string;
  /** How long to hang before answering with the current value. */
  timeoutMs: number;
  /** The current ETag of the requested value (recomputed after each change). */
  current: () => Promise<string>;
  /** Aborts when the client disconnects. */
  signal?: AbortSignal;
}

/** Options for {@link ChangeWaits}. */
export interface ChangeWaitsOptions {
  feed: ChangeFeed;
  scheduler?: Scheduler;
  /** Most concurrent hanging requests; more get 429. */
  maxWaiters?: number;
  /** Aborting releases every waiter (server shutdown must not wait for hanging GETs). */
  stop?: AbortSignal;
}

/** Default cap on concurrent hanging requests. */
export const DEFAULT_MAX_WAITERS = 256;

/** Bounded `wait_for_change` bookkeeping shared by every request of one app. */
export class ChangeWaits {
  readonly #feed: ChangeFeed;
  readonly #scheduler: Scheduler;
  readonly #max: number;
  readonly #stop?: AbortSignal;
  #active = 0;

  constructor(options: ChangeWaitsOptions) {
    this.#feed = options.feed;
    this.#scheduler = options.scheduler ?? timerScheduler;
    this.#max = options.maxWaiters ?? DEFAULT_MAX_WAITERS;
    this.#stop = options.stop;
  }

  /** How many requests are hanging now. */
  get active(): number {
    return this.#active;
  }

  /**
   * Resolves when the value's ETag differs from `lastEtag` (at once if it already does), or on
   * timeout, client disconnect or stop; the caller then answers with the current value.
   */
  async wait(request: WaitRequest): Promise<void> {
    const first = await request.current();
    const baseline = request.lastEtag === undefined ? first : bareEtag(request.lastEtag);
    if (baseline !== first || request.timeoutMs <= 0) return;
    if (this.#stop?.aborted || request.signal?.aborted) return;
    if (this.#active >= this.#max) {
      throw new HttpError(429, "too many wait_for_change requests are pending; retry later");
    }
    this.#active++;
    try {
      await new Promise<void>((resolve) => {
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          unsubscribe();
          cancelTimer();
          request.signal?.removeEventListener("abort", finish);
          this.#stop?.removeEventListener("abort", finish);
          resolve();
        };
        const unsubscribe = this.#feed.subscribe(() => {
          request.current().then(
            (etag) => {
              if (etag !== baseline) finish();
            },
            // A value that cannot be computed now is answered (with its error) by the caller.
            finish,
          );
        });
        const cancelTimer = this.#scheduler.after(request.timeoutMs, finish);
        request.signal?.addEventListener("abort", finish, { once: true });
        this.#stop?.addEventListener("abort", finish, { once: true });
      });
    } finally {
      this.#active--;
    }
  }
}
