/**
 * The gate's API listener app: one Hono app per listener that serves the API (the main Unix
 * socket, the TCP listener), mounting exactly the dev, prod and session routes and nothing else;
 * the admin routes live in admin_app.ts and are mounted only on the admin socket. Paths and query
 * names come from the wire module (src/gate_api/wire.ts) that the client uses too.
 * @module
 */
import { type Context, Hono } from "hono";
import { HttpError } from "../errors.ts";
import { AUDIT_UNAVAILABLE } from "./audit.ts";
import { cleanMessage, scrubSecrets } from "../secrets.ts";
import { secondsUntil } from "../token_cache.ts";
import type { ApiListener, GateDeps } from "./types.ts";
import { CLOUD_PLATFORM_SCOPE } from "../cli/config.ts";
import {
  GATE_PATHS,
  GATE_QUERY as Q,
  MIN_TOKEN_TTL_SECONDS,
  parseScopes,
  parseTtl,
  type TokenAnswer,
} from "../gate_api/wire.ts";
import { ROUTES_GATE_PREFIX } from "../gate_api/routes_wire.ts";

/** The prod routes' handlers, from the prod layer (confirmation, sessions); all are mounted. */
export interface ProdHandlers {
  prodToken(c: Context): Promise<Response>;
  sessionToken(c: Context): Promise<Response>;
  createSession(c: Context): Promise<Response>;
  getSession(c: Context): Promise<Response>;
  deleteSession(c: Context): Promise<Response>;
}

/** JSON with the gate's fixed headers; `no-transform` keeps Deno.serve from compressing bodies. */
export function json(c: Context, body: unknown, status = 200): Response {
  return c.newResponse(JSON.stringify(body), status as 200, {
    "content-type": "application/json",
    "cache-control": "no-store, no-transform",
  });
}

/** Answers an error as `{error, code?}`; unexpected errors are scrubbed and logged, never echoed raw. */
export function errorResponse(c: Context, err: unknown, log: (m: string) => void): Response {
  if (err instanceof HttpError) {
    // The detail the client must not see (host paths, upstream URLs) goes to the gate's log.
    if (err.logDetail) log(`gate: ${cleanMessage(scrubSecrets(err.logDetail))}`);
    const res = json(c, err.toBody(), err.status);
    for (const [name, value] of Object.entries(err.headers)) res.headers.set(name, value);
    return res;
  }
  log(`gate: unexpected error: ${cleanMessage(scrubSecrets(String(err)))}`);
  return json(c, { error: "internal error" }, 500);
}

/**
 * The app of one API listener (`main`: the Unix socket; `tcp`: the remote listener), built as
 * `createGateApp(deps, listener, prodLayer.handlers(listener), log)`. Every path but `/session`
 * is GET-only (405 even for unknown paths, as gcp-authcalator answers); unknown GET paths are 404.
 */
