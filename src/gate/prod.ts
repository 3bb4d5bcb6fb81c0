/**
 * The gate's prod layer: `/token?level=prod`, `/session` and `/token?session=` behind a human's
 * informed approval, with the rate limiter, the pending queue and the session table; plus the
 * admin app that approves queued requests. Each API listener's app (src/gate/app.ts) mounts the
 * {@link ProdHandlers} of its listener; the admin socket serves {@link ProdLayer.adminApp}.
 *
 * A prod request, in order: its parameters are checked (400/501 before anything else); it gets a
 * pending id and pairing code; its requester is described from the listener's kernel peer; its
 * body is read whole and bounded; it takes its requester's rate-limit slot; a human is asked on
 * the first surface available; the outcome (approved, denied, expired, timed out, cancelled,
 * shutdown) is answered and audited distinctly; a client gone at any point is never granted. A
 * held session (`x-session-hold: 1`) lives only as long as its connection.
 * @module
 */
import type { Context, Hono } from "hono";
import { HttpError } from "../errors.ts";
import { PROD_OUTCOME_CODES } from "../gate_api/prod_outcome.ts";
import { pairingCode } from "../gate_api/pairing_code.ts";
import { SESSION_HOLD_HEADER } from "../gate_api/session_hold.ts";
import { parseWrappedCommand } from "../gate_api/wrapped_command.ts";
import {
  GATE_PATHS,
  GATE_QUERY as Q,
  MIN_SESSION_TTL_SECONDS,
  MIN_TOKEN_TTL_SECONDS,
  newPendingId,
  parseScopes,
  parseTtl,
  PENDING_ID,
  PROD_HEADERS as H,
  type SessionAnswer,
  type TokenAnswer,
} from "../gate_api/wire.ts";
import { CLOUD_PLATFORM_SCOPE } from "../cli/config.ts";
import { secondsUntil } from "../token_cache.ts";
import { createAdminApp } from "./admin_app.ts";
import { json, logFailedMint, type ProdHandlers } from "./app.ts";
import { type AuditEntry, type AuditResult, sessionRef } from "./audit.ts";
import {
  type CommandDisplay,
  describeCommand,
  redactValue,
  sanitizeText,
  truncate,
} from "./command_display.ts";
import {
  type ConfirmDeps,
  type ConfirmOutcome,
  confirmProdAccess,
  type Decision,
} from "./confirm/chain.ts";
import { commandDialogRunner, type DialogRunner } from "./confirm/dialog_runner.ts";
import { processTerminal, type TerminalIO } from "./confirm/terminal.ts";
import { realTimers, type Timers } from "./confirm/timers.ts";
import { heldSessionResponse } from "./held_session.ts";
import { PendingQueue } from "./pending.ts";
import { peerOf, unverified } from "./peer.ts";
import { RateLimiter } from "./rate_limit.ts";
import { BodyError, readBoundedBody } from "./request_body.ts";
import { describeRequester, peerAuditFields, requesterKey, requesterSummary } from "./requester.ts";
import { SessionStore } from "./sessions.ts";
import type { ApiListener, GateDeps } from "./types.ts";
import type { PushDecision, PushDisplay } from "../routes/git_push.ts";

export type { ProdHandlers };

/** The confirmation pieces the prod layer is built with (tests inject fakes). */
export interface ProdLayerOptions {
  /** `Deno.build.os`. */
  platform: string;
  /** The gate's environment (DISPLAY / WAYLAND_DISPLAY decide whether zenity is tried). */
  env: Record<string, string | undefined>;
  runDialog: DialogRunner;
  /** The gate's terminal, only when it has one. */
  terminal?: TerminalIO;
  timers: Timers;
  /** The gate's log (stderr); never given a token or a session id. */
  log: (line: string) => void;
}

/**
 * The prod layer the gate is built with: the prod routes' handlers for each API listener (the
 * listener's app mounts them, see createGateApp), the admin app over the same queue, and shutdown.
 */
