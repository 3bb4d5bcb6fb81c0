/**
 * A raw HTTP/1.1 conversation over TCP or a Unix socket: send bytes exactly as given (in steps,
 * with pauses, optionally never finishing), read everything the server answers until it closes
 * or a bound passes, and parse the answers strictly. fetch cannot send malformed requests or
 * report how a connection ended, which is what the fuzz tests assert on.
 * @module
 */

/** Where to connect. */
export type Target =
  | { transport: "tcp"; port: number }
  | { transport: "unix"; path: string };

/** One step of what the client does on the connection. */
export type Step =
  | { send: Uint8Array | string }
  | { pauseMs: number }
  /** Shuts the write side: the server sees EOF after what was sent. */
  | { closeWrite: true };

/** One parsed response. */
export interface ParsedResponse {
  status: number;
  reason: string;
  headers: Headers;
  body: string;
}

/** How a conversation ended. */
export type Ending = "eof" | "reset" | "timeout";

/** Everything observed on one connection. */
export interface Exchange {
  responses: ParsedResponse[];
  /** Bytes after the last parseable response (a framing error when not empty). */
  unparsed: string;
  ending: Ending;
  /** From connect to the end of the conversation. */
  elapsedMs: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function connect(target: Target): Promise<Deno.Conn> {
  return target.transport === "tcp"
    ? await Deno.connect({ hostname: "127.0.0.1", port: target.port })
    : await Deno.connect({ transport: "unix", path: target.path });
}

/**
 * Runs `steps` on a fresh connection and reads until the server closes it or `boundMs` passes
 * (then the client closes: ending "timeout"). `methods` are the request methods in order, so
 * that answers to HEAD are parsed without a body.
 */
export async function exchange(
  target: Target,
  steps: Step[],
  boundMs: number,
  methods: string[] = [],
): Promise<Exchange> {
  const started = performance.now();
  const conn = await connect(target);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch { /* already closed */ }
  }, boundMs);
  const chunks: Uint8Array[] = [];
  let ending: Ending = "eof";
  const reading = (async () => {
    const buf = new Uint8Array(65536);
    while (true) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch {
        ending = timedOut ? "timeout" : "reset";
        return;
      }
      if (n === null) {
        ending = timedOut ? "timeout" : "eof";
        return;
      }
      chunks.push(buf.slice(0, n));
    }
  })();
  try {
    for (const step of steps) {
      if (timedOut) break;
      if ("send" in step) {
        const bytes = typeof step.send === "string" ? encoder.encode(step.send) : step.send;
        try {
          await writeAll(conn, bytes);
        } catch {
          break; // the server closed or reset: what it answered is still read
        }
      } else if ("pauseMs" in step) {
        await new Promise((r) => setTimeout(r, step.pauseMs));
      } else {
        try {
          await conn.closeWrite();
        } catch { /* already closed */ }
      }
    }
    await reading;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer or the peer */ }
  }
  const all = concat(chunks);
  const { responses, rest } = parseResponses(all, methods);
  return {
    responses,
    unparsed: decoder.decode(rest),
    ending,
    elapsedMs: performance.now() - started,
  };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

function indexOf(bytes: Uint8Array, needle: number[], from: number): number {
  outer: for (let i = from; i <= bytes.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

const CRLFCRLF = [13, 10, 13, 10];
const HTTP = [72, 84, 84, 80, 47]; // "HTTP/"

function startsWithHttp(bytes: Uint8Array, at: number): boolean {
  return at >= bytes.length || indexOf(bytes, HTTP, at) === at;
}
const CRLF = [13, 10];

/**
 * Parses as many complete HTTP/1.1 responses as `bytes` holds, strictly (status line, header
 * syntax, Content-Length or chunked framing). What does not parse is returned as `rest`.
 */
export function parseResponses(
  bytes: Uint8Array,
  methods: string[] = [],
): { responses: ParsedResponse[]; rest: Uint8Array } {
  const responses: ParsedResponse[] = [];
  let off = 0;
  while (off < bytes.length) {
    const end = indexOf(bytes, CRLFCRLF, off);
    if (end < 0) break;
    const head = decoder.decode(bytes.subarray(off, end));
    const [statusLine, ...lines] = head.split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine);
    if (!m) break;
    const headers = new Headers();
    let ok = true;
    for (const line of lines) {
      const i = line.indexOf(":");
      if (i <= 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(line.slice(0, i))) {
        ok = false;
        break;
      }
      headers.append(line.slice(0, i), line.slice(i + 1).trim());
    }
    if (!ok) break;
    const status = Number(m[1]);
    let bodyStart = end + 4;
    let body: Uint8Array;
    const method = methods[responses.length] ?? "GET";
    if (status < 200) {
      off = bodyStart; // an interim answer: the final one follows
      continue;
    }
    // A server that refused a malformed request did not parse its method: its answer to a
    // HEAD-looking line may carry a body, framed as usual.
    const bodiless = status === 204 || status === 304 ||
      (method === "HEAD" && !(status >= 400 && !startsWithHttp(bytes, bodyStart)));
    if (bodiless) {
      body = new Uint8Array();
    } else if (headers.get("transfer-encoding")?.toLowerCase() === "chunked") {
      const parts: Uint8Array[] = [];
      let complete = false;
      while (true) {
        const lineEnd = indexOf(bytes, CRLF, bodyStart);
        if (lineEnd < 0) break;
        const size = parseInt(decoder.decode(bytes.subarray(bodyStart, lineEnd)), 16);
        if (!Number.isFinite(size)) break;
        const dataStart = lineEnd + 2;
        if (size === 0) {
          const trailerEnd = indexOf(bytes, CRLF, dataStart);
          if (trailerEnd !== dataStart) break; // trailers are never sent here
          bodyStart = dataStart + 2;
          complete = true;
          break;
        }
        if (dataStart + size + 2 > bytes.length) break;
        parts.push(bytes.subarray(dataStart, dataStart + size));
        bodyStart = dataStart + size + 2;
      }
      if (!complete) break;
      body = concat(parts);
    } else if (headers.has("content-length")) {
      const length = Number(headers.get("content-length"));
      if (!Number.isInteger(length) || length < 0) break;
      if (bodyStart + length > bytes.length) break;
      body = bytes.subarray(bodyStart, bodyStart + length);
      bodyStart += length;
    } else {
      body = bytes.subarray(bodyStart); // delimited by the connection's end
      bodyStart = bytes.length;
    }
    responses.push({ status, reason: m[2], headers, body: decoder.decode(body) });
    off = bodyStart;
  }
  return { responses, rest: bytes.subarray(off) };
}
