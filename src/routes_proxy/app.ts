/**
 * The container-side routes listener (issue 11): a Hono app on the metadata-proxy's second
 * loopback port that passes `http://127.0.0.1:<routes_port>/<name>/<rest>` to the gate over the
 * same {@link GateTransport} as tokens, as `<method> /routes/<name>` with the target in a header
 * (src/gate_api/routes_wire.ts). It holds no credential and decides nothing about upstreams: the
 * gate injects the credential and applies each route's rules. What it does itself: refuse what
 * only it can see (a foreign `Host`, an absolute-form target, a malformed route name), drop
 * hop-by-hop fields and the client's own credentials, stream both bodies without buffering, bound
 * the wait for the gate's answer head, cut a stalled stream, and cancel the gate exchange (so the
 * upstream request) when the client leaves. API clients send no `Metadata-Flavor`, which is why
 * this is a listener of its own and the metadata port's rules stay untouched.
 * @module
 */
import { Hono } from "hono";
import type { Clock } from "../clock.ts";
import { systemClock } from "../clock.ts";
import type { Timers } from "../gate/confirm/timers.ts";
import { realTimers } from "../gate/confirm/timers.ts";
import {
  CLIENT_CREDENTIAL_HEADERS,
  HOP_BY_HOP_HEADERS,
  ROUTE_HEADERS,
  ROUTE_REQUEST_HEADER_NAMES,
  routeGatePath,
} from "../gate_api/routes_wire.ts";
import { type GateTransport, GateUnreachableError } from "../gate_api/transport.ts";
import { isRefusal, splitRoutedRequest } from "./target.ts";
import { StreamIdleError, watchIdle } from "./idle_stream.ts";

/** Default bound on the wait for the gate's answer head (connect + upstream head). */
export const DEFAULT_HEAD_TIMEOUT_MS = 600_000;
/** Default idle time after which a stream that moves nothing is cut. */
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;

/** What the routes listener needs. */
export interface RoutesProxyDeps {
  transport: GateTransport;
  /** Whether a `Host` header names this listener (src/routes_proxy/target.ts routesHostAllowed). */
  hostAllowed: (host: string | null) => boolean;
  /**
   * The approved with-prod session this listener speaks for (the temporary proxy of with-prod);
   * sent as {@link ROUTE_HEADERS.session} so the gate serves `level = "prod"` routes. Never logged.
   */
  session?: string;
  /** Bound on the wait for the answer head; the gate's own upstream bound is normally shorter. */
  headTimeoutMs?: number;
  /** A body (either way) that moves nothing this long is cut. */
  idleTimeoutMs?: number;
  clock?: Clock;
  timers?: Timers;
  /** One line per failure the client cannot see the cause of; never a header value. */
  log?: (line: string) => void;
}

/** The client's connection, when the server says (Deno.serve's `info.remoteAddr`). */
export interface RoutesProxyEnv {
  Bindings: { remoteAddr?: Deno.NetAddr };
}

/** Methods whose requests carry no body. */
const BODYLESS = new Set(["GET", "HEAD"]);

