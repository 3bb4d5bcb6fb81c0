/**
 * How the gate reaches a route's upstream: one Deno.HttpClient per route carrying the route's
 * extra CA (`ca_file`, e.g. a test CA) and the proxy the environment names for its origin.
 * `HTTPS_PROXY` / `HTTP_PROXY` (either case) are honoured unless `NO_PROXY` matches the host, so an
 * egress scanner in front of the host (as bot-bottle deploys) sees the gate's calls too. The choice
 * is made here, from the environment given, rather than left implicit, so it is testable and the
 * proxy host can join the gate's network permission.
 * @module
 */
import { UsageError } from "../errors.ts";
import type { RouteConfig } from "./route_config.ts";
import type { RouteFetch } from "./forwarder.ts";

/** The proxy URL for `origin` under `env`, or undefined for a direct connection. */
export function proxyFor(
  origin: string,
  env: Record<string, string | undefined>,
): string | undefined {
  const url = new URL(origin);
  const get = (name: string) => env[name] ?? env[name.toLowerCase()];
  const proxy = url.protocol === "https:" ? get("HTTPS_PROXY") : get("HTTP_PROXY");
  if (proxy === undefined || proxy.trim() === "") return undefined;
  if (noProxyMatches(url, get("NO_PROXY") ?? "")) return undefined;
  return proxy.trim();
}

/** Whether a NO_PROXY list (`*`, `host`, `.domain`, `host:port`, IP) covers `url`. */
export function noProxyMatches(url: URL, list: string): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  for (const raw of list.split(",")) {
    const entry = raw.trim().toLowerCase();
    if (entry === "") continue;
    if (entry === "*") return true;
    // A bare IPv6 address has several colons and no port; `[v6]:port` and `host:port` have one.
    const bareV6 = !entry.startsWith("[") && entry.indexOf(":") !== entry.lastIndexOf(":");
    const m: (string | undefined)[] = bareV6
      ? [entry, entry, undefined]
      : /^(.*?)(?::(\d+))?$/.exec(entry)!;
    const name = (m[1] ?? "").replace(/^\*?\./, ".").replace(/^\[|\]$/g, "");
    if (m[2] !== undefined && m[2] !== port) continue;
    if (name.startsWith(".")) {
      if (host.endsWith(name) || host === name.slice(1)) return true;
    } else if (host === name || host.endsWith(`.${name}`)) return true;
  }
  return false;
}

/** The fetch a route uses, and a close for its client. */
export interface RouteClient {
  fetch: RouteFetch;
  close(): void;
}

/** Builds the route's client: its CA (read now; a missing file fails the gate's start) and proxy. */
export function routeClient(
  route: RouteConfig,
  env: Record<string, string | undefined>,
  readText: (path: string) => string = Deno.readTextFileSync,
): RouteClient {
  const caCerts = route.caFile === undefined ? undefined : [readCa(route, readText)];
  const proxy = proxyFor(route.origin, env);
  const client = Deno.createHttpClient({
    ...(caCerts ? { caCerts } : {}),
    ...(proxy ? { proxy: { url: proxy } } : {}),
  });
  return {
    fetch: (url, init) => fetch(url, { ...init, client } as RequestInit),
    close: () => client.close(),
  };
}

function readCa(route: RouteConfig, readText: (path: string) => string): string {
  const path = route.caFile!;
  try {
    const pem = readText(path);
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
      throw new UsageError(`routes.${route.name}.ca_file ${path} holds no PEM certificate`);
    }
    return pem;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new UsageError(`routes.${route.name}.ca_file ${path} does not exist`);
    }
    if (err instanceof UsageError) throw err;
    throw new UsageError(`routes.${route.name}.ca_file ${path} cannot be read`);
  }
}
