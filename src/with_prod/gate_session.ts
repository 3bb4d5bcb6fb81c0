/**
 * with-prod's side of the gate protocol: preflight, session creation, refresh, validation and
 * revocation over the gate's Unix socket, each under its own deadline (body included). The session
 * id is passed in by the caller and never appears in an error message.
 * @module
 */
import { HttpError, messageOf } from "../errors.ts";
import { DeadlineError, fetchWithDeadline, type ReadResponse } from "../http/deadline_fetch.ts";
import type { ExpiringToken } from "../token_cache.ts";
import type { Clock } from "../clock.ts";
import type { Timers } from "../gate/confirm/timers.ts";
import { HELD_SESSION_CONTENT_TYPE, SESSION_HOLD_HEADER } from "../gate_api/session_hold.ts";
import {
  HEALTH_PATH,
  PROD_SESSION_HEADERS,
  PROD_SESSION_QUERY,
  SESSION_PATH,
  TOKEN_PATH,
} from "../gate_api/prod_session.ts";
import { encodeWrappedCommand } from "./command_header.ts";
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

/** Raised when the gate cannot be reached at all (as opposed to answering with an error). */
export class GateUnreachable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GateUnreachable";
  }
}

/** The path and query of `POST /session` for `req` (scopes comma-joined, each encoded). */
export function sessionPath(req: SessionRequest): string {
  const Q = PROD_SESSION_QUERY;
  const q = new URLSearchParams();
  const query = [`${Q.scopes}=${req.scopes.map(encodeURIComponent).join(",")}`];
  if (req.pamPolicy) q.set(Q.pamPolicy, req.pamPolicy);
  if (req.tokenTtlSeconds !== undefined) q.set(Q.tokenTtlSeconds, String(req.tokenTtlSeconds));
  if (req.sessionTtlSeconds !== undefined) {
    q.set(Q.sessionTtlSeconds, String(req.sessionTtlSeconds));
  }
  if (q.size) query.push(q.toString());
  return `${SESSION_PATH}?${query.join("&")}`;
}

/** The request headers of `POST /session` for `req`. */
export function sessionHeaders(req: SessionRequest): Record<string, string> {
  return {
    [PROD_SESSION_HEADERS.wrappedCommand]: encodeWrappedCommand(req.argv),
    [PROD_SESSION_HEADERS.pendingId]: req.pendingId,
    [PROD_SESSION_HEADERS.targetProject]: req.targetProject,
  };
}

