/**
 * The gate protocol's one home: paths, headers, query names, the scope / TTL / pending-id codecs
 * and the JSON answers, used by the gate's routes and by the one client (src/gate_api/client.ts)
 * alike, so the two ends cannot drift. It is gcp-authcalator 0.14's wire; authcalator's additions
 * (`/id-token`, the held session) are marked. Siblings own the rest of the wire: the wrapped
 * command in wrapped_command.ts, the held session in session_hold.ts, the non-grant codes in
 * prod_outcome.ts, the pairing code in pairing_code.ts.
 * @module
 */
import { HttpError } from "../errors.ts";

/** Paths of the main socket (and of the TCP listener). */
export const GATE_PATHS = {
  /** `GET`: any complete HTTP answer means the gate is up. */
  health: "/health",
  /** `GET`: a dev token; `?level=prod`: a prod token after approval; `?session=`: a session's. */
  token: "/token",
  /** `GET ?audience=&format=` (authcalator only; gcp-authcalator 0.14 answers 404). */
  idToken: "/id-token",
  identity: "/identity",
  projectNumber: "/project-number",
  universeDomain: "/universe-domain",
  /** `POST` creates a session (a human approves); `GET ?id=` checks it; `DELETE ?id=` revokes it. */
  session: "/session",
} as const;

/** Paths of the admin socket. */
export const ADMIN_PATHS = {
  health: "/health",
  pending: "/pending",
  /** `GET`: one queued request (typed as a template, so the gate's route pattern keeps its params). */
  pendingOne: <Id extends string>(id: Id): `/pending/${Id}` => `/pending/${id}`,
  /** `POST`: approve or deny one queued request. */
  decide: <Id extends string, A extends "approve" | "deny">(id: Id, action: A) =>
    `/pending/${id}/${action}` as `/pending/${Id}/${A}`,
} as const;

/** Request headers of `POST /session` and `/token?level=prod` (`X-Target-Project` also on refresh). */
export const PROD_HEADERS = {
  /** The wrapped argv as a JSON array (codec: wrapped_command.ts). */
  wrappedCommand: "x-wrapped-command",
  /** The client's 32-hex pending id, so its user can find the request (and its pairing code). */
  pendingId: "x-pending-id",
  /** The project the session is for. */
  targetProject: "x-target-project",
} as const;

/** Query parameters of the main socket's routes. */
export const GATE_QUERY = {
  scopes: "scopes",
  pamPolicy: "pam_policy",
  tokenTtlSeconds: "token_ttl_seconds",
  sessionTtlSeconds: "session_ttl_seconds",
  /** `prod` asks `/token` for a prod token (anything else is the dev path, as 0.14). */
  level: "level",
  /** The session id on `GET`/`DELETE /session`. */
  id: "id",
  /** The session id on `GET /token`. */
  session: "session",
  audience: "audience",
  format: "format",
} as const;

/** The most scopes one request may name. */
export const MAX_SCOPES = 50;
const SCOPE = /^[\x21-\x7e]{1,512}$/;

/**
 * The one scopes rule, at the gate and at the metadata server: every `scopes` value, split on
 * `,`, each element trimmed, empty elements dropped (client libraries send `a, b` and trailing
 * commas), duplicates dropped keeping order; none at all means `defaults`. Each scope must be 1 to
 * 512 printable ASCII characters with no space; at most {@link MAX_SCOPES}. gcp-authcalator 0.14
 * accepts any list, so every list it sends that Google would honour passes here too.
 */
export function parseScopes(values: readonly string[], defaults: readonly string[]): string[] {
  const split = values.join(",").split(",").map((s) => s.trim()).filter((s) => s !== "");
  const scopes = [...new Set(split)];
  if (scopes.length === 0) return [...defaults];
  if (scopes.length > MAX_SCOPES) {
    throw new HttpError(400, `at most ${MAX_SCOPES} scopes may be requested`);
  }
  if (scopes.some((s) => !SCOPE.test(s))) {
    throw new HttpError(
      400,
      "scopes must be a comma-separated list of printable scopes without spaces",
    );
  }
  return scopes;
}

/** `scopes` as the client puts it on the wire: each scope URL-encoded, then comma-joined. */
export function encodeScopes(scopes: readonly string[]): string {
  return scopes.map(encodeURIComponent).join(",");
}

/**
 * Parses an optional TTL parameter with gcp-authcalator's rules and messages: an integer, at
 * least `floor`, at most the configured maximum (a caller may only shorten); an empty value is 0.
 */
export function parseTtl(
  name: string,
  raw: string | undefined,
  floor: number,
  max: number,
): number | undefined {
  if (raw === undefined) return undefined;
  const value = raw.trim() === "" ? 0 : Number(raw);
  if (!Number.isInteger(value)) throw new HttpError(400, `${name} must be an integer`);
  if (value < floor) throw new HttpError(400, `${name} must be >= ${floor}`);
  if (value > max) {
    throw new HttpError(400, `${name} (${value}) exceeds configured maximum (${max})`);
  }
  return value;
}

/** The shortest `token_ttl_seconds` a caller may ask for. */
export const MIN_TOKEN_TTL_SECONDS = 60;
/** The shortest `session_ttl_seconds` a caller may ask for. */
export const MIN_SESSION_TTL_SECONDS = 300;

/** A pending request's id: 32 lowercase hex characters (128 random bits). */
export const PENDING_ID = /^[0-9a-f]{32}$/;

/** A fresh random pending id. */
export function newPendingId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A prod session's id: 64 lowercase hex characters. */
export const SESSION_ID = /^[0-9a-f]{64}$/;

/** `?<name>=<value>` with the value encoded. */
export function queryOf(name: string, value: string): string {
  return `?${name}=${encodeURIComponent(value)}`;
}

/** A token answer (`/token` in every form, and the first line of a session). */
export interface TokenAnswer {
  access_token: string;
  expires_in: number;
  token_type: "Bearer";
  /** Prod answers only: the engineer's email. */
  email?: string;
}

/** `POST /session`'s answer (and a held session's first line). */
export interface SessionAnswer extends TokenAnswer {
  session_id: string;
  email: string;
}

/** Every error answer: `{error, code?}`. */
export interface ErrorAnswer {
  error: string;
  code?: string;
}

/** The `/health` answer. */
export interface HealthAnswer {
  status: string;
  uptime_seconds?: number;
  /** Things the gate's operator should fix soon (e.g. TLS certificates about to expire). */
  warnings?: string[];
}
