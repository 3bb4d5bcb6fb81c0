/**
 * The held prod session: with-prod asks `POST /session` with {@link SESSION_HOLD_HEADER} `: 1`, and
 * on approval the gate answers `application/x-ndjson`: the usual session JSON as the first line,
 * then a heartbeat line every {@link HOLD_HEARTBEAT_MS}. The session lives only while that
 * connection does: when it closes (with-prod exited, was killed, or its host went away) the gate
 * revokes the session. When the gate ends the session itself it writes one last line,
 * `{"status":"<why>"}` (`ended`: expired or deleted; `revoked` with a `reason`: the gate is
 * stopping), then closes the stream. Clients that do not send the header get gcp-authcalator's
 * plain JSON answer and a session bounded by its TTL only.
 * @module
 */

/** Request header on `POST /session` asking for a held session. */
export const SESSION_HOLD_HEADER = "x-session-hold";

/** The response content type of a held session. */
export const HELD_SESSION_CONTENT_TYPE = "application/x-ndjson";

/** How often the gate writes a heartbeat line on a held session. */
export const HOLD_HEARTBEAT_MS = 15_000;

/** The heartbeat line (the first line is the session JSON). */
export const HOLD_HEARTBEAT = '{"status":"active"}\n';
