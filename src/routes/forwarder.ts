/**
 * The gate's upstream forwarder for routed calls (issue 11): sends one validated call to its
 * route's origin with the route's credential injected, and streams both bodies without buffering
 * (server-sent events pass through as the upstream writes them).
 *
 * Safety rules, each enforced here: the client's own credential headers, hop-by-hop fields (RFC
 * 9110 §7.6.1, and every field `Connection` names) and the gate's `x-route-*` headers are dropped
 * before injection; the URL is the route's origin + base path + a target that parseRouteTarget
 * already refused every escape from; redirects are never followed (a Location on the route's own
 * origin comes back route-relative, another origin's unchanged, and the credential never goes
 * anywhere but the route's origin); response headers that would carry the credential back are
 * dropped; request and response bodies are capped per route; the connection and response head
 * wait is bounded, a body that stops moving for `idleTimeoutMs` is cut, and the upstream request
 * is aborted when the client goes away. Outbound calls use HTTPS_PROXY / NO_PROXY.
 * @module
 */
import type { Clock } from "../clock.ts";
import type { Timers } from "../gate/confirm/timers.ts";
import { realTimers } from "../gate/confirm/timers.ts";
import {
  CLIENT_CREDENTIAL_HEADERS,
  HOP_BY_HOP_HEADERS,
  ROUTE_ERROR_CODES,
  ROUTE_HEADERS,
  ROUTE_REQUEST_HEADER_NAMES,
  type RouteErrorCode,
  type RouteTarget,
} from "../gate_api/routes_wire.ts";
import type { CredentialAuth, RouteConfig } from "./route_config.ts";

/** A refusal the gate answers itself (status + code from the wire). */
export class RouteError extends Error {
  constructor(readonly status: number, readonly code: RouteErrorCode, message: string) {
    super(message);
  }
}

/** How one forwarded call ended, for its audit line (never holds the credential). */
export interface ForwardOutcome {
  status: number;
  bytesUp: number;
  bytesDown: number;
  /** Why the call or its response stream ended early ("" when it completed). */
  error: string;
}

/** What {@link forward} returns: the response to stream back, and when it is finished. */
export interface Forwarded {
  response: Response;
  /** Settles when the response body ended, failed, or was cancelled by the client. */
  done: Promise<ForwardOutcome>;
}

/** One call to forward. */
export interface ForwardCall {
  route: RouteConfig;
  method: string;
  target: RouteTarget;
  headers: Headers;
  body: ReadableStream<Uint8Array> | null;
  /** Aborts when the client disconnects. */
  signal: AbortSignal;
  credential: string;
}

/** The upstream fetch (a Deno.HttpClient per route carries the CA and proxy). */
export type RouteFetch = (url: string, init: RequestInit) => Promise<Response>;

/** Request bodies up to this size that declare a Content-Length are sent with it (not chunked). */
export const FIXED_LENGTH_MAX_BYTES = 1024 * 1024;

/** The header `auth` sends the credential in, and its value. */
export function credentialHeader(auth: CredentialAuth, credential: string): [string, string] {
  switch (auth.kind) {
    case "bearer":
      return ["authorization", `Bearer ${credential}`];
    case "token":
      return ["authorization", `token ${credential}`];
    case "basic":
      return ["authorization", `Basic ${btoa(`${auth.user}:${credential}`)}`];
    case "header":
      return [auth.header, credential];
  }
}

/** Whether the method and target are within the route's narrowing; throws the refusal otherwise. */
export function checkNarrowing(route: RouteConfig, method: string, target: RouteTarget): void {
  if (route.methods !== undefined && !route.methods.includes(method)) {
    throw new RouteError(
      405,
      ROUTE_ERROR_CODES.methodNotAllowed,
      `route ${route.name} allows only ${route.methods.join(", ")}`,
    );
  }
  if (
    route.pathPrefixes !== undefined &&
    !route.pathPrefixes.some((p) =>
      target.path === p || target.path.startsWith(p.endsWith("/") ? p : `${p}/`)
    )
  ) {
    throw new RouteError(
      403,
      ROUTE_ERROR_CODES.pathNotAllowed,
      `route ${route.name} serves only paths under ${route.pathPrefixes.join(", ")}`,
    );
  }
}

/** The headers sent upstream: the client's, minus everything the safety rules drop, plus the credential. */
export function upstreamHeaders(route: RouteConfig, client: Headers, credential: string): Headers {
  const out = new Headers();
  const named = connectionNamed(client);
  const [authName, authValue] = credentialHeader(route.auth, credential);
  const drop = new Set([
    ...HOP_BY_HOP_HEADERS,
    ...CLIENT_CREDENTIAL_HEADERS,
    ...ROUTE_REQUEST_HEADER_NAMES,
    "host",
    "content-length",
    "expect",
    authName,
  ]);
  for (const [name, value] of client) {
    if (drop.has(name) || named.has(name)) continue;
    out.append(name, value);
  }
  // Deno's fetch transparently decodes a gzip/br answer to a request that accepts it but keeps
  // the upstream's Content-Encoding and Content-Length, which would hand the client a body that
  // contradicts its headers. Asking for identity makes the bytes the client gets the upstream's.
  out.set("accept-encoding", "identity");
  out.set(authName, authValue);
  return out;
}

