/**
 * Query parameters the metadata server understands, parsed strictly: bad values are a 400 with
 * a message that names the parameter, never a 500.
 * @module
 */
import { HttpError } from "../errors.ts";
import { parseScopes as parseWireScopes } from "../gate_api/wire.ts";
import type { IdTokenFormat } from "./backend.ts";

/** How long a `wait_for_change` without `timeout_sec` hangs. */
export const DEFAULT_WAIT_SECONDS = 300;
/** The longest `timeout_sec` honoured; larger values are clamped. */
export const MAX_WAIT_SECONDS = 3600;

/** Parameters that shape how a value or directory is returned. */
export interface ValueQuery {
  recursive: boolean;
  alt?: "json" | "text";
  waitForChange: boolean;
  lastEtag?: string;
  /** Milliseconds to hang when `waitForChange`. */
  timeoutMs: number;
}

const TRUE = new Set(["true", "on", "yes", "1"]);
const FALSE = new Set(["false", "off", "no", "0", ""]);

function bool(params: URLSearchParams, name: string): boolean {
  const value = params.get(name);
  if (value === null) return false;
  const lower = value.toLowerCase();
  if (TRUE.has(lower)) return true;
  if (FALSE.has(lower)) return false;
  throw new HttpError(400, `${name} must be true or false`);
}

function bad(message: string): HttpError {
  return new HttpError(400, message);
}

/** Parses `recursive`, `alt`, `wait_for_change`, `last_etag` and `timeout_sec`. */
export function parseValueQuery(params: URLSearchParams): ValueQuery {
  const alt = params.get("alt");
  if (alt !== null && alt !== "json" && alt !== "text") throw bad("alt must be json or text");
  const timeout = params.get("timeout_sec");
  let seconds = DEFAULT_WAIT_SECONDS;
  if (timeout !== null) {
    if (!/^[0-9]{1,9}$/.test(timeout)) throw bad("timeout_sec must be a whole number of seconds");
    seconds = Math.min(Number(timeout), MAX_WAIT_SECONDS);
  }
  const lastEtag = params.get("last_etag") ?? undefined;
  return {
    recursive: bool(params, "recursive"),
    alt: alt ?? undefined,
    waitForChange: bool(params, "wait_for_change"),
    lastEtag,
    timeoutMs: seconds * 1000,
  };
}

/**
 * `?scopes=a,b` (already URL-decoded by URLSearchParams); none given means `defaults`. The rule is
 * the gate's, from the wire module, so a list the proxy accepts is one the gate accepts.
 */
export function parseScopes(params: URLSearchParams, defaults: string[]): string[] {
  return parseWireScopes(params.getAll("scopes"), defaults);
}

/** A parsed identity request. */
export interface IdentityQuery {
  audience: string;
  format: IdTokenFormat;
}

const MAX_AUDIENCE = 2048;

/** Parses `audience`, `format` and `licenses` (licenses is accepted and not passed on). */
export function parseIdentityQuery(params: URLSearchParams): IdentityQuery {
  const audience = params.get("audience") ?? "";
  if (audience === "") throw bad("non-empty audience parameter required");
  if (audience.length > MAX_AUDIENCE) {
    throw bad(`audience must be at most ${MAX_AUDIENCE} characters`);
  }
  // deno-lint-ignore no-control-regex -- refusing control characters is the point
  if (/[\x00-\x1f\x7f]/.test(audience)) {
    throw bad("audience must not contain control characters");
  }
  const format = params.get("format") ?? "standard";
  if (format !== "standard" && format !== "full") throw bad("format must be standard or full");
  const licenses = params.get("licenses");
  if (licenses !== null && !/^(true|false)$/i.test(licenses)) {
    throw bad("licenses must be TRUE or FALSE");
  }
  return { audience, format };
}
