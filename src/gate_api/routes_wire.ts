/**
 * The wire of routed API calls (issue 11), one home for the gate (src/gate/routes_app.ts), the
 * container-side routes listener (src/routes_proxy/) and the with-prod temporary proxy, so the
 * ends cannot drift.
 *
 * A client in the container calls `http://127.0.0.1:<routes_port>/<name>/<rest>?<query>`. The
 * container proxy sends the gate `<method> /routes/<name>` with the ORIGINAL `/<rest>?<query>`
 * verbatim in {@link ROUTE_HEADERS.target}. The target travels in a header, not in the gate's
 * path, because a URL parser normalises `..`, `%2e%2e` and `\` before any handler could refuse
 * them; the gate validates the raw target itself ({@link parseRouteTarget}) and joins it to the
 * route's upstream base, so nothing in it can leave the route's origin.
 *
 * Every answer the GATE itself makes (not the upstream's) carries {@link ROUTE_HEADERS.error}
 * with one of {@link ROUTE_ERROR_CODES} and a JSON body `{error, code}`; an answer without that
 * header is the upstream's, streamed through. A `Location` the upstream sends for its own origin
 * comes back as a route-relative path (`/…`): the container proxy prefixes `/<name>`; a Location
 * to another origin is passed unchanged (the client follows it without the credential, which
 * never left the gate).
 * @module
 */

/** The gate path prefix of routed calls (main socket and TCP listener). */
export const ROUTES_GATE_PREFIX = "/routes/";

/** The gate path for route `name` (the target goes in {@link ROUTE_HEADERS.target}). */
export function routeGatePath(name: string): string {
  return `${ROUTES_GATE_PREFIX}${name}`;
}

/** Request headers the container proxy adds; the gate strips them before going upstream. */
export const ROUTE_HEADERS = {
  /** Required: the original `/<rest>?<query>` after `/<name>`, byte for byte as the client sent it. */
  target: "x-route-target",
  /** Who asked, as far as the proxy can tell (e.g. `pid=12 uid=1000 comm=git`); audited, capped. */
  requester: "x-route-requester",
  /** The approved with-prod session id; required by `level = "prod"` routes (never logged). */
  session: "x-route-session",
  /** On the gate's OWN answers: one of {@link ROUTE_ERROR_CODES}. */
  error: "x-route-error",
} as const;

/** Every request header name of {@link ROUTE_HEADERS} (never forwarded upstream). */
export const ROUTE_REQUEST_HEADER_NAMES: readonly string[] = [
  ROUTE_HEADERS.target,
  ROUTE_HEADERS.requester,
  ROUTE_HEADERS.session,
];

/** Longest {@link ROUTE_HEADERS.target} (bytes). */
export const MAX_ROUTE_TARGET_BYTES = 8192;
/** Longest {@link ROUTE_HEADERS.requester}; longer values are cut, never refused. */
export const MAX_ROUTE_REQUESTER_CHARS = 256;

/** A route name: what `[routes.<name>]` and the first path segment may be. */
export const ROUTE_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

/** Default per-route limit of a request body (bytes); a route may set its own. */
export const DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024;
/** Default per-route limit of a response body (bytes); a route may set its own. */
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024 * 1024;

/** The `code` (and {@link ROUTE_HEADERS.error}) of the gate's own answers, with their statuses. */
export const ROUTE_ERROR_CODES = {
  /** 404: no `[routes.<name>]` with that name (or the name is malformed). */
  unknownRoute: "route_unknown",
  /** 400: missing target, or one with `..`, `//`, `\`, an encoded slash, a control byte, … */
  badTarget: "route_bad_target",
  /** 405: the route narrows methods and this one is not among them. */
  methodNotAllowed: "route_method_not_allowed",
  /** 403: the route narrows path prefixes and the target is under none of them. */
  pathNotAllowed: "route_path_not_allowed",
  /** 413: the request body is over the route's `max_request_bytes`. */
  requestTooLarge: "route_request_too_large",
  /** 502 before the head; after it the stream is cut: the response is over `max_response_bytes`. */
  responseTooLarge: "route_response_too_large",
  /** 503: the credential's source gave nothing usable (missing, empty, loose file, failed command). */
  credentialUnavailable: "route_credential_unavailable",
  /** 502: the upstream could not be reached or reset before its head. */
  upstreamUnreachable: "route_upstream_unreachable",
  /** 504: the upstream did not connect or send its head in time. */
  upstreamTimeout: "route_upstream_timeout",
  /** 403: a git smart-HTTP push on a route with `push = "refuse"` (src/routes/git_push.ts). */
  pushRefused: "route_push_refused",
  /** 403: a push a human denied (or nobody approved) on a `push = "approve"` route. */
  pushDenied: "route_push_denied",
  /** 403: a `level = "prod"` route without an approved with-prod session. */
  prodSessionRequired: "route_prod_session_required",
} as const;

/** One of {@link ROUTE_ERROR_CODES}' values. */
export type RouteErrorCode = typeof ROUTE_ERROR_CODES[keyof typeof ROUTE_ERROR_CODES];

/**
 * Hop-by-hop request/response fields (RFC 9110 §7.6.1 plus the legacy ones): never forwarded in
 * either direction, together with every field the `Connection` header names.
 */
export const HOP_BY_HOP_HEADERS: readonly string[] = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

/**
 * Request fields that carry a client's own credential: dropped before the route's credential is
 * injected, so nothing the container holds ever reaches the upstream as a credential.
 */
export const CLIENT_CREDENTIAL_HEADERS: readonly string[] = [
  "authorization",
  "proxy-authorization",
  "cookie",
  "x-api-key",
  "api-key",
  "private-token",
  "job-token",
  "x-goog-api-key",
  "x-auth-token",
  "npm-otp",
];

