/**
 * The one HTTP path under every call the gate makes to Google, whether google-auth-library makes
 * it (UserRefreshClient, Impersonated: through {@link GoogleTransport.gaxios}) or the gate does
 * (tokeninfo, Resource Manager, the service-account JWT exchange: through
 * {@link GoogleTransport.fetch}). It exists because the library, left alone, can wedge the gate:
 * its fetch has no deadline, so one hung refresh stays in its single-flight map forever and
 * every later caller joins it. Here every exchange, body included, is bounded and cancelled:
 *
 * - each exchange has its own deadline (`timeoutMs`) and reads the whole body inside it;
 * - {@link GoogleTransport.abort} cancels every exchange in flight (the gate calls it when a
 *   call's deadline passes, then throws the transport and its clients away);
 * - a connection that fails before any answer (reset, refused) is retried once at once, within
 *   the same deadline: one blip costs nothing;
 * - gaxios' own retries are off: their back-off timers cannot be cancelled, and the gate decides
 *   what to retry;
 * - 2xx answers of the token APIs are checked (google_answers.ts) before the library sees them.
 * @module
 */
import { gaxios } from "google-auth-library";
import { DeadlineError } from "../http/deadline_fetch.ts";
import { checkGoogleAnswer, GoogleAnswerError } from "./google_answers.ts";

/** Largest answer body read from Google; its token answers are a few KB. */
export const MAX_ANSWER_BYTES = 1024 * 1024;

/** Statuses whose responses carry no body (`new Response` refuses one). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** Raised when the transport was aborted under an exchange (another call's deadline passed). */
export class TransportAbortedError extends Error {
  constructor() {
    super("the connection to Google was dropped by the gate after another call timed out");
    this.name = "TransportAbortedError";
  }
}

/** Options of {@link GoogleTransport}. */
export interface GoogleTransportOptions {
  /** Deadline of one exchange, connect to last body byte. */
  timeoutMs: number;
  /** The gate's clock, to check that an answer's expiry lies in the future. */
  now: () => number;
  /** Injected fetch (tests). */
  fetchFn?: typeof fetch;
}

/** A cancellable, bounded HTTP transport for one generation of Google clients. */
export class GoogleTransport {
  readonly #controller = new AbortController();
  readonly #options: GoogleTransportOptions;
  /** The gaxios instance to hand google-auth-library clients as `transporter`. */
  readonly gaxios: gaxios.Gaxios;

  constructor(options: GoogleTransportOptions) {
    this.#options = options;
    this.gaxios = new gaxios.Gaxios({ fetchImplementation: this.fetch });
    this.gaxios.interceptors.request.add({
      resolved: (config: gaxios.GaxiosOptionsPrepared) => {
        config.retry = false;
        config.retryConfig = { ...config.retryConfig, retry: 0, noResponseRetries: 0 };
        return Promise.resolve(config);
      },
    });
    this.gaxios.interceptors.response.add({
      resolved: (res: gaxios.GaxiosResponse) => {
        try {
          checkGoogleAnswer(res.config.url, res.status, res.data, options.now());
          return Promise.resolve(res);
        } catch (err) {
          return Promise.reject(err);
        }
      },
    });
  }

  /** Aborted once {@link abort} has been called. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Cancels every exchange in flight and every later one; `reason` is what they reject with. */
  abort(reason: Error = new TransportAbortedError()): void {
    this.#controller.abort(reason);
  }

  /**
   * A fetch whose exchange (headers and whole body) ends within the deadline, aborts with the
   * transport, and retries once when the connection fails before any answer. The returned
   * Response holds the body in memory, so nothing is left to stall after it resolves.
   */
  readonly fetch = async (input: string | URL | Request, init: RequestInit = {}) => {
    const { timeoutMs } = this.#options;
    const fetchFn = this.#options.fetchFn ?? fetch;
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new DeadlineError("waiting for Google", timeoutMs)),
      timeoutMs,
    );
    const signals = [deadline.signal, this.#controller.signal];
    if (init.signal) signals.push(init.signal);
    const signal = AbortSignal.any(signals);
    try {
      for (let attempt = 0;; attempt++) {
        let answered = false;
        try {
          signal.throwIfAborted(); // an aborted transport starts nothing
          const res = await fetchFn(input, { ...init, signal });
          answered = true;
          const body = NULL_BODY.has(res.status) ? null : await readCapped(res);
          return new Response(body, {
            status: res.status,
            statusText: res.statusText,
            headers: res.headers,
          });
        } catch (err) {
          if (signal.aborted) throw signal.reason ?? err;
          // A failure before any answer (reset, refused, TLS) with the deadline still open:
          // once more on a new connection. A body cut short after the headers is not retried.
          if (attempt === 0 && !answered && err instanceof TypeError && isReplayable(init.body)) {
            continue;
          }
          throw err;
        }
      }
    } finally {
      clearTimeout(timer);
    }
  };
}

/** The whole body, or a GoogleAnswerError once it passes {@link MAX_ANSWER_BYTES}. */
async function readCapped(res: Response): Promise<Uint8Array<ArrayBuffer>> {
  if (!res.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.length;
    if (size > MAX_ANSWER_BYTES) {
      await res.body.cancel().catch(() => {});
      throw new GoogleAnswerError("HTTP", `is larger than ${MAX_ANSWER_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** Whether a request body can be sent twice (streams cannot). */
function isReplayable(body: BodyInit | null | undefined): boolean {
  return body === undefined || body === null || typeof body === "string" ||
    body instanceof URLSearchParams || body instanceof Uint8Array || body instanceof ArrayBuffer ||
    body instanceof Blob || body instanceof FormData;
}