/** Response headers sent back: hop-by-hop dropped, any field holding the credential dropped, Location made safe. */
export function downstreamHeaders(
  route: RouteConfig,
  upstream: Headers,
  upstreamUrl: string,
  credential: string,
): Headers {
  const out = new Headers();
  const named = connectionNamed(upstream);
  const [, injected] = credentialHeader(route.auth, credential);
  for (const [name, value] of upstream) {
    if (HOP_BY_HOP_HEADERS.includes(name) || named.has(name) || name === "content-length") continue;
    // Only the gate marks its own answers: an upstream cannot pose as the gate.
    if (name === ROUTE_HEADERS.error) continue;
    if (value.includes(credential) || value.includes(injected)) continue;
    if (name === "location") {
      out.set(name, routeLocation(route, value, upstreamUrl));
      continue;
    }
    out.append(name, value);
  }
  const length = upstream.get("content-length");
  if (length !== null && !named.has("content-length")) out.set("content-length", length);
  return out;
}

/** A Location on the route's own origin and base path becomes route-relative; others are kept. */
function routeLocation(route: RouteConfig, value: string, upstreamUrl: string): string {
  let url: URL;
  try {
    url = new URL(value, upstreamUrl);
  } catch {
    return value;
  }
  if (url.origin !== route.origin) return url.href;
  const base = route.basePath;
  if (base !== "" && url.pathname !== base && !url.pathname.startsWith(`${base}/`)) return url.href;
  return `${url.pathname.slice(base.length) || "/"}${url.search}${url.hash}`;
}

function connectionNamed(headers: Headers): Set<string> {
  const v = headers.get("connection");
  if (v === null) return new Set();
  return new Set(v.split(",").map((s) => s.trim().toLowerCase()).filter((s) => s !== ""));
}

/** Dependencies of {@link forward}. */
export interface ForwardDeps {
  fetch: RouteFetch;
  timers?: Timers;
  /**
   * The clock `timers` run on. With it, a chunk only stamps the time and the idle timer re-arms
   * itself when it fires early (no timer churn on a large download); without it, every chunk
   * re-arms the timer.
   */
  clock?: Clock;
}

/**
 * Forwards `call` to its route's upstream. Throws {@link RouteError} for what is refused or fails
 * before the response head; afterwards the response body streams and `done` reports the end.
 */
