/**
 * The gate's routed-call listener app (issue 11): `/routes/<name>` on the main socket and the TCP
 * listener. It finds the route, validates the raw target the container proxy sent
 * (src/gate_api/routes_wire.ts), applies the route's level and push policy, reads the credential
 * on the host and hands the call to the forwarder (src/routes/forwarder.ts), then writes one audit
 * line per call when its response has ended. Every answer the gate makes itself carries
 * `x-route-error`; the credential and host paths never reach a response, log or audit line.
 * @module
 */
import { type Context, Hono } from "hono";
import type { Clock } from "../clock.ts";
import type { AuditEntry, AuditLog, AuditResult } from "./audit.ts";
import { AUDIT_UNAVAILABLE, auditUnavailable } from "./audit.ts";
import type { ApiListener } from "./types.ts";
import type { Timers } from "./confirm/timers.ts";
import {
  auditedTarget,
  cleanRequester,
  parseRouteTarget,
  ROUTE_ERROR_CODES,
  ROUTE_HEADERS,
  type RouteListing,
  ROUTES_GATE_PREFIX,
  ROUTES_LIST_PATH,
  type RouteTarget,
  RouteTargetError,
} from "../gate_api/routes_wire.ts";
import type { RouteConfig } from "../routes/route_config.ts";
import type { CredentialSource } from "../routes/credential_source.ts";
import { CredentialUnavailableError } from "../routes/credential_source.ts";
import { forward, RouteError, type RouteFetch } from "../routes/forwarder.ts";
import { cleanMessage } from "../secrets.ts";
import { gitRequestKind } from "../routes/git_push.ts";
import { PushAnswer } from "../routes/route_policy.ts";

/** One configured route, ready to serve: its config, credential source and upstream fetch. */
export interface ServedRoute {
  config: RouteConfig;
  credential: CredentialSource;
  fetch: RouteFetch;
}

/**
 * Policy hooks A3 fills (prod sessions, git push approval). Each throws a {@link RouteError} to
 * refuse; absent hooks fail closed (prod routes refused, pushes refused).
 */
export interface RoutePolicy {
  /** Called for `level = "prod"` routes; must throw unless the call carries an approved session. */
  requireProdSession?(c: Context, route: RouteConfig): Promise<void>;
  /**
   * Called for a git smart-HTTP push on a `push = "approve"` route; may read and replace the body
   * (it returns the body to forward). Absent: every push is refused.
   */
  approvePush?(
    c: Context,
    route: RouteConfig,
    target: RouteTarget,
    body: ReadableStream<Uint8Array> | null,
  ): Promise<ReadableStream<Uint8Array> | null>;
}

/** Dependencies of {@link createRoutesApp}. */
export interface RoutesAppDeps {
  routes: ReadonlyMap<string, ServedRoute>;
  audit: AuditLog;
  clock: Clock;
  listener: ApiListener;
  log: (message: string) => void;
  timers?: Timers;
  policy?: RoutePolicy;
  /** `audit_required`: routed calls are refused while the audit log cannot be written (default). */
  auditRequired?: boolean;
}

/** Whether `target` is a git smart-HTTP push (receive-pack discovery or the push itself). */
export function isGitPush(target: RouteTarget, method = "GET"): boolean {
  // Decoded, case-insensitive, WebDAV verbs included: an upstream that decodes `git%2Dreceive-pack`
  // must not receive a push the gate took for something else.
  return gitRequestKind(method, target.path, target.query) !== "other";
}

/** The gate's own answer for a routed call. */
function refusal(status: number, code: string, message: string): Response {
  if (code === ROUTE_ERROR_CODES.pushRefused || code === ROUTE_ERROR_CODES.pushDenied) {
    // git prints a text/plain body as `remote:` lines (and nothing of a JSON one).
    return new Response(message + "\n", {
      status,
      headers: {
        "content-type": "text/plain; charset=utf-8",
        "cache-control": "no-store",
        [ROUTE_HEADERS.error]: code,
      },
    });
  }
  return new Response(JSON.stringify({ error: message, code }) + "\n", {
    status,
    headers: {
      "content-type": "application/json",
      "cache-control": "no-store",
      [ROUTE_HEADERS.error]: code,
    },
  });
}

