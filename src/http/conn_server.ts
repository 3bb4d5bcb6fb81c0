/**
 * An HTTP/1.1 server over connections we accept ourselves. `Deno.serve` accepts inside the
 * runtime and tells a handler nothing about the Unix-socket peer; the gate needs to look at each
 * connection right after `accept` and before the next one (see src/gate/peer_kernel.ts), so it
 * runs its own accept loop and serves HTTP here, then hands each request to a Hono-style
 * `fetch(request, env)` with the connection's `env`.
 *
 * What a client gets (and what a hostile one cannot do):
 * - keep-alive and pipelining (answered in order), Content-Length and chunked request bodies up
 *   to `maxBodyBytes` (413 beyond), `Expect: 100-continue`;
 * - bodies of requests under `streamBodyPrefix` (the gate's routed calls) are NOT read whole: the
 *   handler gets them as a stream, read from the connection as it pulls (each wait for more bytes
 *   bounded by `bodyTimeoutMs`, no `maxBodyBytes` cap: the handler enforces its own), and the
 *   connection is reused only when the handler consumed the whole body;
 * - a bounded wait for the first byte (idle), for the rest of the headers (408) and for the body
 *   (408): a request whose body never completes is dropped and never reaches the handler;
 * - at most `maxHeaderBytes` of head and `maxHeaderCount` fields (431), strict request line and
 *   field syntax, and no Content-Length together with Transfer-Encoding (400: request smuggling);
 * - `request.signal` aborts when the client disconnects, a write stalls past `writeTimeoutMs`, or
 *   the server closes past its grace period, so long-held work is dropped with its requester;
 * - response bodies are streamed as they are produced, so held streams work: with the
 *   handler's Content-Length when it declares a valid one (held to it exactly: a body longer or
 *   shorter closes the connection), chunked otherwise; what the body produced during one write
 *   goes out together in the next (one write deadline per write, not per piece);
 * - at most `maxConnections` at once (503 beyond); `close(grace)` stops accepting, closes idle
 *   connections, gives in-flight requests the grace period, then aborts and closes the rest.
 * @module
 */
import type { Timers } from "../gate/confirm/timers.ts";
import { realTimers } from "../gate/confirm/timers.ts";
import {
  decodeChunked,
  Http1SyntaxError,
  indexOfHeadEnd,
  parseFieldLines,
  TOKEN,
} from "./http1.ts";

/** Limits and deadlines of a {@link serveConnections} server; every field has a default. */
export interface ConnServerLimits {
  /** Longest wait for the first byte of a request on an open connection (then it is closed). */
  idleTimeoutMs: number;
  /** Longest wait for the rest of a request's head once its first byte came (then 408). */
  headerTimeoutMs: number;
  /** Longest wait for a request's whole body once its head came (then 408; never dispatched). */
  bodyTimeoutMs: number;
  /** Longest a single write of the response may take before the client is dropped. */
  writeTimeoutMs: number;
  maxHeaderBytes: number;
  maxHeaderCount: number;
  maxBodyBytes: number;
  maxConnections: number;
  /** Requests whose path starts with this get their body as a stream (see the module doc). */
  streamBodyPrefix?: string;
}

/** Defaults: generous for real clients, small enough that a stalled one cannot hold much. */
export const DEFAULT_LIMITS: ConnServerLimits = {
  // Longer than HTTP clients' pool idle timeout (hyper's 90 s, which Deno's fetch uses), so the
  // client drops an idle connection first and never reuses one we are closing.
  idleTimeoutMs: 120_000,
  headerTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
  writeTimeoutMs: 30_000,
  maxHeaderBytes: 16 * 1024,
  maxHeaderCount: 100,
  maxBodyBytes: 1024 * 1024,
  maxConnections: 256,
};

/** What each accepted connection brings to its requests. */
export interface AcceptedConnection<E> {
  /** Handed to every request on the connection as the handler's second argument. */
  env: E;
  /** Called once when the connection is gone. */
  closed?: () => void;
}

/** Options of {@link serveConnections}. */
export interface ConnServerOptions<E> {
  /**
   * Runs right after each `accept` and before the next one (so the server accepts one
   * connection at a time while it runs). It must not throw; it should be quick and bounded.
   */
  accepted: (conn: Deno.Conn) => Promise<AcceptedConnection<E>> | AcceptedConnection<E>;
  limits?: Partial<ConnServerLimits>;
  timers?: Timers;
  /** Told about unexpected failures (never request data); defaults to silence. */
  onError?: (what: string, err: unknown) => void;
}

