/**
 * A minimal HTTP/1.1 GET over `Deno.connect`, for kube-token: kubectl starts it on every call,
 * and at start-up Deno's `fetch` costs about 10 ms and a first `setTimeout` about 5 ms. A plain
 * socket and an `Atomics.waitAsync` deadline cost neither. The metadata host is plain HTTP.
 * @module
 */
import { decodeChunked, Http1SyntaxError, indexOfHeadEnd } from "./http1.ts";

/** A response read in full. */
export interface HttpAnswer {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Raised when the deadline passes before the whole response has arrived. */
export class HttpDeadlineError extends Error {
  constructor(what: string, timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms while ${what}`);
    this.name = "HttpDeadlineError";
  }
}

/** Raised for a response that is not well-formed HTTP/1.1. */
export class HttpProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HttpProtocolError";
  }
}

/** Largest response accepted: a token answer is a few hundred bytes. */
const MAX_RESPONSE = 1 << 20;

/**
 * Resolves to "timed-out" after `ms` without a timer (a first timer costs ~5 ms at start-up).
 * The pending socket operation keeps the event loop alive meanwhile; `cancel` releases it.
 */
function deadline(ms: number): { expired: Promise<"timed-out">; cancel(): void } {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const wait = Atomics.waitAsync(cell, 0, 0, ms);
  const expired = wait.async ? wait.value.then(() => "timed-out" as const) : Promise.resolve(
    "timed-out" as const,
  );
  return { expired, cancel: () => void Atomics.notify(cell, 0) };
}

/** Splits `host[:port]` (IPv6 in brackets) into a connect address; port 80 by default. */
export function splitHostPort(host: string): { hostname: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host);
  if (!m) throw new HttpProtocolError(`bad host ${JSON.stringify(host)}`);
  const hostname = m[1].startsWith("[") ? m[1].slice(1, -1) : m[1];
  return { hostname, port: m[2] ? Number(m[2]) : 80 };
}

/**
 * GETs `path` from `host` with `Connection: close`, reading the whole response (headers and body)
 * within `timeoutMs`. `what` words the timeout message.
 */
export function httpGet(
  host: string,
  path: string,
  headers: Record<string, string>,
  timeoutMs: number,
  what: string,
): Promise<HttpAnswer> {
  const { hostname, port } = splitHostPort(host);
  return httpGetVia(() => Deno.connect({ hostname, port }), host, path, headers, timeoutMs, what);
}

/**
 * GETs `path` over the connection `connect` opens (TCP or a Unix socket), sending `hostHeader`,
 * reading the whole response within `timeoutMs` (connect included).
 */
export async function httpGetVia(
  connect: () => Promise<Deno.Conn>,
  hostHeader: string,
  path: string,
  headers: Record<string, string>,
  timeoutMs: number,
  what: string,
): Promise<HttpAnswer> {
  const limit = deadline(timeoutMs);
  let conn: Deno.Conn | undefined;
  const exchange = (async () => {
    conn = await connect();
    const lines = [`GET ${path} HTTP/1.1`, `Host: ${hostHeader}`, "Connection: close"];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    const request = new TextEncoder().encode(`${lines.join("\r\n")}\r\n\r\n`);
    for (let sent = 0; sent < request.length;) sent += await conn.write(request.subarray(sent));
    return await readResponse(conn);
  })();
  try {
    const outcome = await Promise.race([exchange, limit.expired]);
    if (outcome === "timed-out") throw new HttpDeadlineError(what, timeoutMs);
    return outcome;
  } finally {
    limit.cancel();
    try {
      conn?.close();
    } catch { /* already closed */ }
    exchange.catch(() => {});
  }
}

async function readResponse(conn: Deno.Conn): Promise<HttpAnswer> {
  let data = new Uint8Array(4096);
  let length = 0;
  for (;;) {
    if (length === data.length) {
      if (data.length >= MAX_RESPONSE) throw new HttpProtocolError("response too large");
      const bigger = new Uint8Array(data.length * 2);
      bigger.set(data);
      data = bigger;
    }
    const n = await conn.read(data.subarray(length));
    if (n !== null) length += n;
    const answer = parseResponse(data.subarray(0, length), n === null);
    if (answer) return answer;
    if (n === null) {
      throw new HttpProtocolError("connection closed before the response was complete");
    }
  }
}

/**
 * Parses a complete response from `bytes`, or returns undefined when more bytes are needed.
 * `ended` says the peer closed, which completes a body that has neither length nor chunking.
 */
export function parseResponse(bytes: Uint8Array, ended: boolean): HttpAnswer | undefined {
  const headEnd = indexOfHeadEnd(bytes);
  if (headEnd < 0) return undefined;
  const head = new TextDecoder().decode(bytes.subarray(0, headEnd));
  const [statusLine, ...fieldLines] = head.split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(statusLine);
  if (!m) throw new HttpProtocolError("the answer is not HTTP/1.1");
  const headers = new Map<string, string>();
  for (const line of fieldLines) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new HttpProtocolError("malformed response header");
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const rest = bytes.subarray(headEnd + 4);
  const status = Number(m[1]);
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  if (/\bchunked\b/i.test(headers.get("transfer-encoding") ?? "")) {
    const body = dechunk(rest);
    return body ? { status, headers, body: decode(body) } : undefined;
  }
  const declared = headers.get("content-length");
  if (declared !== undefined) {
    if (!/^\d+$/.test(declared)) throw new HttpProtocolError("malformed content-length");
    const size = Number(declared);
    return rest.length >= size
      ? { status, headers, body: decode(rest.subarray(0, size)) }
      : undefined;
  }
  if (status === 204 || status === 304) return { status, headers, body: "" };
  return ended ? { status, headers, body: decode(rest) } : undefined;
}

/** Decodes a complete chunked body with the shared codec, or undefined while incomplete. */
function dechunk(bytes: Uint8Array): Uint8Array | undefined {
  try {
    return decodeChunked(bytes)?.body;
  } catch (err) {
    if (err instanceof Http1SyntaxError) throw new HttpProtocolError(err.message);
    throw err;
  }
}
