/**
 * The prod-session wire between with-prod and the gate's main socket: paths, request headers and
 * query parameters, named once so the client (src/with_prod/gate_session.ts) and the gate's routes
 * use the same words. The held-session extension is in session_hold.ts, the non-grant outcome codes
 * in prod_outcome.ts, the pairing code in pairing_code.ts.
 * @module
 */

/** `POST` creates a session (a human approves); `GET ?id=` checks it; `DELETE ?id=` revokes it. */
export const SESSION_PATH = "/session";
/** `GET ?session=<id>`: a fresh token of a live session, without asking anyone. */
export const TOKEN_PATH = "/token";
/** `GET`: any complete HTTP answer means the gate is up. */
export const HEALTH_PATH = "/health";

/** Request headers of `POST /session` (and `X-Target-Project` on `GET /token`). */
export const PROD_SESSION_HEADERS = {
  /** The wrapped argv as a JSON array (see src/with_prod/command_header.ts for its bound). */
  wrappedCommand: "x-wrapped-command",
  /** The client's 32-hex pending id, so its user can find the request (and its pairing code). */
  pendingId: "x-pending-id",
  /** The project the session is for. */
  targetProject: "x-target-project",
} as const;

/** Query parameters of the session routes. */
export const PROD_SESSION_QUERY = {
  scopes: "scopes",
  pamPolicy: "pam_policy",
  tokenTtlSeconds: "token_ttl_seconds",
  sessionTtlSeconds: "session_ttl_seconds",
  /** The session id on `GET`/`DELETE /session`. */
  id: "id",
  /** The session id on `GET /token`. */
  session: "session",
} as const;