/** A running {@link serveConnections} server. */
export interface ConnServer {
  /** Stops accepting, closes idle connections, waits up to `graceMs`, then drops the rest. */
  close(graceMs?: number): Promise<void>;
  /** Open connections (for tests and health). */
  readonly connections: number;
  /** Settles when the accept loop has ended. */
  readonly finished: Promise<void>;
}

/** The handler: a Hono app's `fetch` fits. */
export type ConnHandler<E> = (request: Request, env: E) => Response | Promise<Response>;

const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  413: "Content Too Large",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

const encoder = new TextEncoder();

/** Serves HTTP/1.1 on every connection `listener` accepts, until {@link ConnServer.close}. */
export function serveConnections<E>(
  listener: Deno.Listener,
  handler: ConnHandler<E>,
  options: ConnServerOptions<E>,
): ConnServer {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const timers = options.timers ?? realTimers;
  const onError = options.onError ?? (() => {});
  const live = new Set<Connection<E>>();
  let closing = false;

  const finished = (async () => {
    while (!closing) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (closing || err instanceof Deno.errors.BadResource) break;
        onError("accept", err);
        await new Promise<void>((r) => timers.setTimeout(r, 50));
        continue;
      }
      if (closing) {
        safeClose(conn);
        break;
      }
      if (live.size >= limits.maxConnections) {
        void refuse(conn, 503, "too many connections", limits, timers);
        continue;
      }
      let accepted: AcceptedConnection<E>;
      try {
        accepted = await options.accepted(conn);
      } catch (err) {
        onError("accepted hook", err);
        safeClose(conn);
        continue;
      }
      const c = new Connection(conn, accepted, handler, limits, timers, onError);
      live.add(c);
      c.done.then(() => {
        live.delete(c);
        try {
          accepted.closed?.();
        } catch (err) {
          onError("closed hook", err);
        }
      });
    }
  })();

  return {
    get connections() {
      return live.size;
    },
    finished,
    async close(graceMs = 250) {
      closing = true;
      try {
        listener.close();
      } catch { /* already closed */ }
      await finished;
      for (const c of live) c.closeIfIdle();
      const settle = async () => {
        if (live.size === 0) return;
        let cancel = () => {};
        const grace = new Promise<void>((r) => (cancel = timers.setTimeout(r, graceMs)));
        await Promise.race([Promise.all([...live].map((c) => c.done)), grace]);
        cancel();
      };
      await settle();
      // Past the grace period: abort the work, close the sockets, and wait once more (bounded:
      // a handler that ignores its abort signal cannot hold the shutdown).
      for (const c of live) c.drop("the server is shutting down");
      await settle();
    },
  };
}

function safeClose(conn: Deno.Conn) {
  try {
    conn.close();
  } catch { /* already closed */ }
}

/** Answers `status` on a connection we will not serve, then closes it (bounded). */
async function refuse(
  conn: Deno.Conn,
  status: number,
  message: string,
  limits: ConnServerLimits,
  timers: Timers,
) {
  const cancel = timers.setTimeout(() => safeClose(conn), limits.writeTimeoutMs);
  try {
    await writeAll(conn, errorBytes(status, message));
  } catch { /* gone */ }
  cancel();
  safeClose(conn);
}

function errorBytes(status: number, message: string): Uint8Array {
  const body = encoder.encode(JSON.stringify({ error: message }) + "\n");
  const head = `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\n` +
    `content-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`;
  return join([encoder.encode(head), body]);
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array) {
  for (let sent = 0; sent < bytes.length;) sent += await conn.write(bytes.subarray(sent));
}

/** How far a response body is read ahead of the socket (and the most one write carries). */
const WRITE_BATCH_BYTES = 256 * 1024;

/**
 * One write's bytes: the response head still unsent (if any), then `parts` (`bytes` long in all)
 * as one chunk of a chunked body (size line, data, CRLF) or as they are.
 */