/** `?<name>=<id>` with the id encoded. */
function idQuery(name: string, id: string): string {
  return `?${name}=${encodeURIComponent(id)}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function osReason(err: unknown): string {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const m = /([A-Za-z][A-Za-z ]*[a-z]) \(os error \d+\)/.exec(e.message);
    if (m) return m[1].toLowerCase();
  }
  return "connection failed";
}

/** The gate, as with-prod talks to it. */
export class GateSessionClient {
  readonly #socketPath: string;
  readonly #clock: Clock;
  readonly #client: Deno.HttpClient;

  constructor(socketPath: string, clock: Clock) {
    this.#socketPath = socketPath;
    this.#clock = clock;
    this.#client = Deno.createHttpClient({ proxy: { transport: "unix", path: socketPath } });
  }

  /** Releases the HTTP client. */
  close(): void {
    this.#client.close();
  }

  async #send(
    method: string,
    path: string,
    timeoutMs: number,
    what: string,
    init: { headers?: Record<string, string>; signal?: AbortSignal } = {},
  ): Promise<ReadResponse> {
    try {
      return await fetchWithDeadline(`http://localhost${path}`, {
        method,
        timeoutMs,
        what,
        client: this.#client,
        ...init,
      });
    } catch (err) {
      if (err instanceof DeadlineError) throw err;
      if (init.signal?.aborted) throw err;
      throw new GateUnreachable(
        `cannot reach the gate at ${this.#socketPath} (${osReason(err)}); is 'authcalator gate' ` +
          "running on the host, with its socket mounted here?",
      );
    }
  }

  #fail(res: ReadResponse, what: string): never {
    let body: unknown;
    try {
      body = JSON.parse(res.text);
    } catch { /* not JSON */ }
    if (isRecord(body) && typeof body.error === "string") {
      throw new HttpError(
        res.status,
        body.error,
        typeof body.code === "string" ? body.code : undefined,
      );
    }
    throw new HttpError(res.status, `the gate answered HTTP ${res.status} while ${what}`);
  }

  #json(res: ReadResponse, what: string): Record<string, unknown> {
    if (!res.ok) this.#fail(res, what);
    let body: unknown;
    try {
      body = JSON.parse(res.text);
    } catch { /* below */ }
    if (!isRecord(body)) throw new HttpError(502, `the gate's answer was not JSON while ${what}`);
    return body;
  }

  #token(body: Record<string, unknown>, fetchedAt: number, what: string): ExpiringToken {
    const accessToken = body.access_token;
    if (typeof accessToken !== "string" || accessToken === "") {
      throw new HttpError(502, `the gate's answer had no access_token while ${what}`);
    }
    const expiresIn = body.expires_in ?? 3600;
    if (typeof expiresIn !== "number" || !Number.isFinite(expiresIn) || expiresIn < 0) {
      throw new HttpError(502, `the gate's answer had an invalid expires_in while ${what}`);
    }
    return { accessToken, expiresAt: fetchedAt + expiresIn * 1000 };
  }

  /** `GET /health` within 3 s: any complete HTTP answer passes, only a transport failure fails. */
  async preflight(signal?: AbortSignal): Promise<void> {
    await this.#send("GET", HEALTH_PATH, GATE_DEADLINES.preflight, "checking that the gate is up", {
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
      return new GateUnreachable(
        `lost the connection to the gate at ${this.#socketPath} (${osReason(err)}) while ${what}`,
      );
    };
    try {
      let res: Response;
      try {
        res = await fetch(`http://localhost${sessionPath(req)}`, {
          method: "POST",
          headers: {
            ...sessionHeaders(req),
            [SESSION_HOLD_HEADER]: "1",
            accept: `${HELD_SESSION_CONTENT_TYPE}, application/json`,
          },
          signal: controller.signal,
          client: this.#client,
        });
      } catch (err) {
        if (timedOut || signal?.aborted) throw failure(err);
        throw new GateUnreachable(
          `cannot reach the gate at ${this.#socketPath} (${osReason(err)}); is 'authcalator ` +
            "gate' running on the host, with its socket mounted here?",
        );
      }
      const fetchedAt = this.#clock.now();
      const type = res.headers.get("content-type") ?? "";
      if (!res.ok || !res.body || !type.startsWith(HELD_SESSION_CONTENT_TYPE)) {
        const text = await res.text().catch((err) => {
          throw failure(err);
        });
        const read = { status: res.status, ok: res.ok, headers: res.headers, text };
        return { ...this.#session(this.#json(read, what), fetchedAt, what), hold: undefined };
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
    let body: unknown;
    try {
      body = JSON.parse(line);
    } catch { /* below */ }
    if (!isRecord(body)) {
      throw new HttpError(502, `the gate's held session did not start with JSON while ${what}`);
    }
    return body;
  }

  #session(body: Record<string, unknown>, fetchedAt: number, what: string) {
    const sessionId = body.session_id;
    const email = body.email;
    if (typeof sessionId !== "string" || !/^[0-9a-f]{64}$/.test(sessionId)) {
      throw new HttpError(502, `the gate's answer had no valid session_id while ${what}`);
    }
    if (typeof email !== "string" || email === "") {
      throw new HttpError(502, `the gate's answer had no email while ${what}`);
    }
    return { sessionId, email, token: this.#token(body, fetchedAt, what) };
  }

  /** `GET /token?session=`: a fresh token without asking anyone; 401 means the session ended. */
  async refresh(sessionId: string, targetProject: string): Promise<ExpiringToken> {
    const what = "refreshing the prod session's token";
    const fetchedAt = this.#clock.now();
    const res = await this.#send(
      "GET",
      `${TOKEN_PATH}${idQuery(PROD_SESSION_QUERY.session, sessionId)}`,
      GATE_DEADLINES.refresh,
      what,
      { headers: { [PROD_SESSION_HEADERS.targetProject]: targetProject } },
    );
    if (res.status === 401) {
      throw new HttpError(
        401,
        "Prod session expired or revoked. The authcalator gate may have restarted. Re-run " +
          "with-prod to start a new session.",
      );
    }
    return this.#token(this.#json(res, what), fetchedAt, what);
  }

  /** `GET /session?id=`: throws unless the session is still active (never mints). */
  async checkSession(sessionId: string): Promise<void> {
    const what = "checking the prod session";
    const res = await this.#send(
      "GET",
      `${SESSION_PATH}${idQuery(PROD_SESSION_QUERY.id, sessionId)}`,
      GATE_DEADLINES.health,
      what,
    );
    this.#json(res, what);
  }

  /** `DELETE /session?id=` within 2 s; failures are reported, never thrown. */
  async revoke(sessionId: string): Promise<string | undefined> {
    try {
      const res = await this.#send(
        "DELETE",
        `${SESSION_PATH}${idQuery(PROD_SESSION_QUERY.id, sessionId)}`,
        GATE_DEADLINES.revoke,
        "revoking the prod session",
      );
      if (res.ok || res.status === 404) return undefined;
      return `the gate answered HTTP ${res.status}`;
    } catch (err) {
      return messageOf(err);
    }
  }
}
