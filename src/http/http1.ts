/**
 * The HTTP/1.1 wire codec shared by our raw client (raw_http.ts) and our connection server
 * (conn_server.ts): where a header block ends, how field lines split, how a chunked body decodes.
 * One home, so both ends read the same bytes the same way, and strict, so a malformed or
 * smuggling-shaped message is refused rather than guessed at.
 * @module
 */

/** A message that is not well-formed HTTP/1.1; `status` is the answer a server gives it. */
export class Http1SyntaxError extends Error {
  constructor(message: string, readonly status = 400) {
    super(message);
    this.name = "Http1SyntaxError";
  }
}

const CR = 13;
const LF = 10;

/** Index of the blank line (`\r\n\r\n`) that ends a header block, or -1 when not yet received. */
export function indexOfHeadEnd(bytes: Uint8Array, from = 0): number {
  for (let i = Math.max(0, from); i + 3 < bytes.length; i++) {
    if (bytes[i] === CR && bytes[i + 1] === LF && bytes[i + 2] === CR && bytes[i + 3] === LF) {
      return i;
    }
  }
  return -1;
}

/** Index of the next `\r\n` at or after `from`, or -1. */
export function indexOfCrlf(bytes: Uint8Array, from = 0): number {
  for (let i = Math.max(0, from); i + 1 < bytes.length; i++) {
    if (bytes[i] === CR && bytes[i + 1] === LF) return i;
  }
  return -1;
}

/** RFC 9110 token characters (method and field names). */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Splits field lines into [lower-case name, value] pairs. Refuses obsolete line folding, a name
 * that is not a token (including whitespace before the colon) and control characters in values.
 */
export function parseFieldLines(lines: string[]): [string, string][] {
  const fields: [string, string][] = [];
  for (const line of lines) {
    if (line.startsWith(" ") || line.startsWith("\t")) {
      throw new Http1SyntaxError("obsolete header line folding is not accepted");
    }
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Http1SyntaxError("a header line has no name");
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new Http1SyntaxError("a header name is not a token");
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    // deno-lint-ignore no-control-regex
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) {
      throw new Http1SyntaxError("a header value holds a control character");
    }
    fields.push([name.toLowerCase(), value]);
  }
  return fields;
}

/** The outcome of decoding a chunked body from the start of `bytes`. */
export interface Dechunked {
  body: Uint8Array;
  /** Bytes of `bytes` the body used, trailers and final CRLF included. */
  consumed: number;
}

/**
 * Decodes a chunked body at the start of `bytes`: undefined while incomplete. Refuses a malformed
 * size line, a chunk not followed by CRLF, and a body over `maxBody` bytes (status 413).
 * Chunk extensions are ignored; trailer fields are read past and dropped.
 */
export function decodeChunked(bytes: Uint8Array, maxBody = Infinity): Dechunked | undefined {
  const parts: Uint8Array[] = [];
  let total = 0;
  let at = 0;
  for (;;) {
    const lineEnd = indexOfCrlf(bytes, at);
    if (lineEnd < 0) {
      if (bytes.length - at > 1024) throw new Http1SyntaxError("a chunk size line is too long");
      return undefined;
    }
    const sizeText = new TextDecoder().decode(bytes.subarray(at, lineEnd)).split(";")[0].trim();
    if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) throw new Http1SyntaxError("malformed chunk size");
    const size = parseInt(sizeText, 16);
    total += size;
    if (total > maxBody) throw new Http1SyntaxError("the body is too large", 413);
    const start = lineEnd + 2;
    if (size === 0) {
      // Trailer fields, each ending in CRLF, then an empty line.
      let t = start;
      for (;;) {
        const end = indexOfCrlf(bytes, t);
        if (end < 0) {
          if (bytes.length - t > 8192) throw new Http1SyntaxError("the trailers are too long");
          return undefined;
        }
        if (end === t) return { body: concat(parts, total), consumed: end + 2 };
        t = end + 2;
      }
    }
    if (bytes.length < start + size + 2) return undefined;
    if (bytes[start + size] !== CR || bytes[start + size + 1] !== LF) {
      throw new Http1SyntaxError("a chunk is not followed by CRLF");
    }
    parts.push(bytes.subarray(start, start + size));
    at = start + size + 2;
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