/** A target the gate accepts: its path (still percent-encoded) and raw query (without `?`). */
export interface RouteTarget {
  path: string;
  /** The query after `?`, verbatim; "" when there is none. */
  query: string;
}

/** Why a {@link parseRouteTarget} refused (the message is safe to send back). */
export class RouteTargetError extends Error {}

// Bytes a target may carry: RFC 3986 pchar / query characters only (no space, no `\`, no `#`,
// no control byte, no non-ASCII: a client percent-encodes those).
const TARGET_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*$/;
const PCT = /%(?![0-9A-Fa-f]{2})/;

/**
 * Validates a raw route target (`/<rest>?<query>`): origin-form, at most
 * {@link MAX_ROUTE_TARGET_BYTES}, no `//` (a network-path reference), no `.` or `..` segment
 * (also percent-encoded, also between encoded `/`), no encoded `\` or NUL, no malformed `%`, only URI
 * characters. The result is joined to the route's base and cannot leave its origin or prefix.
 */
export function parseRouteTarget(raw: string | null | undefined): RouteTarget {
  if (raw === null || raw === undefined || raw === "") {
    throw new RouteTargetError(`the ${ROUTE_HEADERS.target} header is missing`);
  }
  if (raw.length > MAX_ROUTE_TARGET_BYTES) {
    throw new RouteTargetError(`the target is longer than ${MAX_ROUTE_TARGET_BYTES} bytes`);
  }
  if (!raw.startsWith("/")) {
    throw new RouteTargetError("the target must be a path starting with '/' (no absolute form)");
  }
  if (!TARGET_CHARS.test(raw)) {
    throw new RouteTargetError("the target has characters that must be percent-encoded");
  }
  if (PCT.test(raw)) throw new RouteTargetError("the target has a malformed percent-escape");
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = q < 0 ? "" : raw.slice(q + 1);
  if (path.startsWith("//")) {
    throw new RouteTargetError("the target must not start with '//' (another host)");
  }
  if (/%5c|%00/i.test(path)) {
    throw new RouteTargetError("the target path must not hold an encoded '\\' or NUL");
  }
  // An encoded '/' is allowed (npm's scoped packages: `/@scope%2fname`), but an upstream may
  // decode it into a separator, so dot segments are looked for across it too.
  for (const segment of path.split(/\/|%2f/i)) {
    const decoded = segment.replace(/%2e/gi, ".");
    if (decoded === "." || decoded === "..") {
      throw new RouteTargetError("the target path must not hold '.' or '..' segments");
    }
  }
  return { path, query };
}

/** The target as it is audited: the path, and the query's NAMES only (values may be secrets). */
export function auditedTarget(target: RouteTarget): string {
  if (target.query === "") return target.path;
  const names = target.query.split("&").filter((p) => p !== "").map((p) => p.split("=")[0]);
  return `${target.path}?${names.join("&")}`;
}

/** The requester header as the gate keeps it: printable ASCII, at most {@link MAX_ROUTE_REQUESTER_CHARS}. */
export function cleanRequester(raw: string | null): string | undefined {
  if (raw === null) return undefined;
  const clean = raw.replace(/[^\x20-\x7e]/g, "?").slice(0, MAX_ROUTE_REQUESTER_CHARS).trim();
  return clean === "" ? undefined : clean;
}

/**
 * `GET` on the main socket and the TCP listener: the configured routes, for the container's
 * `routes env` and `git-setup` (src/commands/). Names, upstreams and kinds only: never a
 * credential, its source or a host path.
 */
export const ROUTES_LIST_PATH = "/routes";

/** One route in the {@link ROUTES_LIST_PATH} answer. */
export interface ListedRoute {
  name: string;
  /** The upstream base (`https://host[:port][/base]`, no trailing slash). */
  upstream: string;
  level: "dev" | "prod";
  /** Whether the route speaks git smart-HTTP (Basic auth with a fixed user, as git hosts expect). */
  git: boolean;
  /** The preset it was built from (`anthropic`, `openai`, `npm`, …), if any. */
  preset?: string;
}

/** The {@link ROUTES_LIST_PATH} answer. */
export interface RouteListing {
  routes: ListedRoute[];
}

/** Validates a {@link RouteListing} from the gate; throws naming what is wrong. */
export function parseRouteListing(value: unknown): RouteListing {
  const list = (value as { routes?: unknown } | null)?.routes;
  if (!Array.isArray(list)) throw new Error("the route listing has no routes array");
  const routes = list.map((r: Record<string, unknown>, i) => {
    const name = r?.name, upstream = r?.upstream, level = r?.level, git = r?.git;
    const preset = r?.preset;
    if (typeof name !== "string" || !ROUTE_NAME.test(name)) {
      throw new Error(`route ${i}: the name is not a route name`);
    }
    if (typeof upstream !== "string" || !/^https?:\/\/[^/?#\s]+(\/[^?#\s]*)?$/.test(upstream)) {
      throw new Error(`route ${name}: the upstream is not an http(s) URL`);
    }
    if (level !== "dev" && level !== "prod") throw new Error(`route ${name}: bad level`);
    if (typeof git !== "boolean") throw new Error(`route ${name}: git must be a boolean`);
    if (
      preset !== undefined && (typeof preset !== "string" || !/^[a-z][a-z-]{0,31}$/.test(preset))
    ) {
      throw new Error(`route ${name}: bad preset`);
    }
    const listed: ListedRoute = { name, upstream: upstream.replace(/\/+$/, ""), level, git };
    if (preset !== undefined) listed.preset = preset;
    return listed;
  });
  return { routes };
}
