/**
 * with-prod's side of the gate protocol: preflight, session creation, refresh, validation and
 * revocation, through the one gate client (src/gate_api/client.ts) over any transport, each under
 * its own deadline (body included). The session id is passed in by the caller and never appears
 * in an error message.
 * @module
 */
import { HttpError, messageOf } from "../errors.ts";
import { DeadlineError } from "../http/deadline_fetch.ts";
import type { ExpiringToken } from "../token_cache.ts";
import type { Clock } from "../clock.ts";
import type { Timers } from "../gate/confirm/timers.ts";
import { answerObject, GateApi, jsonObject, stringField, tokenOf } from "../gate_api/client.ts";
import { HELD_SESSION_CONTENT_TYPE, SESSION_HOLD_HEADER } from "../gate_api/session_hold.ts";
import {
  type GateTransport,
  GateUnreachableError,
  UnixSocketTransport,
} from "../gate_api/transport.ts";
import {
  encodeScopes,
  GATE_PATHS,
  GATE_QUERY,
  PROD_HEADERS,
  queryOf,
  SESSION_ID,
} from "../gate_api/wire.ts";
import { encodeWrappedCommand } from "../gate_api/wrapped_command.ts";
import { HoldProtocolError, holdSession, type SessionHold } from "./held_session.ts";

/** Client-side deadlines (ms), nested inside each other as the gate's own waits are. */
export const GATE_DEADLINES = {
  preflight: 3_000,
  createSession: 720_000,
  refresh: 510_000,
  health: 3_000,
  revoke: 2_000,
};

/** What `POST /session` returned. */
export interface CreatedSession {
  sessionId: string;
  token: ExpiringToken;
  email: string;
  /** The held connection (absent when the gate does not hold sessions). */
  hold: SessionHold | undefined;
}

/** What a session asks for. */
export interface SessionRequest {
  argv: readonly string[];
  pendingId: string;
  targetProject: string;
  scopes: string[];
  tokenTtlSeconds?: number;
  sessionTtlSeconds?: number;
  pamPolicy?: string;
}

/** The path and query of `POST /session` for `req` (scopes comma-joined, each encoded). */
export function sessionPath(req: SessionRequest): string {
  const Q = GATE_QUERY;
  const q = new URLSearchParams();
  const query = [`${Q.scopes}=${encodeScopes(req.scopes)}`];
  if (req.pamPolicy) q.set(Q.pamPolicy, req.pamPolicy);
  if (req.tokenTtlSeconds !== undefined) q.set(Q.tokenTtlSeconds, String(req.tokenTtlSeconds));
  if (req.sessionTtlSeconds !== undefined) {
    q.set(Q.sessionTtlSeconds, String(req.sessionTtlSeconds));
  }
  if (q.size) query.push(q.toString());
  return `${GATE_PATHS.session}?${query.join("&")}`;
}

/** The request headers of `POST /session` for `req`. */
export function sessionHeaders(req: SessionRequest): Record<string, string> {
  return {
    [PROD_HEADERS.wrappedCommand]: encodeWrappedCommand(req.argv),
    [PROD_HEADERS.pendingId]: req.pendingId,
    [PROD_HEADERS.targetProject]: req.targetProject,
  };
}

/** The gate, as with-prod talks to it. */
export class GateSessionClient {
  readonly #gate: GateApi;
  readonly #clock: Clock;

  /** `gate` is the main socket's path or any transport to the gate. */
  constructor(gate: string | GateTransport, clock: Clock) {
    this.#gate = new GateApi(typeof gate === "string" ? new UnixSocketTransport(gate) : gate);
    this.#clock = clock;
  }

  /** Releases the transport. */
  close(): void {
    this.#gate.close();
  }