function jsonError(status: number, error: string): Response {
  return new Response(JSON.stringify({ error }) + "\n", {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
}

/** Fields named by `Connection` plus the fixed hop-by-hop set. */
function hopByHop(headers: Headers): Set<string> {
  const drop = new Set(HOP_BY_HOP_HEADERS);
  for (const token of (headers.get("connection") ?? "").split(",")) {
    const name = token.trim().toLowerCase();
    if (name !== "") drop.add(name);
  }
  return drop;
}

/** The request fields sent to the gate: end-to-end fields minus the client's own credentials. */
export function forwardedRequestHeaders(headers: Headers): Record<string, string> {
  const drop = hopByHop(headers);
  for (const name of CLIENT_CREDENTIAL_HEADERS) drop.add(name);
  for (const name of ROUTE_REQUEST_HEADER_NAMES) drop.add(name);
  drop.add("host");
  drop.add("content-length");
  const out: Record<string, string> = {};
  for (const [name, value] of headers) if (!drop.has(name)) out[name] = value;
  return out;
}

/**
 * The answer fields sent to the client: end-to-end fields; a `Location` the gate made
 * route-relative (`/…`) is put back under `/<name>` so the client stays on this listener.
 */
export function returnedResponseHeaders(headers: Headers, name: string): Headers {
  const drop = hopByHop(headers);
  drop.add("content-length");
  const out = new Headers();
  for (const [field, value] of headers) {
    if (drop.has(field)) continue;
    if (field === "set-cookie") continue; // appended one by one below
    out.set(field, value);
  }
  for (const cookie of headers.getSetCookie()) out.append("set-cookie", cookie);
  if (headers.has("content-length") && !headers.has("transfer-encoding")) {
    out.set("content-length", headers.get("content-length")!);
  }
  const location = out.get("location");
  if (location !== null && location.startsWith("/") && !location.startsWith("//")) {
    out.set("location", `/${name}${location}`);
  }
  return out;
}

/** The routes listener's app: every method on every path goes through one handler. */
export function createRoutesProxyApp(deps: RoutesProxyDeps): Hono<RoutesProxyEnv> {
  const headTimeoutMs = deps.headTimeoutMs ?? DEFAULT_HEAD_TIMEOUT_MS;
  const idleMs = deps.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const clock = deps.clock ?? systemClock;
  const timers = deps.timers ?? realTimers;
  const log = deps.log ?? (() => {});
  const app = new Hono<RoutesProxyEnv>();

  app.all("*", async (c) => {
    const req = c.req.raw;
    const routed = splitRoutedRequest(req.url, req.headers.get("host"), deps.hostAllowed);
    if (isRefusal(routed)) return jsonError(routed.status, routed.error);

    // One controller for the whole exchange: the client leaving, the head bound and an idle
    // body each abort it, and aborting it cancels the gate exchange and so the upstream call.
    const exchange = new AbortController();
    const abort = (reason: unknown) => {
      if (!exchange.signal.aborted) exchange.abort(reason);
    };
    const onClientGone = () => abort(new DOMException("the client went away", "AbortError"));
    req.signal.addEventListener("abort", onClientGone, { once: true });
    const release = () => req.signal.removeEventListener("abort", onClientGone);

    const headers = forwardedRequestHeaders(req.headers);
    headers[ROUTE_HEADERS.target] = routed.target;
    const remote = c.env?.remoteAddr;
    if (remote) headers[ROUTE_HEADERS.requester] = `client=${remote.hostname}:${remote.port}`;
    if (deps.session !== undefined) headers[ROUTE_HEADERS.session] = deps.session;

    const body = BODYLESS.has(req.method) || req.body === null ? undefined : watchIdle(req.body, {
      idleMs,
      clock,
      timers,
      what: "the request body",
      onStop: (reason) => {
        if (reason instanceof StreamIdleError) log(`route ${routed.name}: ${reason.message}; cut`);
        abort(reason);
      },
    });

    let headTimedOut = false;
    const cancelHeadTimer = timers.setTimeout(() => {
      headTimedOut = true;
      abort(new DOMException("no answer head in time", "TimeoutError"));
    }, headTimeoutMs);
    let answer: Response;
    try {
      answer = await deps.transport.send({
        method: req.method,
        path: routeGatePath(routed.name),
        headers,
        body,
        signal: exchange.signal,
      });
    } catch (err) {
      release();
      if (headTimedOut) {
        return jsonError(
          504,
          `the gate sent no answer for route ${routed.name} within ${
            Math.round(headTimeoutMs / 1000)
          } s`,
        );
      }
      if (req.signal.aborted) return jsonError(499, "the client went away");
      if (err instanceof GateUnreachableError) {
        log(`route ${routed.name}: the gate is unreachable: ${err.reason}`);
        return jsonError(502, `the gate is unreachable (${err.reason}): ${deps.transport.hint}`);
      }
      log(`route ${routed.name}: the exchange with the gate failed: ${(err as Error).name}`);
      return jsonError(502, "the exchange with the gate failed");
    } finally {
      cancelHeadTimer();
    }

    const out = returnedResponseHeaders(answer.headers, routed.name);
    if (answer.body === null || req.method === "HEAD") {
      answer.body?.cancel().catch(() => {});
      release();
      return new Response(null, {
        status: answer.status,
        statusText: answer.statusText,
        headers: out,
      });
    }
    const streamed = watchIdle(answer.body, {
      idleMs,
      clock,
      timers,
      what: "the response body",
      onStop: (reason) => {
        release();
        if (reason instanceof StreamIdleError) log(`route ${routed.name}: ${reason.message}; cut`);
        abort(reason);
      },
    });
    return new Response(streamed, {
      status: answer.status,
      statusText: answer.statusText,
      headers: out,
    });
  });
  return app;
}