/** The Hono app serving `/routes/<name>`; mount it on an API listener's app. */
export function createRoutesApp(deps: RoutesAppDeps): Hono {
  const app = new Hono();
  const names = [...deps.routes.keys()].sort();

  // The listing for the container's `routes env` and `git-setup`: never a credential or its source.
  const listing: RouteListing = {
    routes: names.map((name) => {
      const { config } = deps.routes.get(name)!;
      return {
        name,
        upstream: `${config.origin}${config.basePath}`,
        level: config.level,
        git: config.auth.kind === "basic",
        ...(config.preset ? { preset: config.preset } : {}),
      };
    }),
  };
  app.get(ROUTES_LIST_PATH, (c) => c.json(listing, 200, { "cache-control": "no-store" }));

  app.all(`${ROUTES_GATE_PREFIX}:name{.*}`, async (c) => {
    const started = deps.clock.now();
    const name = c.req.param("name");
    const served = deps.routes.get(name);
    const requester = cleanRequester(c.req.header(ROUTE_HEADERS.requester) ?? null);
    const method = c.req.method;
    const base: AuditEntry = {
      endpoint: ROUTES_GATE_PREFIX.slice(0, -1),
      level: served?.config.level ?? "dev",
      result: "error",
      socket: deps.listener,
      route: served ? name : undefined,
      method,
      requester,
    };
    const refuse = (status: number, code: string, message: string, path?: string) => {
      const result: AuditResult = status === 403 || status === 405 ? "denied" : "error";
      write(deps, {
        ...base,
        result,
        path,
        status,
        error: code,
        duration_ms: deps.clock.now() - started,
      });
      c.req.raw.body?.cancel().catch(() => {});
      return refusal(status, code, message);
    };

    if (served === undefined) {
      return refuse(
        404,
        ROUTE_ERROR_CODES.unknownRoute,
        names.length === 0
          ? "no routes are configured on the gate ([routes.<name>] in its config)"
          : `no route named ${JSON.stringify(name.slice(0, 40))} is configured on the gate ` +
            `(configured: ${names.join(", ")})`,
      );
    }
    const route = served.config;
    let target: RouteTarget;
    try {
      target = parseRouteTarget(c.req.header(ROUTE_HEADERS.target));
    } catch (err) {
      if (!(err instanceof RouteTargetError)) throw err;
      return refuse(400, ROUTE_ERROR_CODES.badTarget, `route ${name}: ${err.message}`);
    }
    const path = auditedTarget(target);

    let body: ReadableStream<Uint8Array> | null = c.req.raw.body;
    try {
      if (route.level === "prod") {
        if (deps.policy?.requireProdSession === undefined) {
          throw new RouteError(
            403,
            ROUTE_ERROR_CODES.prodSessionRequired,
            `route ${name} is a prod route: use it from inside an approved with-prod session`,
          );
        }
        await deps.policy.requireProdSession(c, route);
      }
      if (isGitPush(target, method)) {
        if (route.push !== "approve" || deps.policy?.approvePush === undefined) {
          throw new RouteError(
            403,
            ROUTE_ERROR_CODES.pushRefused,
            `git push through route ${name} is refused by the gate; push from the host, or set ` +
              `push = "approve" on [routes.${name}] to approve each push there`,
          );
        }
        body = await deps.policy.approvePush(c, route, target, body);
      }
    } catch (err) {
      if (err instanceof PushAnswer) {
        // git's own answer (report-status rejection or a text refusal), audited like a refusal.
        refuse(err.status === 200 ? 403 : err.status, err.code, err.message, path).body?.cancel();
        const answer = new Response(err.response.body, err.response);
        answer.headers.set(ROUTE_HEADERS.error, err.code);
        return answer;
      }
      if (err instanceof RouteError) return refuse(err.status, err.code, err.message, path);
      throw err;
    }

    // Fail closed: a call whose audit line could not be written is not started (the line is
    // written when the call ends, so this refuses from the first unwritable line on).
    if ((deps.auditRequired ?? true) && deps.audit.healthy?.() === false) {
      const err = auditUnavailable();
      return refuse(err.status, err.code ?? AUDIT_UNAVAILABLE, err.message, path);
    }

    let credential: string;
    try {
      credential = await served.credential.get(c.req.raw.signal);
    } catch (err) {
      // The reason may name a host path: it goes to the gate's log, not to the container.
      const why = err instanceof CredentialUnavailableError ? err.message : "internal error";
      deps.log(`gate: ${cleanMessage(why)}`);
      return refuse(
        503,
        ROUTE_ERROR_CODES.credentialUnavailable,
        `route ${name}'s credential is unavailable on the host (the gate's log says why)`,
        path,
      );
    }

    let forwarded;
    try {
      forwarded = await forward({
        route,
        method,
        target,
        headers: c.req.raw.headers,
        body,
        signal: c.req.raw.signal,
        credential,
      }, { fetch: served.fetch, timers: deps.timers, clock: deps.clock });
    } catch (err) {
      if (err instanceof RouteError) return refuse(err.status, err.code, err.message, path);
      throw err;
    }
    forwarded.done.then((o) => {
      write(deps, {
        ...base,
        result: o.error === "" ? "granted" : "error",
        path,
        status: o.status,
        bytes_up: o.bytesUp,
        bytes_down: o.bytesDown,
        duration_ms: deps.clock.now() - started,
        error: o.error === "" ? undefined : o.error,
      });
    });
    return forwarded.response;
  });
  return app;
}

/** Writes an audit line; a line that cannot be written is reported by the audit writer itself. */
function write(deps: RoutesAppDeps, entry: AuditEntry): void {
  try {
    deps.audit.write(entry);
  } catch {
    // The response has already left; the writer logs the failure once per burst.
  }
}