function frame(
  head: Uint8Array | undefined,
  parts: Uint8Array[],
  bytes: number,
  chunked: boolean,
): Uint8Array {
  if (!head && !chunked && parts.length === 1) return parts[0];
  const size = chunked ? encoder.encode(bytes.toString(16) + "\r\n") : new Uint8Array(0);
  const out = new Uint8Array((head?.length ?? 0) + size.length + bytes + (chunked ? 2 : 0));
  let o = 0;
  for (const p of [head ?? new Uint8Array(0), size, ...parts]) {
    out.set(p, o);
    o += p.length;
  }
  if (chunked) out.set([13, 10], o);
  return out;
}

/** A response's Content-Length when it is one well-formed value, else undefined (then chunked). */
function declaredLength(headers: Headers): number | undefined {
  const v = headers.get("content-length");
  if (v === null || !/^\d{1,15}$/.test(v.trim())) return undefined;
  return Number(v.trim());
}

function join(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A parsed request head. */
interface Head {
  method: string;
  target: string;
  http10: boolean;
  headers: Headers;
  /** "none", a byte count, or chunked. */
  framing: number | "chunked";
  keepAlive: boolean;
  expectContinue: boolean;
  /** The body is handed over as a stream (`streamBodyPrefix`), not read whole first. */
  streamed: boolean;
}

function parseHead(text: string, limits: ConnServerLimits): Head {
  const [requestLine, ...fieldLines] = text.split("\r\n");
  const m = /^([^ ]+) ([^ ]+) HTTP\/(\d)\.(\d)$/.exec(requestLine);
  if (!m) throw new Http1SyntaxError("malformed request line");
  const [, method, target, major, minor] = m;
  if (!TOKEN.test(method)) throw new Http1SyntaxError("malformed method");
  if (major !== "1") throw new Http1SyntaxError("only HTTP/1.x is served", 505);
  // Origin form ("/path?q"), or absolute form ("http://host/path?q", as clients that treat the
  // socket as a proxy send it), reduced to the path; anything else is refused.
  const absolute = /^https?:\/\/[^/?#\s]*/i.exec(target);
  const path = absolute ? target.slice(absolute[0].length) || "/" : target;
  // deno-lint-ignore no-control-regex
  if (!path.startsWith("/") || /[\x00-\x20\x7f#]/.test(path)) {
    throw new Http1SyntaxError("the request target must be an absolute path");
  }
  if (fieldLines.length > limits.maxHeaderCount) {
    throw new Http1SyntaxError("too many header fields", 431);
  }
  const streamed = limits.streamBodyPrefix !== undefined &&
    path.startsWith(limits.streamBodyPrefix);
  const fields = parseFieldLines(fieldLines);
  const headers = new Headers();
  const lengths = new Set<string>();
  let transferEncoding: string | undefined;
  for (const [name, value] of fields) {
    if (name === "content-length") {
      for (const v of value.split(",")) lengths.add(v.trim());
    } else if (name === "transfer-encoding") {
      transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
    }
    try {
      headers.append(name, value);
    } catch {
      throw new Http1SyntaxError("a header value is not acceptable");
    }
  }
  const http10 = minor === "0";
  let framing: number | "chunked" = 0;
  if (transferEncoding !== undefined) {
    if (lengths.size > 0) {
      throw new Http1SyntaxError("Content-Length and Transfer-Encoding together are refused");
    }
    if (http10 || transferEncoding.trim().toLowerCase() !== "chunked") {
      throw new Http1SyntaxError("only Transfer-Encoding: chunked is accepted", 501);
    }
    framing = "chunked";
  } else if (lengths.size > 1) {
    throw new Http1SyntaxError("conflicting Content-Length values");
  } else if (lengths.size === 1) {
    const [v] = lengths;
    if (!/^\d{1,15}$/.test(v)) throw new Http1SyntaxError("malformed Content-Length");
    framing = Number(v);
    if (framing > limits.maxBodyBytes && !streamed) {
      throw new Http1SyntaxError("the body is too large", 413);
    }
  }
  const connection = (headers.get("connection") ?? "").toLowerCase();
  const keepAlive = http10 ? /\bkeep-alive\b/.test(connection) : !/\bclose\b/.test(connection);
  const expectContinue = !http10 &&
    (headers.get("expect") ?? "").toLowerCase() === "100-continue";
  return { method, target: path, http10, headers, framing, keepAlive, expectContinue, streamed };
}

/** A request body handed to the handler as a stream. */
interface StreamedBody {
  stream: ReadableStream<Uint8Array>;
  /** Whether it was read to its end. */
  complete: boolean;
}

/** Index of the first CRLF in `buf[0..len)`, or -1. */
function crlfAt(buf: Uint8Array, len: number): number {
  for (let i = 0; i + 1 < len; i++) if (buf[i] === 13 && buf[i + 1] === 10) return i;
  return -1;
}

/** One accepted connection: reads requests in order, answers each, until either side ends it. */
class Connection<E> {
  readonly done: Promise<void>;
  #buf = new Uint8Array(4096);
  /** Where each socket read lands before it is appended to #buf (see #read). */
  readonly #scratch = new Uint8Array(16 * 1024);
  #len = 0;
  #pendingRead?: Promise<number | null>;
  #inFlight?: AbortController;
  #closed = false;

  constructor(
    readonly conn: Deno.Conn,
    readonly accepted: AcceptedConnection<E>,
    readonly handler: ConnHandler<E>,
    readonly limits: ConnServerLimits,
    readonly timers: Timers,
    readonly onError: (what: string, err: unknown) => void,
  ) {
    this.done = this.#serve().catch((err) => this.onError("connection", err)).finally(() =>
      this.#close()
    );
  }

  /** Closes the connection when no request is being handled. */
  closeIfIdle() {
    if (!this.#inFlight) this.#close();
  }

  /** Aborts the request in flight and closes the connection. */
  drop(reason: string) {
    this.#inFlight?.abort(new Error(reason));
    this.#close();
  }

  /** The body being streamed out, cancelled when the connection closes. */
  #streaming?: ReadableStreamDefaultReader<Uint8Array>;

  #close() {
    if (this.#closed) return;
    this.#closed = true;
    safeClose(this.conn);
    this.#streaming?.cancel().catch(() => {});
  }

  /** Reads more bytes into the buffer (one read at a time); null at end of stream or on error. */
  #read(): Promise<number | null> {
    if (!this.#pendingRead) {
      this.#pendingRead = (async () => {
        // Read into scratch and append when the read completes: a streamed body may consume
        // (shift) the buffer while this read is pending, so the read must not target an offset
        // fixed before it started (its bytes would land past #len, stale bytes in their place).
        try {
          const n = await this.conn.read(this.#scratch);
          if (n !== null) {
            if (this.#len + n > this.#buf.length) {
              const bigger = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + n));
              bigger.set(this.#buf.subarray(0, this.#len));
              this.#buf = bigger;
            }
            this.#buf.set(this.#scratch.subarray(0, n), this.#len);
            this.#len += n;
          }
          return n;
        } catch {
          return null;
        }
      })().finally(() => (this.#pendingRead = undefined));
    }
    return this.#pendingRead;
  }

  /**
   * Runs `work` under a deadline. When it passes, the connection is closed, after a bounded
   * attempt to answer `expiredStatus` when one is given (408 for a head or body that stalled).
   */
  async #within<T>(ms: number, what: string, work: () => Promise<T>, expiredStatus?: number) {
    const cancel = this.timers.setTimeout(() => {
      if (expiredStatus) void this.#answerError(expiredStatus, `the request ${what} timed out`);
      else this.#close();
    }, ms);
    try {
      return await work();
    } finally {
      cancel();
    }
  }

  #consume(n: number) {
    this.#buf.copyWithin(0, n, this.#len);
    this.#len -= n;
  }

  async #answerError(status: number, message: string) {
    if (this.#closed) return;
    try {
      await this.#within(
        this.limits.writeTimeoutMs,
        "write",
        () => writeAll(this.conn, errorBytes(status, message)),
      );
    } catch { /* gone */ }
    this.#close();
  }

  async #serve(): Promise<void> {
    while (!this.#closed) {
      // The head: first an idle wait for any byte, then a bounded wait for the whole head.
      if (this.#len === 0) {
        const n = await this.#within(this.limits.idleTimeoutMs, "idle", () => this.#read());
        if (n === null) return;
      }
      let headEnd = indexOfHeadEnd(this.#buf.subarray(0, this.#len));
      if (headEnd < 0) {
        const complete = await this.#within(this.limits.headerTimeoutMs, "head", async () => {
          for (;;) {
            if (this.#len > this.limits.maxHeaderBytes) return "too-large" as const;
            const before = this.#len;
            const n = await this.#read();
            if (n === null) return "ended" as const;
            headEnd = indexOfHeadEnd(this.#buf.subarray(0, this.#len), before - 3);
            if (headEnd >= 0) return "ok" as const;
          }
        }, 408);
        if (complete === "too-large") {
          return await this.#answerError(431, "the request head is too large");
        }
        if (complete === "ended") return;
      }
      if (headEnd + 4 > this.limits.maxHeaderBytes) {
        return await this.#answerError(431, "the request head is too large");
      }
      let head: Head;
      try {
        head = parseHead(
          new TextDecoder("utf-8", { fatal: true }).decode(this.#buf.subarray(0, headEnd)),
          this.limits,
        );
      } catch (err) {
        if (err instanceof Http1SyntaxError) {
          return await this.#answerError(err.status, err.message);
        }
        if (err instanceof TypeError) return await this.#answerError(400, "the head is not UTF-8");
        throw err;
      }
      this.#consume(headEnd + 4);

      if (head.streamed && head.framing !== 0) {
        if (!(await this.#dispatch(head, this.#bodyStream(head)))) return;
        continue;
      }
      // The body, whole, before the handler sees anything.
      const body = await this.#readBody(head);
      if (body === undefined) return;

      if (!(await this.#dispatch(head, body))) return;
    }
  }

  /** The whole body, or undefined when the connection was answered and must end. */
  async #readBody(head: Head): Promise<Uint8Array | undefined> {
    if (head.framing === 0) return new Uint8Array(0);
    const available = () => this.#buf.subarray(0, this.#len);
    const ready = (): Uint8Array | undefined => {
      if (head.framing === "chunked") {
        const d = decodeChunked(available(), this.limits.maxBodyBytes);
        if (!d) return undefined;
        const body = d.body.slice();
        this.#consume(d.consumed);
        return body;
      }
      if (this.#len < head.framing) return undefined;
      const body = this.#buf.slice(0, head.framing);
      this.#consume(head.framing);
      return body;
    };
    try {
      const now = ready();
      if (now) return now;
      if (head.expectContinue) {
        await this.#within(
          this.limits.writeTimeoutMs,
          "write",
          () => writeAll(this.conn, encoder.encode("HTTP/1.1 100 Continue\r\n\r\n")),
        );
      }
      // Undefined when the client ended or stalled: the socket is shut and nothing is dispatched.
      // Chunk framing (size lines, extensions, trailers) may not inflate what we buffer: the raw
      // bytes of a body are capped too, not only its decoded size.
      const rawCap = 2 * this.limits.maxBodyBytes + this.limits.maxHeaderBytes;
      return await this.#within(this.limits.bodyTimeoutMs, "body", async () => {
        for (;;) {
          const n = await this.#read();
          const got = ready();
          if (got) return got;
          if (n === null) return undefined;
          if (this.#len > rawCap) throw new Http1SyntaxError("the body is too large", 413);
        }
      }, 408);
    } catch (err) {
      if (err instanceof Http1SyntaxError) {
        await this.#answerError(err.status, err.message);
        return undefined;
      }
      throw err;
    }
  }

  /**
   * A streamed request body: bytes are taken from the connection as the handler pulls them,
   * de-chunked incrementally; each wait for more bytes is bounded by `bodyTimeoutMs`. `complete`
   * says whether it was read to its end (else the connection cannot carry another request).
   */
  #bodyStream(head: Head): StreamedBody {
    let phase: "size" | "data" | "crlf" | "trailers" | "done" = head.framing === "chunked"
      ? "size"
      : "data";
    let remaining = head.framing === "chunked" ? 0 : head.framing;
    let continued = !head.expectContinue;
    const out: StreamedBody = { stream: undefined!, complete: false };
    const more = async () => {
      const n = await this.#within(this.limits.bodyTimeoutMs, "body", () => this.#read());
      if (n === null) throw new Http1SyntaxError("the request body ended early");
    };
    out.stream = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          if (!continued) {
            continued = true;
            if (this.#len === 0) {
              await this.#within(
                this.limits.writeTimeoutMs,
                "write",
                () => writeAll(this.conn, encoder.encode("HTTP/1.1 100 Continue\r\n\r\n")),
              );
            }
          }
          for (;;) {
            if (phase === "data") {
              if (this.#len === 0) {
                await more();
                continue;
              }
              const take = Math.min(this.#len, remaining);
              const chunk = this.#buf.slice(0, take);
              this.#consume(take);
              remaining -= take;
              if (remaining === 0) phase = head.framing === "chunked" ? "crlf" : "done";
              controller.enqueue(chunk);
              if (phase === "done") {
                out.complete = true;
                controller.close();
              }
              return;
            }
            if (phase === "crlf") {
              if (this.#len < 2) {
                await more();
                continue;
              }
              if (this.#buf[0] !== 13 || this.#buf[1] !== 10) {
                throw new Http1SyntaxError("a chunk is not followed by CRLF");
              }
              this.#consume(2);
              phase = "size";
              continue;
            }
            // "size" and "trailers" work on whole lines.
            const line = crlfAt(this.#buf, this.#len);
            if (line < 0) {
              if (this.#len > (phase === "size" ? 1024 : 8192)) {
                throw new Http1SyntaxError("a chunk size line or trailer is too long");
              }
              await more();
              continue;
            }
            const text = new TextDecoder().decode(this.#buf.subarray(0, line));
            this.#consume(line + 2);
            if (phase === "trailers") {
              if (line === 0) {
                phase = "done";
                out.complete = true;
                controller.close();
                return;
              }
              continue;
            }
            const sizeText = text.split(";")[0].trim();
            if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) {
              throw new Http1SyntaxError("malformed chunk size");
            }
            remaining = parseInt(sizeText, 16);
            phase = remaining === 0 ? "trailers" : "data";
          }
        } catch (err) {
          controller.error(err instanceof Http1SyntaxError ? err : new Error("body read failed"));
        }
      },
    }, { highWaterMark: 0 });
    return out;
  }

  /** Runs the handler and writes its answer; true when the connection may serve another request. */
  async #dispatch(head: Head, body: Uint8Array | StreamedBody): Promise<boolean> {
    const controller = new AbortController();
    this.#inFlight = controller;
    let responding = true;
    let ended = false;
    // Watch the connection while the handler runs: end of stream means the client is gone (or
    // half-closed: its work is aborted all the same, but an answer is still attempted).
    // Pipelined bytes are buffered (bounded), and read again after this answer.
    const cap = this.limits.maxHeaderBytes + this.limits.maxBodyBytes;
    void (async () => {
      while (responding && this.#len < cap) {
        const n = await this.#read();
        if (n === null) {
          ended = true;
          controller.abort(new Error("the client disconnected"));
          // A half-closed client may still read its answer, for a bounded time: a gone one
          // must not leave a stream that ignores the abort holding the connection.
          this.timers.setTimeout(() => this.#close(), this.limits.writeTimeoutMs);
          return;
        }
      }
    })();
    try {
      const hasBody = head.method !== "GET" && head.method !== "HEAD";
      let request: Request;
      try {
        const streamed = body instanceof Uint8Array ? undefined : body;
        request = new Request(`http://localhost${head.target}`, {
          method: head.method,
          headers: head.headers,
          body: streamed
            ? (hasBody ? streamed.stream : undefined)
            : (hasBody ? new Uint8Array(body as Uint8Array) : undefined),
          signal: controller.signal,
          // A streamed body needs half-duplex (Deno's RequestInit has no type for it).
          ...(streamed && hasBody ? { duplex: "half" } : {}),
        } as RequestInit);
      } catch {
        await this.#answerError(400, "the request is not acceptable");
        return false;
      }
      let response: Response;
      try {
        response = await this.handler(request, this.accepted.env);
      } catch (err) {
        this.onError("handler", err);
        response = new Response(JSON.stringify({ error: "internal error" }), {
          status: 500,
          headers: { "content-type": "application/json" },
        });
      }
      if (this.#closed) {
        await response.body?.cancel().catch(() => {});
        return false;
      }
      // A streamed body not read to its end when the answer starts means this connection closes.
      const bodyDone = () => body instanceof Uint8Array || body.complete;
      const reusable = (await this.#respond(head, response, controller, bodyDone)) && !ended;
      // A streamed body the handler left unread still sits on the connection: close it.
      return reusable && (body instanceof Uint8Array || body.complete);
    } finally {
      responding = false;
      this.#inFlight = undefined;
    }
  }

  async #respond(
    head: Head,
    response: Response,
    controller: AbortController,
    bodyDone: () => boolean = () => true,
  ): Promise<boolean> {
    const keepAlive = head.keepAlive && !head.http10 && bodyDone();
    const status = response.status;
    const noBody = head.method === "HEAD" || status === 204 || status === 304 ||
      (status >= 100 && status < 200);
    const lines = [`HTTP/1.1 ${status} ${REASONS[status] ?? (response.statusText || "Status")}`];
    for (const [name, value] of response.headers) {
      if (/^(connection|keep-alive|transfer-encoding|content-length)$/i.test(name)) continue;
      lines.push(`${name}: ${value}`);
    }
    // A body that declares its length is sent with it, byte for byte (no chunk framing to add),
    // and held to it: one byte more or fewer and the connection is closed, never reused.
    const declared = noBody || response.body === null
      ? undefined
      : declaredLength(response.headers);
    const chunked = !noBody && response.body !== null && !head.http10 && declared === undefined;
    if (noBody || response.body === null) {
      if (status !== 204 && status !== 304) lines.push("content-length: 0");
    } else if (declared !== undefined) lines.push(`content-length: ${declared}`);
    else if (chunked) lines.push("transfer-encoding: chunked");
    lines.push(keepAlive ? "connection: keep-alive" : "connection: close");
    const headBytes = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
    const write = (bytes: Uint8Array) =>
      this.#within(this.limits.writeTimeoutMs, "write", () => writeAll(this.conn, bytes));

    if (noBody || response.body === null) {
      await response.body?.cancel().catch(() => {});
      try {
        await write(headBytes);
      } catch {
        return false;
      }
      return keepAlive;
    }
    const reader = response.body.getReader();
    this.#streaming = reader;
    let pending: Uint8Array | undefined = headBytes;
    let sent = 0;
    // The body is read on its own (up to WRITE_BATCH_BYTES ahead) while the socket is written:
    // the producer (an upstream download) and the client work at once, and what piled up during
    // one write goes out in the next as one write (one chunk when chunked), not one per piece.
    const queue: Uint8Array[] = [];
    let queued = 0;
    let ended = false;
    let failure: unknown;
    let stopped = false;
    let wakeWriter: (() => void) | undefined;
    let wakeReader: (() => void) | undefined;
    const wake = () => {
      wakeWriter?.();
      wakeWriter = undefined;
    };
    void (async () => {
      try {
        while (!stopped) {
          if (queued >= WRITE_BATCH_BYTES) {
            await new Promise<void>((r) => (wakeReader = r));
            continue;
          }
          const { value, done } = await reader.read();
          if (done) break;
          if (value && value.length > 0) {
            queue.push(value);
            queued += value.length;
            wake();
          }
        }
      } catch (err) {
        failure = err ?? new Error("the response body failed");
      }
      ended = true;
      wake();
    })();
    try {
      for (;;) {
        if (queue.length === 0) {
          if (failure !== undefined) throw failure;
          if (ended) break;
          await new Promise<void>((r) => (wakeWriter = r));
          if (this.#closed) {
            await reader.cancel().catch(() => {});
            return false;
          }
          continue;
        }
        const parts = queue.splice(0, queue.length);
        const bytes = queued;
        queued = 0;
        wakeReader?.();
        wakeReader = undefined;
        sent += bytes;
        if (declared !== undefined && sent > declared) {
          // More than the declared length: what was sent is cut short, and the client sees it.
          this.onError("write", new Error("the response body is longer than its Content-Length"));
          controller.abort(new Error("the response body is longer than its Content-Length"));
          await reader.cancel().catch(() => {});
          this.#close();
          return false;
        }
        await write(frame(pending, parts, bytes, chunked));
        pending = undefined;
      }
      if (this.#closed) return false;
      if (declared !== undefined && sent < declared) {
        // Ended short of its declared length: only closing the connection tells the client.
        if (pending) await write(pending);
        this.#close();
        return false;
      }
      const tail = chunked ? encoder.encode("0\r\n\r\n") : new Uint8Array(0);
      const last = pending ? join([pending, tail]) : tail;
      if (last.length > 0) await write(last);
      return keepAlive;
    } catch (err) {
      // The client went away or stalled: stop producing, tell the handler's work.
      controller.abort(new Error("the response could not be delivered"));
      await reader.cancel().catch(() => {});
      if (!this.#closed && !(err instanceof Deno.errors.BrokenPipe)) this.onError("write", err);
      return false;
    } finally {
      stopped = true;
      wakeReader?.();
      this.#streaming = undefined;
    }
  }
}
