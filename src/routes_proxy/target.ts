/**
 * What the routes listener refuses before the gate is asked, read from the request exactly as
 * the client sent it: a `Host` that is not a loopback name on the routes port (a web page whose
 * DNS name re-resolves to 127.0.0.1 still sends its own name, so this defeats DNS rebinding), an
 * absolute-form target (`GET http://elsewhere/… HTTP/1.1`, a client treating the listener as a
 * forward proxy), and a first segment that cannot be a route name. The rest of the target goes to
 * the gate verbatim (the `x-route-target` header of routes_wire.ts), which validates it once for every listener.
 * @module
 */
import { ROUTE_NAME } from "../gate_api/routes_wire.ts";
import { hostForUrl, isLoopback } from "../metadata/host_check.ts";

/** Names a local client may put in `Host` for the routes port (with that port). */
const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * Whether `host` names this listener: a loopback name (`localhost`, `127.0.0.1`, `[::1]`) or the
 * bind address, always with the bound port. No DNS name other than `localhost` is accepted.
 */
export function routesHostAllowed(host: string | null, bind: string, port: number): boolean {
  if (host === null) return false;
  const m = /^(\[[0-9a-f:.]+\]|[^:\[\]]+):(\d{1,5})$/.exec(host.trim().toLowerCase());
  if (!m || m[2] !== String(port)) return false;
  const name = m[1];
  if (name === hostForUrl(bind.toLowerCase())) return true;
  return LOOPBACK_NAMES.has(name) || (name.startsWith("127.") && isLoopback(name));
}

/** A request the listener refuses itself: status and a message safe to show the client. */
export interface Refusal {
  status: 400 | 403 | 404;
  error: string;
}

/** A request to pass on: the route and the target after `/<name>`, byte for byte. */
export interface RoutedRequest {
  name: string;
  /** `/<rest>?<query>` as sent (`/` when the client asked for `/<name>` alone). */
  target: string;
}

/**
 * Splits a request at the routes port into route and target, or says why not. `rawUrl` is the
 * server's `Request.url` (Deno.serve builds it as `http://<Host><target>` for an origin-form
 * target, and keeps an absolute-form target as sent), never a parsed URL, which would already
 * have resolved `..`.
 */
export function splitRoutedRequest(
  rawUrl: string,
  host: string | null,
  hostOk: (host: string | null) => boolean,
): RoutedRequest | Refusal {
  if (!hostOk(host)) {
    return {
      status: 403,
      error: "the Host header must name this listener by a loopback address and its port " +
        "(http://127.0.0.1:<routes_port>/<route>/…)",
    };
  }
  const origin = `http://${host}`;
  if (!rawUrl.startsWith(origin) || !"/?".includes(rawUrl.charAt(origin.length) || "/")) {
    return {
      status: 400,
      error: "absolute-form request targets are refused: this is not a forward proxy; " +
        "send /<route>/<path> to the routes port",
    };
  }
  const target = rawUrl.slice(origin.length);
  const m = /^\/([^/?#]*)(.*)$/s.exec(target);
  if (!m || m[1] === "") {
    return {
      status: 404,
      error: "no route named: ask for /<route>/<path> (authcalator routes env)",
    };
  }
  const name = m[1];
  if (!ROUTE_NAME.test(name)) {
    return {
      status: 404,
      error: `no route named ${JSON.stringify(name.slice(0, 40))}: a route name is ` +
        "a lowercase letter then up to 31 of a-z, 0-9, '-' or '_'",
    };
  }
  const rest = m[2];
  return { name, target: rest.startsWith("/") ? rest : `/${rest}` };
}

/** Whether `result` is a {@link Refusal}. */
export function isRefusal(result: RoutedRequest | Refusal): result is Refusal {
  return "status" in result;
}
