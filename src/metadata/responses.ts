/**
 * Responses shaped like the real metadata server's: its headers on every answer (errors and
 * redirects included), its content types, and its HTML error pages.
 * @module
 */
import type { HttpError } from "../errors.ts";

/** GCE's content type for text values and listings. */
export const TEXT = "application/text";
/** JSON values, tokens, recursive output. */
export const JSON_TYPE = "application/json";
/** Error pages. */
export const HTML = "text/html; charset=UTF-8";
/** Short error messages (400s). */
export const PLAIN = "text/plain; charset=utf-8";

/**
 * Headers on every response. `Cache-Control: no-transform` stops Deno.serve from compressing the
 * body, which would drop Content-Length and weaken the ETag to `W/…` (breaking `last_etag`).
 */
export const STANDARD_HEADERS: Readonly<Record<string, string>> = {
  "Metadata-Flavor": "Google",
  "Server": "Metadata Server for VM",
  "X-XSS-Protection": "0",
  "X-Frame-Options": "SAMEORIGIN",
  "Cache-Control": "no-transform",
};

/** Adds the standard headers to `res` (copying it if its headers are immutable). */
export function withStandardHeaders(res: Response): Response {
  let out = res;
  try {
    for (const [k, v] of Object.entries(STANDARD_HEADERS)) out.headers.set(k, v);
  } catch {
    out = new Response(res.body, res);
    for (const [k, v] of Object.entries(STANDARD_HEADERS)) out.headers.set(k, v);
  }
  return out;
}

/** The standard headers plus a content type, as pairs a Response copies (built once per type). */
function headerPairs(contentType: string): [string, string][] {
  return [...Object.entries(STANDARD_HEADERS), ["Content-Type", contentType]];
}

/** Header pairs of the content types answered most, so a response does not rebuild them. */
const PAIRS: Readonly<Record<string, [string, string][]>> = {
  [TEXT]: headerPairs(TEXT),
  [JSON_TYPE]: headerPairs(JSON_TYPE),
  [HTML]: headerPairs(HTML),
  [PLAIN]: headerPairs(PLAIN),
};

/** A response with an explicit content type and the standard headers. */
export function respond(
  status: number,
  body: string,
  contentType: string,
  extra?: Record<string, string>,
): Response {
  const headers = extra === undefined && Object.hasOwn(PAIRS, contentType)
    ? PAIRS[contentType]
    : { ...STANDARD_HEADERS, "Content-Type": contentType, ...extra };
  return new Response(body, { status, headers });
}

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML (paths in error pages come from the request). */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

const REASONS: Record<number, string> = {
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
};

/** A Google-style HTML error page for `status`, naming `path` and, for 403s, the reason. */
export function errorPage(status: 403 | 404 | 405, path: string, detail = ""): Response {
  const reason = REASONS[status];
  const p = `<code>${escapeHtml(path)}</code>`;
  const message = status === 404
    ? `The requested URL ${p} was not found on this server.  <ins>That’s all we know.</ins>`
    : status === 403
    ? `Your client does not have permission to get URL ${p} from this server. ${escapeHtml(detail)}`
    : `The request method <code>${escapeHtml(detail)}</code> is inappropriate for the URL ${p}.`;
  const body = [
    "<!DOCTYPE html>",
    "<html lang=en>",
    "  <meta charset=utf-8>",
    `  <title>Error ${status} (${reason})!!1</title>`,
    `  <p><b>${status}.</b> <ins>That’s an error.</ins>`,
    `  <p>${message}`,
    "",
  ].join("\n");
  return respond(status, body, HTML, status === 405 ? { Allow: "GET" } : undefined);
}

/** A 400 with a one-line message, as GCE answers bad parameters. */
export function badRequest(message: string): Response {
  return respond(400, message, PLAIN);
}

/** The gate-style `{error, code?}` body of a failure, with its status. */
export function errorJson(err: HttpError): Response {
  const extra = Object.keys(err.headers).length ? err.headers : undefined;
  return respond(err.status, JSON.stringify(err.toBody()), JSON_TYPE, extra);
}