export interface ProdLayer {
  handlers(listener: ApiListener): ProdHandlers;
  adminApp: Hono;
  /** Denies every queued request, ends every open dialog or prompt, revokes every session. */
  shutdown(): Promise<void>;
  /**
   * Asks a human about a git push through a route (`push = "approve"`), on the same chain, rate
   * limit and audit as prod tokens; the requester is the listener's kernel peer.
   */
  confirmGitPush(
    c: Context,
    listener: ApiListener,
    push: PushDisplay,
    signal: AbortSignal,
  ): Promise<PushDecision>;
  /** Whether `id` is an approved prod session still live (`level = "prod"` routes); never mints. */
  sessionActive(id: string): Promise<boolean>;
}

// Environment a dialog may see: what a desktop program needs to reach the display, nothing else.
const DIALOG_ENV =
  /^(PATH|HOME|USER|LOGNAME|LANG|LANGUAGE|LC_[A-Z]+|DISPLAY|WAYLAND_DISPLAY|XAUTHORITY|XDG_[A-Z_]+|DBUS_SESSION_BUS_ADDRESS|GTK_[A-Z_]+|GDK_[A-Z_]+|TMPDIR)$/;

/** The dialog's environment: an allow-list of the gate's, so no credential variable reaches it. */
export function dialogEnv(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && DIALOG_ENV.test(k)) out[k] = v;
  return out;
}

/** The real confirmation pieces: zenity/osascript on PATH, the terminal when stdin and stdout are one. */
export function systemProdOptions(
  env: Record<string, string | undefined>,
  log: (line: string) => void = (l) => console.error(l),
): ProdLayerOptions {
  const hasTerminal = Deno.stdin.isTerminal() && Deno.stdout.isTerminal();
  return {
    platform: Deno.build.os,
    env,
    runDialog: commandDialogRunner(dialogEnv(env), realTimers),
    terminal: hasTerminal ? processTerminal() : undefined,
    timers: realTimers,
    log,
  };
}

const MAX_TARGET_PROJECT = 256;

/** The audit `result` of each way a confirmation can end without a grant. */
const OUTCOME_RESULT: Record<Exclude<ConfirmOutcome, "approved">, AuditResult> = {
  denied: "denied",
  expired: "expired",
  timed_out: "timed_out",
  cancelled: "cancelled",
  shutdown: "error",
};

/** The gate's answer for each way a confirmation can end without a grant (codes: prod_outcome.ts). */
export function outcomeError(outcome: Exclude<ConfirmOutcome, "approved">): HttpError {
  switch (outcome) {
    case "denied":
      return new HttpError(403, "Prod access denied by user", PROD_OUTCOME_CODES.denied);
    case "expired":
      return new HttpError(
        408,
        "Prod request expired: nobody approved it on the host in time",
        PROD_OUTCOME_CODES.expired,
      );
    case "timed_out":
      return new HttpError(
        408,
        "Prod request timed out: the approval dialog or terminal prompt got no answer",
        PROD_OUTCOME_CODES.timedOut,
      );
    case "cancelled":
      return new HttpError(
        499,
        "Prod request cancelled: the client went away before access was granted",
        PROD_OUTCOME_CODES.cancelled,
      );
    case "shutdown":
      return new HttpError(
        503,
        "The gate is shutting down; prod access denied",
        PROD_OUTCOME_CODES.shuttingDown,
      );
  }
}

