/** A response whose body has been read in full within the deadline. */
export interface ReadResponse {
  status: number;
  ok: boolean;
  headers: Headers;
  text: string;
}

/** Options for {@link fetchWithDeadline}. */
export interface DeadlineFetchOptions extends RequestInit {
  /** Milliseconds for the whole exchange: connect, headers and body. */
  timeoutMs: number;
  /** Words for the timeout message, e.g. "calling iamcredentials". */
  what: string;
  /** Injected fetch (tests, unix-socket clients). */
  fetchFn?: typeof fetch;
  /** A Deno HTTP client (unix socket or mTLS). */
  client?: Deno.HttpClient;
}

/** Raised when a deadline passes; its message names what was waited for, never a URL's query. */
export class DeadlineError extends Error {
  constructor(what: string, timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms while ${what}`);
    this.name = "DeadlineError";
  }
}

/**
 * Fetches and reads the body under one deadline, so a server that sends headers and then stalls
 * cannot hold the caller. The caller's own signal (client gone) also aborts.
 */
export function fetchWithDeadline(
  url: string | URL,
  options: DeadlineFetchOptions,
): Promise<ReadResponse> {
  const { timeoutMs, what, fetchFn = fetch, client, signal, ...init } = options;
  return runWithDeadline({ timeoutMs, what, signal: signal ?? undefined }, async (bounded) => {
    const requestInit: RequestInit & { client?: Deno.HttpClient } = { ...init, signal: bounded };
    if (client) requestInit.client = client;
    const res = await fetchFn(url, requestInit);
    const text = await res.text();
    return { status: res.status, ok: res.ok, headers: res.headers, text };
  });
}

/** The bound of {@link runWithDeadline}. */
export interface DeadlineOptions {
  /** Milliseconds for the whole of the work. */
  timeoutMs: number;
  /** Words for the timeout message. */
  what: string;
  /** The caller's cancellation; aborts the work too, and its error is rethrown as is. */
  signal?: AbortSignal;
}

/**
 * Runs `work` with a signal that aborts when `timeoutMs` passes or the caller's signal aborts, so
 * the work is cancelled, not abandoned. A deadline that passed is a {@link DeadlineError}; any
 * other failure (the caller's abort included) is rethrown as the work raised it.
 */
export async function runWithDeadline<T>(
  options: DeadlineOptions,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const { timeoutMs, what, signal: outer } = options;
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onOuterAbort = () => controller.abort();
  if (outer?.aborted) controller.abort();
  outer?.addEventListener("abort", onOuterAbort, { once: true });
  try {
    return await work(controller.signal);
  } catch (err) {
    if (timedOut) throw new DeadlineError(what, timeoutMs);
    throw err;
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener("abort", onOuterAbort);
  }
}

/** Rejects with {@link DeadlineError} if `promise` does not settle within `timeoutMs`. */
export function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(what, timeoutMs)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