export function createGateApp(
  deps: GateDeps,
  listener: ApiListener,
  prod: ProdHandlers,
  log: (message: string) => void = (m) => console.error(m),
  /** `/routes/<name>` (issue 11, src/gate/routes_app.ts): any method, streamed both ways. */
  routes?: Hono,
): Hono {
  const app = new Hono();
  const { config, tokens, clock, audit } = deps;

  app.use(async (c, next) => {
    if (
      c.req.method !== "GET" && c.req.path !== GATE_PATHS.session &&
      !(routes && c.req.path.startsWith(ROUTES_GATE_PREFIX))
    ) {
      return json(c, { error: "Method not allowed" }, 405);
    }
    await next();
  });

  app.get(GATE_PATHS.health, async (c) => {
    const warnings = (await deps.healthWarnings?.()) ?? [];
    return json(c, {
      status: "ok",
      uptime_seconds: Math.floor((clock.now() - deps.startedAt) / 1000),
      ...(warnings.length ? { warnings } : {}),
    });
  });
  app.get(GATE_PATHS.identity, async (c) => json(c, { email: await tokens.identityEmail() }));
  app.get(
    GATE_PATHS.projectNumber,
    async (c) => json(c, { project_number: await tokens.projectNumber() }),
  );
  app.get(
    GATE_PATHS.universeDomain,
    async (c) => json(c, { universe_domain: await tokens.universeDomain() }),
  );

  app.get(GATE_PATHS.token, async (c) => {
    // As gcp-authcalator 0.14: a non-empty session wins; a level other than exactly prod is dev.
    if (c.req.query(Q.session)) return prod.sessionToken(c);
    if (c.req.query(Q.level) === "prod") return prod.prodToken(c);
    const ttlParam = parseTtl(
      Q.tokenTtlSeconds,
      c.req.query(Q.tokenTtlSeconds),
      MIN_TOKEN_TTL_SECONDS,
      config.token_ttl_seconds,
    );
    const scopes = parseScopes(c.req.queries(Q.scopes) ?? [], [CLOUD_PLATFORM_SCOPE]);
    const entry = {
      endpoint: GATE_PATHS.token,
      level: "dev" as const,
      socket: listener,
      scopes,
      token_ttl_seconds: ttlParam,
    };
    try {
      const token = await tokens.devToken(scopes, ttlParam ?? config.token_ttl_seconds);
      // Written before the token leaves: a line that cannot be written throws audit_unavailable.
      audit.write({ ...entry, result: "granted" });
      return json(
        c,
        {
          access_token: token.accessToken,
          expires_in: secondsUntil(token.expiresAt, clock.now()),
          token_type: "Bearer",
        } satisfies TokenAnswer,
      );
    } catch (err) {
      logFailedMint(log, `dev token (scopes ${scopes.join(",")}, ${listener} socket)`, err);
      audit.write({ ...entry, result: "error", error: auditError(err) });
      throw err;
    }
  });

  app.get(GATE_PATHS.idToken, async (c) => {
    const audience = c.req.query(Q.audience);
    if (!audience) throw new HttpError(400, "non-empty audience parameter required");
    if (audience.length > 2048) {
      throw new HttpError(400, "audience is too long (2048 characters max)");
    }
    const format = c.req.query(Q.format) ?? "standard";
    if (format !== "standard" && format !== "full") {
      throw new HttpError(400, "format must be standard or full");
    }
    const entry = {
      endpoint: GATE_PATHS.idToken,
      level: "dev" as const,
      socket: listener,
      audience,
    };
    try {
      const idToken = await tokens.idToken(audience, format === "full");
      audit.write({ ...entry, result: "granted" });
      return json(c, { id_token: idToken });
    } catch (err) {
      logFailedMint(log, `identity token (${listener} socket)`, err);
      audit.write({ ...entry, result: "error", error: auditError(err) });
      throw err;
    }
  });

  app.post(GATE_PATHS.session, (c) => prod.createSession(c));
  app.get(GATE_PATHS.session, (c) => prod.getSession(c));
  app.delete(GATE_PATHS.session, (c) => prod.deleteSession(c));
  app.all(GATE_PATHS.session, (c) => json(c, { error: "Method not allowed" }, 405));

  if (routes) app.route("/", routes);
  app.notFound((c) => json(c, { error: "Not found" }, 404));
  app.onError((err, c) => errorResponse(c, err, log));
  return app;
}

/** The `error` of an audit line: an HttpError's user-facing message, else nothing revealing. */
function auditError(err: unknown): string {
  return err instanceof HttpError ? err.message : "internal error";
}

/**
 * Logs a failed mint on the gate's stderr with its reason (HttpErrors; anything else is logged by
 * errorResponse; an unauditable grant by the audit writer). Messages are already scrubbed; the
 * logger scrubs again.
 */
export function logFailedMint(log: (message: string) => void, what: string, err: unknown): void {
  // An unwritable audit log is reported by the audit writer, once per burst, not per request.
  if (!(err instanceof HttpError) || err.code === AUDIT_UNAVAILABLE) return;
  const code = err.code ? ` [${err.code}]` : "";
  log(`gate: ${what} not granted: ${err.status}${code} ${cleanMessage(scrubSecrets(err.message))}`);
}
