/**
 * The one gate client: every exchange the metadata proxy, with-prod and the admin commands have
 * with the gate goes through {@link GateApi}, over whichever {@link GateTransport} reaches it. It
 * owns the deadline (connect, head and body under one bound, cancelling the exchange), the mapping
 * of failures (unreachable, timed out, `{error, code}` answers, malformed answers) and the reading
 * of the wire's JSON, so the three callers keep only what is theirs (caching, held sessions,
 * printing). No error it raises carries a token or a session id: ids travel in paths it never
 * repeats, and an answer's text is only quoted from its `error` field.
 * @module
 */
import { HttpError } from "../errors.ts";
import { type ReadResponse, runWithDeadline } from "../http/deadline_fetch.ts";
import { readCapped } from "../http/read_capped.ts";
import type { ExpiringToken } from "../token_cache.ts";
import { type GateTransport, GateUnreachableError } from "./transport.ts";

/**
 * The most bytes of one answer the client reads (a token, a session, the pending list of at most a
 * few requests are a few KiB): a broken or hostile gate at a remote address cannot fill memory.
 */
export const MAX_ANSWER_BYTES = 1 << 20;

/** One bounded exchange. */
export interface CallOptions {
  method?: "GET" | "POST" | "DELETE";
  headers?: Record<string, string>;
  /** Milliseconds for the whole exchange: connect, head and body. */
  timeoutMs: number;
  /** Words for messages: "asking the gate for an access token". */
  what: string;
  /** The caller's cancellation (its own client went away); rethrown as is. */
  signal?: AbortSignal;
}

/** A parsed JSON object, or undefined when `text` is not one. */
export function jsonObject(text: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : undefined;
}

/**
 * The error for a non-2xx answer: the gate's own `{error, code}` with its status (and its
 * Retry-After, when it is a plain number of seconds, so nothing the gate did not mean is relayed),
 * or a 502 naming the status when the answer is not the gate's error shape.
 */
export function answerError(res: ReadResponse, what: string): HttpError {
  const body = jsonObject(res.text);
  if (body && typeof body.error === "string") {
    const code = typeof body.code === "string" ? body.code : undefined;
    const retryAfter = res.headers.get("retry-after");
    const headers = retryAfter && /^\d{1,6}$/.test(retryAfter)
      ? { "retry-after": retryAfter }
      : undefined;
    return new HttpError(res.status, body.error, code, { headers });
  }
  return new HttpError(502, `the gate answered ${res.status} while ${what}`);
}

/** The JSON object of a 2xx answer; a non-2xx answer is {@link answerError}, anything else a 502. */
export function answerObject(res: ReadResponse, what: string): Record<string, unknown> {
  if (!res.ok) throw answerError(res, what);
  const body = jsonObject(res.text);
  if (!body) throw new HttpError(502, `the gate's answer was not a JSON object while ${what}`);
  return body;
}

/** A non-empty string field of a gate answer, or a 502 naming it. */
export function stringField(body: Record<string, unknown>, name: string, what: string): string {
  const value = body[name];
  if (typeof value !== "string" || value === "") {
    throw new HttpError(502, `the gate's answer had no ${name} while ${what}`);
  }
  return value;
}

/**
 * The token of a token answer, dated from `arrivedAt` (when the answer arrived: `expires_in`
 * counts from then, so a gate slow to answer does not make its token look older than it is).
 * A missing `expires_in` is 3600 s, as gcp-authcalator's clients assume.
 */
export function tokenOf(
  body: Record<string, unknown>,
  arrivedAt: number,
  what: string,
): ExpiringToken {
  const accessToken = stringField(body, "access_token", what);
  const expiresIn = body.expires_in ?? 3600;
  if (typeof expiresIn !== "number" || !Number.isFinite(expiresIn) || expiresIn < 0) {
    throw new HttpError(502, `the gate's answer had an invalid expires_in while ${what}`);
  }
  return { accessToken, expiresAt: arrivedAt + expiresIn * 1000 };
}

/** The body of `res` as text, refusing (and cancelling) one longer than {@link MAX_ANSWER_BYTES}. */
async function boundedText(res: Response, what: string): Promise<string> {
  const bytes = await readCapped(res.body, MAX_ANSWER_BYTES);
  if (!bytes) {
    throw new HttpError(
      502,
      `the gate's answer was larger than ${MAX_ANSWER_BYTES} bytes while ${what}`,
    );
  }
  return new TextDecoder().decode(bytes);
}

/** The gate, over one transport. */
export class GateApi {
  readonly transport: GateTransport;

  constructor(transport: GateTransport) {
    this.transport = transport;
  }

  /** Where the gate is, for messages. */
  get where(): string {
    return this.transport.where;
  }

  /** The error for a gate that could not be reached while doing `what`. */
  unreachable(err: GateUnreachableError, what: string): GateUnreachableError {
    return new GateUnreachableError(err.reason, {
      message: `cannot reach ${this.where} (${err.reason}) while ${what}; ${this.transport.hint}`,
      cause: err,
    });
  }

  /**
   * Sends one request and reads its body whole, all within `timeoutMs` (the exchange is aborted
   * when it passes). Throws a DeadlineError, {@link GateUnreachableError} (its message names
   * the gate and the fix), or the caller's abort error when `signal` aborted.
   */
  call(path: string, options: CallOptions): Promise<ReadResponse> {
    const { timeoutMs, what, signal } = options;
    return runWithDeadline({ timeoutMs, what, signal }, async (bounded) => {
      try {
        const res = await this.transport.send({
          method: options.method ?? "GET",
          path,
          headers: options.headers,
          signal: bounded,
        });
        const text = await boundedText(res, what);
        return { status: res.status, ok: res.ok, headers: res.headers, text };
      } catch (err) {
        if (bounded.aborted) throw err; // the deadline or the caller: runWithDeadline says which
        if (err instanceof HttpError) throw err;
        if (err instanceof GateUnreachableError) throw this.unreachable(err, what);
        // The connection broke after the head arrived (the body did not come whole).
        throw this.unreachable(new GateUnreachableError("connection lost", { cause: err }), what);
      }
    });
  }

  /** {@link call}, then the answer's JSON object ({@link answerObject}). */
  async json(path: string, options: CallOptions): Promise<Record<string, unknown>> {
    return answerObject(await this.call(path, options), options.what);
  }

  /**
   * Sends one request and returns as soon as the head arrives, body unread (a held session's
   * NDJSON). `signal` must bound the whole exchange: the caller aborts it to end the stream.
   */
  async open(
    path: string,
    options: Omit<CallOptions, "timeoutMs" | "signal"> & { signal: AbortSignal },
  ): Promise<Response> {
    try {
      return await this.transport.send({
        method: options.method ?? "GET",
        path,
        headers: options.headers,
        signal: options.signal,
      });
    } catch (err) {
      if (err instanceof GateUnreachableError && !options.signal.aborted) {
        throw this.unreachable(err, options.what);
      }
      throw err;
    }
  }

  /** Releases the transport. */
  close(): void {
    this.transport.close();
  }
}