/** Builds the prod layer. */
export function createProdLayer(deps: GateDeps, options: ProdLayerOptions): ProdLayer {
  const { config, clock, tokens, audit } = deps;
  const log = options.log;
  const pending = new PendingQueue({ clock, timers: options.timers, log });
  const limiter = new RateLimiter(clock);
  const sessions = new SessionStore(clock);
  const stopping = new AbortController();
  const confirmDeps: ConfirmDeps = {
    platform: options.platform,
    env: options.env,
    runDialog: options.runDialog,
    terminal: options.terminal,
    pending,
    timers: options.timers,
    log,
  };

  const errorText = (err: unknown) => err instanceof HttpError ? err.message : "internal error";

  /** The steps shared by `/token?level=prod` and `POST /session`. */
  async function acquire(c: Context, listener: ApiListener, kind: "token" | "session") {
    const endpoint = kind === "token" ? GATE_PATHS.token : GATE_PATHS.session;
    const ttlParam = parseTtl(
      Q.tokenTtlSeconds,
      c.req.query(Q.tokenTtlSeconds),
      MIN_TOKEN_TTL_SECONDS,
      config.token_ttl_seconds,
    );
    const sessionTtl = kind === "session"
      ? parseTtl(
        Q.sessionTtlSeconds,
        c.req.query(Q.sessionTtlSeconds),
        MIN_SESSION_TTL_SECONDS,
        config.session_ttl_seconds,
      ) ?? config.session_ttl_seconds
      : undefined;
    // PAM is not in this release: a policy asked for must fail loudly, never be skipped.
    if (c.req.query(Q.pamPolicy) !== undefined || config.pam_policy) {
      throw new HttpError(
        501,
        "PAM entitlements are not served by this release of the gate; " +
          "ask without pam_policy (and unset pam_policy in the gate's configuration)",
        PROD_OUTCOME_CODES.pamNotSupported,
      );
    }
    const scopes = parseScopes(c.req.queries(Q.scopes) ?? [], [CLOUD_PLATFORM_SCOPE]);
    const argv = parseWrappedCommand(c.req.header(H.wrappedCommand));
    const command: CommandDisplay | undefined = argv ? describeCommand(argv) : undefined;
    const targetRaw = c.req.header(H.targetProject)?.trim();
    const target = targetRaw
      ? truncate(sanitizeText(redactValue(targetRaw)), MAX_TARGET_PROJECT)
      : undefined;
    const clientPendingId = c.req.header(H.pendingId);
    if (clientPendingId !== undefined && !PENDING_ID.test(clientPendingId)) {
      throw new HttpError(400, "X-Pending-Id must be exactly 32 lowercase hex characters");
    }
    const holdHeader = c.req.header(SESSION_HOLD_HEADER);
    if (holdHeader !== undefined && (kind !== "session" || holdHeader.trim() !== "1")) {
      throw new HttpError(
        400,
        kind === "session"
          ? `${SESSION_HOLD_HEADER} must be 1 (or absent for an unheld session)`
          : `${SESSION_HOLD_HEADER} applies to POST /session only`,
      );
    }
    const hold = holdHeader !== undefined;
    const tokenTtl = ttlParam ?? config.token_ttl_seconds;
    // Every request gets a pending id (the gate's own when the client sent none) and its code.
    const pendingId = clientPendingId ?? newPendingId();
    const code = await pairingCode(pendingId);
    // A listener that fails to say who is calling makes the caller unverified, never trusted.
    const peer = await peerOf(c).catch(() =>
      unverified("the listener failed to identify the peer")
    );
    const requester = describeRequester(peer, argv);
    const entry: AuditEntry = {
      endpoint,
      level: "prod",
      result: "granted",
      socket: listener,
      scopes,
      token_ttl_seconds: ttlParam,
      command: command?.summary,
      command_argv: command?.argv,
      command_truncated: command?.capped ? true : undefined,
      target_project: target,
      pending_id: pendingId,
      ...peerAuditFields(requester),
      pairing_code: code,
    };

    // The whole request arrives before anything is counted, queued or shown to a human.
    try {
      await readBoundedBody(c.req.raw, { timers: options.timers });
    } catch (err) {
      if (err instanceof BodyError) {
        audit.write({
          ...entry,
          result: err.kind === "gone" ? "cancelled" : "error",
          error: err.message,
        });
      }
      throw err;
    }

    const got = limiter.acquire(requesterKey(peer));
    if (!got.ok) {
      audit.write({ ...entry, result: "rate_limited", error: got.reason });
      throw new HttpError(429, got.reason, PROD_OUTCOME_CODES.rateLimited);
    }
    const slot = got.slot;
    const signal = AbortSignal.any([c.req.raw.signal, stopping.signal]);
    const audited = new WeakSet<object>();
    const ended = (outcome: Exclude<ConfirmOutcome, "approved">, email?: string) => {
      const final = stopping.signal.aborted ? "shutdown" : outcome;
      const err = outcomeError(final);
      audit.write({ ...entry, result: OUTCOME_RESULT[final], email, error: err.message });
      audited.add(err);
      return err;
    };

    let email: string;
    let decision: Decision;
    try {
      if (signal.aborted) throw ended("cancelled");
      email = await tokens.identityEmail();
      decision = await confirmProdAccess(
        { email, command, pendingId, pairingCode: code, requester, signal },
        confirmDeps,
      );
      log(
        `gate: prod access ${decision.outcome} via ${decision.via} for ${sanitizeText(email)}${
          command ? ` (${command.summary})` : ""
        } [code ${code}; from ${requesterSummary(requester)}]: ${decision.why}`,
      );
    } catch (err) {
      slot.release("error");
      if (!audited.has(err as object)) {
        audit.write({ ...entry, result: "error", error: errorText(err) });
        logFailedMint(log, `prod access (${endpoint}, ${listener} socket)`, err);
      }
      throw err;
    }
    if (!decision.approved || signal.aborted) {
      // A client gone (and every surface it ended) is `cancelled`, whatever the surface said.
      const outcome = decision.outcome === "shutdown" || decision.outcome === "approved"
        ? (signal.aborted && !stopping.signal.aborted ? "cancelled" : "shutdown")
        : signal.aborted
        ? "cancelled"
        : decision.outcome;
      slot.release(outcome === "denied" ? "denied" : "error");
      throw ended(outcome, email);
    }
    // The human has decided: free the slot before any Google work.
    slot.release("granted");
    try {
      const token = await tokens.prodToken(scopes, tokenTtl);
      // A client gone before delivery gets nothing: never minted into a session, never `granted`.
      if (signal.aborted) throw ended("cancelled", email);
      const now = clock.now();
      if (kind === "token") {
        audit.write({ ...entry, email });
        const answer: TokenAnswer = {
          access_token: token.accessToken,
          expires_in: secondsUntil(token.expiresAt, now),
          token_type: "Bearer",
          email,
        };
        return json(c, answer);
      }
      const { id, session } = await sessions.create({
        email,
        scopes,
        tokenTtlSeconds: tokenTtl,
        commandSummary: command?.summary,
        targetProject: target,
        sessionTtlSeconds: sessionTtl!,
      });
      const ref = await sessionRef(id);
      try {
        audit.write({ ...entry, email, session_ref: ref, held: hold ? true : undefined });
      } catch (err) {
        await sessions.revoke(id); // a session whose grant is not on record is never handed out
        throw err;
      }
      const first: SessionAnswer = {
        session_id: id,
        access_token: token.accessToken,
        expires_in: secondsUntil(Math.min(token.expiresAt, session.expiresAt), now),
        token_type: "Bearer",
        email,
      };
      if (!hold) return json(c, first);
      return heldSessionResponse({
        first,
        timers: options.timers,
        requestSignal: c.req.raw.signal,
        stopSignal: stopping.signal,
        isLive: async () => (await sessions.validate(id)) !== undefined,
        onEnd: (why) => {
          if (why === "session ended") return;
          void (async () => {
            if (!(await sessions.revoke(id))) return;
            audit.write({
              endpoint: GATE_PATHS.session,
              level: "prod",
              result: "revoked",
              socket: listener,
              email,
              session_ref: ref,
              pending_id: pendingId,
              error: `held session ended: ${why}`,
            });
            log(`gate: prod session for ${sanitizeText(email)} revoked (${why})`);
          })();
        },
      });
    } catch (err) {
      if (!audited.has(err as object)) {
        audit.write({ ...entry, result: "error", email, error: errorText(err) });
        logFailedMint(log, `prod token (${endpoint}, ${listener} socket)`, err);
      }
      throw err;
    }
  }

  function handlers(listener: ApiListener): ProdHandlers {
    return {
      prodToken: (c) => acquire(c, listener, "token"),
      createSession: (c) => acquire(c, listener, "session"),

      async sessionToken(c) {
        const id = c.req.query(Q.session) ?? "";
        const session = await sessions.validate(id);
        if (!session) throw new HttpError(401, "Session expired or invalid");
        const targetRaw = c.req.header(H.targetProject)?.trim();
        const target = targetRaw
          ? truncate(sanitizeText(redactValue(targetRaw)), MAX_TARGET_PROJECT)
          : session.targetProject;
        const entry: AuditEntry = {
          endpoint: GATE_PATHS.token,
          level: "prod",
          result: "granted",
          socket: listener,
          scopes: session.scopes,
          email: session.email,
          session_ref: await sessionRef(id),
          // The summary only: a refresh every few minutes must not repeat the whole argv.
          command: session.commandSummary,
          target_project: target,
        };
        try {
          const token = await tokens.prodToken(session.scopes, session.tokenTtlSeconds);
          audit.write(entry);
          const answer: TokenAnswer = {
            access_token: token.accessToken,
            expires_in: secondsUntil(Math.min(token.expiresAt, session.expiresAt), clock.now()),
            token_type: "Bearer",
          };
          return json(c, answer);
        } catch (err) {
          audit.write({ ...entry, result: "error", error: errorText(err) });
          logFailedMint(log, `prod session token (${listener} socket)`, err);
          throw err;
        }
      },

      async getSession(c) {
        const id = c.req.query(Q.id);
        if (!id) throw new HttpError(400, "Missing session id");
        if (!(await sessions.validate(id))) throw new HttpError(401, "Session expired or invalid");
        return json(c, { status: "active" });
      },

      async deleteSession(c) {
        const id = c.req.query(Q.id);
        if (!id) throw new HttpError(400, "Missing session id");
        const session = await sessions.validate(id);
        if (!session || !(await sessions.revoke(id))) {
          throw new HttpError(404, "Session not found");
        }
        audit.write({
          endpoint: GATE_PATHS.session,
          level: "prod",
          result: "revoked",
          socket: listener,
          email: session.email,
          session_ref: await sessionRef(id),
        });
        log(`gate: prod session for ${sanitizeText(session.email)} revoked`);
        return json(c, { status: "revoked" });
      },
    };
  }

  async function confirmGitPush(
    c: Context,
    listener: ApiListener,
    push: PushDisplay,
    clientSignal: AbortSignal,
  ): Promise<PushDecision> {
    const pendingId = newPendingId();
    const code = await pairingCode(pendingId);
    const peer = await peerOf(c).catch(() =>
      unverified("the listener failed to identify the peer")
    );
    const requester = describeRequester(peer, undefined);
    const what = `git push to ${push.repository} via route '${push.route}'`;
    const entry: AuditEntry = {
      endpoint: `route ${push.route} git-receive-pack`,
      level: "prod",
      result: "granted",
      socket: listener,
      command: truncate(what, 200),
      command_argv: push.refs.map((line) => line.trim()),
      pending_id: pendingId,
      ...peerAuditFields(requester),
      pairing_code: code,
    };
    const got = limiter.acquire(requesterKey(peer));
    if (!got.ok) {
      audit.write({ ...entry, result: "rate_limited", error: got.reason });
      return { approved: false, outcome: "rate_limited", why: got.reason };
    }
    const signal = AbortSignal.any([clientSignal, stopping.signal]);
    let decision: Decision;
    try {
      decision = await confirmProdAccess({
        email: `the credential of route '${push.route}'`,
        pendingId,
        pairingCode: code,
        requester,
        signal,
        push,
      }, confirmDeps);
    } catch (err) {
      got.slot.release("error");
      audit.write({ ...entry, result: "error", error: errorText(err) });
      throw err;
    }
    const outcome: ConfirmOutcome = stopping.signal.aborted
      ? "shutdown"
      : signal.aborted
      ? "cancelled"
      : decision.outcome;
    const approved = decision.approved && outcome === "approved";
    got.slot.release(approved ? "granted" : outcome === "denied" ? "denied" : "error");
    log(
      `gate: ${sanitizeText(what)} ${outcome} via ${decision.via} ` +
        `[code ${code}; from ${requesterSummary(requester)}]: ${decision.why}`,
    );
    // A push whose approval is not on record is never forwarded (audit.write throws).
    audit.write(
      approved ? entry : {
        ...entry,
        result: OUTCOME_RESULT[outcome as Exclude<ConfirmOutcome, "approved">],
        error: decision.why,
      },
    );
    return { ...decision, approved, outcome };
  }

  const adminApp = createAdminApp({
    pending,
    audit,
    clock,
    startedAt: deps.startedAt,
    log,
  });

  return {
    handlers,
    adminApp,
    confirmGitPush,
    sessionActive: async (id) => (await sessions.validate(id)) !== undefined,
    shutdown() {
      stopping.abort();
      pending.denyAll();
      const n = sessions.revokeAll();
      if (n) log(`gate: revoked ${n} prod session${n === 1 ? "" : "s"}`);
      return Promise.resolve();
    },
  };
}