export async function forward(call: ForwardCall, deps: ForwardDeps): Promise<Forwarded> {
  const { route } = call;
  const timers = deps.timers ?? realTimers;
  checkNarrowing(route, call.method, call.target);

  const declared = call.headers.get("content-length");
  if (declared !== null && Number(declared) > route.maxRequestBytes) {
    throw new RouteError(
      413,
      ROUTE_ERROR_CODES.requestTooLarge,
      `the request body is over route ${route.name}'s limit of ${route.maxRequestBytes} bytes`,
    );
  }

  const upstream = new AbortController();
  const onClientGone = () => upstream.abort(new Error("the client went away"));
  if (call.signal.aborted) onClientGone();
  call.signal.addEventListener("abort", onClientGone, { once: true });
  const release = () => call.signal.removeEventListener("abort", onClientGone);

  let bytesUp = 0;
  let requestTooLarge = false;
  let armHeadTimer = () => {};
  let body: ReadableStream<Uint8Array> | Uint8Array<ArrayBuffer> | undefined;
  if (call.body !== null && call.method !== "GET" && call.method !== "HEAD") {
    body = call.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          bytesUp += chunk.byteLength;
          armHeadTimer();
          if (bytesUp > route.maxRequestBytes) {
            requestTooLarge = true;
            controller.error(new Error("request body over the route's limit"));
            upstream.abort(new Error("request body over the route's limit"));
            return;
          }
          controller.enqueue(chunk);
        },
      }),
      { signal: upstream.signal },
    );
  } else {
    await call.body?.cancel().catch(() => {});
  }
  // Deno's fetch sends every streamed body chunked. A small body the client sent with a
  // Content-Length is read whole first (it is already on its way: at most
  // FIXED_LENGTH_MAX_BYTES, each read bounded by the gate's server) and sent with its length,
  // as git and API clients send small bodies, for upstreams that refuse chunked uploads.
  const declaredBytes = declared === null ? undefined : Number(declared);
  if (
    body instanceof ReadableStream && declaredBytes !== undefined &&
    declaredBytes <= FIXED_LENGTH_MAX_BYTES
  ) {
    try {
      body = new Uint8Array(await new Response(body).arrayBuffer());
    } catch {
      release();
      throw new RouteError(
        499,
        ROUTE_ERROR_CODES.upstreamUnreachable,
        "the request body did not arrive whole",
      );
    }
  }

  const url = `${route.origin}${route.basePath}${call.target.path}${
    call.target.query === "" ? "" : `?${call.target.query}`
  }`;
  let headTimedOut = false;
  let cancelHeadTimer = () => {};
  // The wait for the upstream's head counts from the last request byte sent: a long upload that
  // keeps moving (a large git push) is not cut, one that stalls is.
  armHeadTimer = () => {
    cancelHeadTimer();
    cancelHeadTimer = timers.setTimeout(() => {
      headTimedOut = true;
      upstream.abort(new Error("upstream head timeout"));
    }, route.headersTimeoutMs);
  };
  armHeadTimer();

  let response: Response;
  try {
    response = await deps.fetch(url, {
      method: call.method,
      headers: upstreamHeaders(route, call.headers, call.credential),
      body,
      redirect: "manual",
      signal: upstream.signal,
      // @ts-ignore: Deno needs duplex for a streamed request body.
      duplex: body instanceof ReadableStream ? "half" : undefined,
    });
  } catch {
    armHeadTimer = () => {};
    cancelHeadTimer();
    release();
    if (requestTooLarge) {
      throw new RouteError(
        413,
        ROUTE_ERROR_CODES.requestTooLarge,
        `the request body is over route ${route.name}'s limit of ${route.maxRequestBytes} bytes`,
      );
    }
    if (headTimedOut) {
      throw new RouteError(
        504,
        ROUTE_ERROR_CODES.upstreamTimeout,
        `route ${route.name}'s upstream did not answer within ${route.headersTimeoutMs / 1000}s`,
      );
    }
    if (call.signal.aborted) {
      throw new RouteError(499, ROUTE_ERROR_CODES.upstreamUnreachable, "the client went away");
    }
    throw new RouteError(
      502,
      ROUTE_ERROR_CODES.upstreamUnreachable,
      `route ${route.name}'s upstream could not be reached`,
    );
  }
  // The head came: from here the upload may go on (full duplex) with no head wait.
  armHeadTimer = () => {};
  cancelHeadTimer();

  const length = response.headers.get("content-length");
  if (call.method !== "HEAD" && length !== null && Number(length) > route.maxResponseBytes) {
    upstream.abort(new Error("response over limit"));
    await response.body?.cancel().catch(() => {});
    release();
    throw new RouteError(
      502,
      ROUTE_ERROR_CODES.responseTooLarge,
      `route ${route.name}'s upstream answer is over its limit of ${route.maxResponseBytes} bytes`,
    );
  }

  const headers = downstreamHeaders(route, response.headers, url, call.credential);
  let resolveDone!: (o: ForwardOutcome) => void;
  const done = new Promise<ForwardOutcome>((r) => resolveDone = r);
  let bytesDown = 0;
  let finished = false;
  let cancelIdle = () => {};
  const finish = (error: string) => {
    if (finished) return;
    finished = true;
    cancelIdle();
    release();
    resolveDone({ status: response.status, bytesUp, bytesDown, error });
  };

  if (response.body === null) {
    finish("");
    return { response: new Response(null, { status: response.status, headers }), done };
  }

  // The idle timer: when no chunk came for idleTimeoutMs the upstream call is aborted.
  const clock = deps.clock;
  let lastChunkAt = clock?.now() ?? 0;
  const armIdle = (ms = route.idleTimeoutMs) => {
    cancelIdle();
    cancelIdle = timers.setTimeout(() => {
      if (clock) {
        const quiet = clock.now() - lastChunkAt;
        if (quiet < route.idleTimeoutMs) return armIdle(route.idleTimeoutMs - quiet);
      }
      upstream.abort(new Error("idle"));
      finish(`no data from the upstream for ${route.idleTimeoutMs / 1000}s`);
    }, ms);
  };
  armIdle();
  const reader = response.body.getReader();
  const out = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch {
        const why = finished ? "" : "the upstream stream failed";
        finish(why);
        controller.error(new Error("the upstream stream ended early"));
        return;
      }
      if (r.done) {
        finish("");
        controller.close();
        return;
      }
      bytesDown += r.value.byteLength;
      if (bytesDown > route.maxResponseBytes) {
        upstream.abort(new Error("response over limit"));
        finish(`the response is over the route's limit of ${route.maxResponseBytes} bytes`);
        controller.error(new Error("response over the route's limit"));
        return;
      }
      if (clock) lastChunkAt = clock.now();
      else armIdle();
      controller.enqueue(r.value);
    },
    cancel() {
      upstream.abort(new Error("the client went away"));
      finish("the client went away");
      reader.cancel().catch(() => {});
    },
  }, { highWaterMark: 0 });
  return { response: new Response(out, { status: response.status, headers }), done };
}