  /** `GET /health` within 3 s: any complete HTTP answer passes, only a transport failure fails. */
  async preflight(signal?: AbortSignal): Promise<void> {
    await this.#gate.call(GATE_PATHS.health, {
      timeoutMs: GATE_DEADLINES.preflight,
      what: "checking that the gate is up",
      signal,
    });
  }

  /**
   * `POST /session` asking for a held session: the gate asks a human; this waits for the decision
   * (up to {@link GATE_DEADLINES.createSession}, the first NDJSON line included). The returned
   * `hold` keeps the connection open; the gate revokes the session when it closes. A gate that
   * answers plain JSON (it does not hold sessions) gives no `hold`.
   */
  async createSession(
    req: SessionRequest,
    signal: AbortSignal | undefined,
    timers: Timers,
  ): Promise<CreatedSession> {
    const what = "waiting for the gate to approve a prod session";
    const timeoutMs = GATE_DEADLINES.createSession;
    const controller = new AbortController();
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const onOuterAbort = () => controller.abort();
    signal?.addEventListener("abort", onOuterAbort, { once: true });
    const failure = (err: unknown): unknown => {
      if (timedOut) return new DeadlineError(what, timeoutMs);
      if (signal?.aborted) return err;
      if (err instanceof HttpError || err instanceof HoldProtocolError) return err;
      if (err instanceof GateUnreachableError) return err;
      return this.#gate.unreachable(
        new GateUnreachableError("connection lost", { cause: err }),
        what,
      );
    };
    try {
      let res: Response;
      try {
        res = await this.#gate.open(sessionPath(req), {
          method: "POST",
          headers: {
            ...sessionHeaders(req),
            [SESSION_HOLD_HEADER]: "1",
            accept: `${HELD_SESSION_CONTENT_TYPE}, application/json`,
          },
          signal: controller.signal,
          what,
        });
      } catch (err) {
        throw failure(err);
      }
      const fetchedAt = this.#clock.now();
      const type = res.headers.get("content-type") ?? "";
      if (!res.ok || !res.body || !type.startsWith(HELD_SESSION_CONTENT_TYPE)) {
        const text = await res.text().catch((err) => {
          throw failure(err);
        });
        const read = { status: res.status, ok: res.ok, headers: res.headers, text };
        return { ...this.#session(answerObject(read, what), fetchedAt, what), hold: undefined };
      }
      const { first, hold } = await holdSession(res.body, () => controller.abort(), timers)
        .catch((err) => {
          throw failure(err);
        });
      try {
        return { ...this.#session(this.#jsonLine(first, what), fetchedAt, what), hold };
      } catch (err) {
        hold.release();
        throw err;
      }
    } finally {
      clearTimeout(deadline);
      signal?.removeEventListener("abort", onOuterAbort);
    }
  }

  #jsonLine(line: string, what: string): Record<string, unknown> {
    const body = jsonObject(line);
    if (!body) {
      throw new HttpError(502, `the gate's held session did not start with JSON while ${what}`);
    }
    return body;
  }

  #session(body: Record<string, unknown>, fetchedAt: number, what: string) {
    const sessionId = body.session_id;
    if (typeof sessionId !== "string" || !SESSION_ID.test(sessionId)) {
      throw new HttpError(502, `the gate's answer had no valid session_id while ${what}`);
    }
    const email = stringField(body, "email", what);
    return { sessionId, email, token: tokenOf(body, fetchedAt, what) };
  }

  /** `GET /token?session=`: a fresh token without asking anyone; 401 means the session ended. */
  async refresh(sessionId: string, targetProject: string): Promise<ExpiringToken> {
    const what = "refreshing the prod session's token";
    const fetchedAt = this.#clock.now();
    const res = await this.#gate.call(
      `${GATE_PATHS.token}${queryOf(GATE_QUERY.session, sessionId)}`,
      {
        timeoutMs: GATE_DEADLINES.refresh,
        what,
        headers: { [PROD_HEADERS.targetProject]: targetProject },
      },
    );
    if (res.status === 401) {
      throw new HttpError(
        401,
        "Prod session expired or revoked. The authcalator gate may have restarted. Re-run " +
          "with-prod to start a new session.",
      );
    }
    return tokenOf(answerObject(res, what), fetchedAt, what);
  }

  /** `GET /session?id=`: throws unless the session is still active (never mints). */
  async checkSession(sessionId: string): Promise<void> {
    await this.#gate.json(`${GATE_PATHS.session}${queryOf(GATE_QUERY.id, sessionId)}`, {
      timeoutMs: GATE_DEADLINES.health,
      what: "checking the prod session",
    });
  }

  /** `DELETE /session?id=` within 2 s; failures are reported, never thrown. */
  async revoke(sessionId: string): Promise<string | undefined> {
    try {
      const res = await this.#gate.call(
        `${GATE_PATHS.session}${queryOf(GATE_QUERY.id, sessionId)}`,
        { method: "DELETE", timeoutMs: GATE_DEADLINES.revoke, what: "revoking the prod session" },
      );
      if (res.ok || res.status === 404) return undefined;
      return `the gate answered HTTP ${res.status}`;
    } catch (err) {
      return messageOf(err);
    }
  }
}
