/**
 * The `[routes.<name>]` model (issue 11): one upstream origin a container may reach through the
 * gate, the host-side source of its credential, how the credential is sent, what the route is
 * narrowed to, its size limits and waits, and its `level` and `push` policy. Parsing is strict
 * (unknown keys, wrong types and unsafe values are named) and collects every problem at once, as
 * the rest of the config does (src/cli/config.ts). Presets fill the usual upstreams; any key a
 * route sets wins over its preset.
 * @module
 */
import {
  DEFAULT_MAX_REQUEST_BYTES,
  DEFAULT_MAX_RESPONSE_BYTES,
  ROUTE_NAME,
} from "../gate_api/routes_wire.ts";

/** Where the credential lives on the host. */
export type CredentialSourceConfig =
  | { kind: "env"; name: string }
  | { kind: "file"; path: string }
  | { kind: "command"; argv: string[]; timeoutMs: number; cacheMs: number };

/** How the credential is sent upstream. */
export type CredentialAuth =
  | { kind: "bearer" }
  /** `Authorization: token <value>` (GitHub's older form). */
  | { kind: "token" }
  /** `Authorization: Basic base64(user:value)`, as git hosts expect. */
  | { kind: "basic"; user: string }
  /** `<header>: <value>`, e.g. Anthropic's `x-api-key`. */
  | { kind: "header"; header: string };

/** One validated route. */
export interface RouteConfig {
  name: string;
  /** `scheme://host[:port]` (https, or http on loopback only). */
  origin: string;
  /** The upstream path every target is joined under ("" or `/…` without a trailing slash). */
  basePath: string;
  credential: CredentialSourceConfig;
  auth: CredentialAuth;
  /** Upper-case methods allowed; undefined = any. */
  methods?: string[];
  /** Target path prefixes allowed (each starts with `/`); undefined = any. */
  pathPrefixes?: string[];
  maxRequestBytes: number;
  maxResponseBytes: number;
  /** Bounded wait for the connection and the upstream's response head. */
  headersTimeoutMs: number;
  /** A streamed body that makes no progress for this long is cut (no deadline while it moves). */
  idleTimeoutMs: number;
  /** `prod` routes are served only inside an approved with-prod session (src/routes A3). */
  level: "dev" | "prod";
  /** git smart-HTTP push: refused (403) or sent through the confirmation chain. */
  push: "refuse" | "approve";
  /** An extra CA (PEM file) trusted for this upstream, e.g. a test CA. */
  caFile?: string;
  /** The preset the route was built from, if any (tells `routes env` which client it serves). */
  preset?: string;
}

/** A preset: the keys of a route it fills when the route does not set them. */
export interface RoutePreset {
  upstream: string;
  auth: CredentialAuth;
  /** The default credential source (an environment variable). */
  credentialEnv: string;
}

/** Built-in presets, by the name `preset = "…"` takes. */
export const ROUTE_PRESETS: Readonly<Record<string, RoutePreset>> = {
  anthropic: {
    upstream: "https://api.anthropic.com",
    auth: { kind: "header", header: "x-api-key" },
    credentialEnv: "ANTHROPIC_API_KEY",
  },
  openai: {
    upstream: "https://api.openai.com",
    auth: { kind: "bearer" },
    credentialEnv: "OPENAI_API_KEY",
  },
  github: {
    upstream: "https://api.github.com",
    auth: { kind: "bearer" },
    credentialEnv: "GITHUB_TOKEN",
  },
  "github-git": {
    upstream: "https://github.com",
    auth: { kind: "basic", user: "x-access-token" },
    credentialEnv: "GITHUB_TOKEN",
  },
  gitlab: {
    upstream: "https://gitlab.com",
    auth: { kind: "bearer" },
    credentialEnv: "GITLAB_TOKEN",
  },
  "gitlab-git": {
    upstream: "https://gitlab.com",
    auth: { kind: "basic", user: "oauth2" },
    credentialEnv: "GITLAB_TOKEN",
  },
  npm: {
    upstream: "https://registry.npmjs.org",
    auth: { kind: "bearer" },
    credentialEnv: "NPM_TOKEN",
  },
};

/** The keys a `[routes.<name>]` table may hold. */
export const ROUTE_KEYS = [
  "preset",
  "upstream",
  "credential_env",
  "credential_file",
  "credential_command",
  "credential_timeout_seconds",
  "credential_cache_seconds",
  "auth",
  "auth_user",
  "auth_header",
  "methods",
  "path_prefixes",
  "max_request_bytes",
  "max_response_bytes",
  "headers_timeout_seconds",
  "idle_timeout_seconds",
  "level",
  "push",
  "ca_file",
] as const;

const AUTH_KINDS = ["bearer", "token", "basic", "header"] as const;
const METHOD = /^[A-Z]{1,16}$/;
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]{1,64}$/i;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Fields whose name makes them hop-by-hop or framing: a credential may never be sent in them.
const FORBIDDEN_AUTH_HEADERS = new Set([
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "te",
  "upgrade",
  "trailer",
  "keep-alive",
  "proxy-connection",
  "cookie",
  "x-route-target",
  "x-route-requester",
  "x-route-session",
]);

/** Whether `host` (a URL hostname) is a loopback address or name. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h);
}

/** Checks an upstream URL; returns its origin and base path, or the problem. */
export function parseUpstream(
  value: string,
): { origin: string; basePath: string; host: string } | string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "must be an absolute URL such as https://api.example.com";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "must be https://";
  if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    return "must be https:// (http:// only for a loopback host)";
  }
  if (url.username !== "" || url.password !== "") {
    return "must not carry a user or password (the credential comes from credential_*)";
  }
  if (url.search !== "" || url.hash !== "" || value.includes("?") || value.includes("#")) {
    return "must not have a query or fragment";
  }
  // The URL parser resolves `..`; the raw text must not hold one (nor an encoded one).
  if (/\/(\.|%2e){1,2}(\/|$)/i.test(value.replace(/^[a-z]+:\/\//i, ""))) {
    return "must have a plain path";
  }
  const basePath = url.pathname.replace(/\/+$/, "");
  if (basePath.includes("//") || /(^|\/)\.\.?(\/|$)/.test(basePath)) {
    return "must have a plain path";
  }
  return { origin: url.origin, basePath, host: url.host };
}

/**
 * Parses the `routes` table of the config file into validated routes; every problem is pushed
 * onto `errors` (prefixed `routes.<name>.<key>`), so all are reported together.
 */
export function parseRoutes(value: unknown, errors: string[]): RouteConfig[] {
  if (!isTable(value)) {
    errors.push("routes: must be a table of [routes.<name>] tables");
    return [];
  }
  const routes: RouteConfig[] = [];
  for (const [name, table] of Object.entries(value)) {
    const route = parseRoute(name, table, errors);
    if (route) routes.push(route);
  }
  return routes;
}

function parseRoute(name: string, table: unknown, errors: string[]): RouteConfig | undefined {
  const at = `routes.${name}`;
  if (!ROUTE_NAME.test(name)) {
    errors.push(`${at}: a route name is 1-32 of a-z, 0-9, '-', '_', starting with a letter`);
    return undefined;
  }
  if (!isTable(table)) {
    errors.push(`${at}: must be a table`);
    return undefined;
  }
  const before = errors.length;
  const problem = (key: string, why: string) => errors.push(`${at}.${key}: ${why}`);
  for (const key of Object.keys(table)) {
    if (!(ROUTE_KEYS as readonly string[]).includes(key)) {
      problem(key, `unknown key (known: ${ROUTE_KEYS.join(", ")})`);
    }
  }
  const str = (key: string): string | undefined => {
    const v = table[key];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || v.trim() === "") {
      problem(key, "must be a non-empty string");
      return undefined;
    }
    return v;
  };
  const strList = (key: string): string[] | undefined => {
    const v = table[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== "string" || x === "")) {
      problem(key, "must be a non-empty array of non-empty strings");
      return undefined;
    }
    return v as string[];
  };
  const int = (key: string, min: number, max: number): number | undefined => {
    const v = table[key];
    if (v === undefined) return undefined;
    const n = typeof v === "bigint" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
      problem(key, `must be an integer from ${min} to ${max}`);
      return undefined;
    }
    return n;
  };

  const presetName = str("preset");
  const preset = presetName === undefined ? undefined : ROUTE_PRESETS[presetName];
  if (presetName !== undefined && preset === undefined) {
    problem("preset", `unknown preset (known: ${Object.keys(ROUTE_PRESETS).join(", ")})`);
  }

  const upstreamRaw = str("upstream") ?? preset?.upstream;
  let origin = "";
  let basePath = "";
  if (upstreamRaw === undefined) {
    if (presetName === undefined) problem("upstream", "is required (or name a preset)");
  } else {
    const parsed = parseUpstream(upstreamRaw);
    if (typeof parsed === "string") problem("upstream", parsed);
    else ({ origin, basePath } = parsed);
  }

  // The credential: exactly one source; the preset's environment variable otherwise.
  const env = str("credential_env");
  const file = str("credential_file");
  const command = strList("credential_command");
  const timeoutS = int("credential_timeout_seconds", 1, 300);
  const cacheS = int("credential_cache_seconds", 0, 86_400);
  const set = [env, file, command].filter((x) => x !== undefined).length;
  let credential: CredentialSourceConfig | undefined;
  if (set > 1) {
    problem("credential_*", "set only one of credential_env, credential_file, credential_command");
  } else if (env !== undefined) {
    if (!ENV_NAME.test(env)) problem("credential_env", "must be an environment variable name");
    else credential = { kind: "env", name: env };
  } else if (file !== undefined) {
    if (!file.startsWith("/") && !file.startsWith("~/")) {
      problem("credential_file", "must be an absolute path (or start with ~/)");
    } else credential = { kind: "file", path: file };
  } else if (command !== undefined) {
    credential = {
      kind: "command",
      argv: command,
      timeoutMs: (timeoutS ?? 10) * 1000,
      cacheMs: (cacheS ?? 300) * 1000,
    };
  } else if (preset !== undefined) {
    credential = { kind: "env", name: preset.credentialEnv };
  } else if (presetName === undefined) {
    problem(
      "credential_*",
      "one of credential_env, credential_file, credential_command is required",
    );
  }
  if (credential?.kind !== "command") {
    if (timeoutS !== undefined) problem("credential_timeout_seconds", "needs credential_command");
    if (cacheS !== undefined) problem("credential_cache_seconds", "needs credential_command");
  }

  const authKind = str("auth");
  const authUser = str("auth_user");
  const authHeader = str("auth_header");
  let auth: CredentialAuth | undefined = authKind === undefined ? preset?.auth : undefined;
  if (authKind !== undefined) {
    if (!(AUTH_KINDS as readonly string[]).includes(authKind)) {
      problem("auth", `must be one of ${AUTH_KINDS.join(", ")}`);
    } else if (authKind === "basic") {
      if (authUser === undefined) problem("auth_user", 'is required with auth = "basic"');
      else if (authUser.includes(":") || /[^\x21-\x7e]/.test(authUser)) {
        problem("auth_user", "must be printable ASCII without ':' or spaces");
      } else auth = { kind: "basic", user: authUser };
    } else if (authKind === "header") {
      if (authHeader === undefined) problem("auth_header", 'is required with auth = "header"');
      else if (!HEADER_NAME.test(authHeader)) problem("auth_header", "must be a header name");
      else if (FORBIDDEN_AUTH_HEADERS.has(authHeader.toLowerCase())) {
        problem("auth_header", "must not be a framing, hop-by-hop or gate header");
      } else auth = { kind: "header", header: authHeader.toLowerCase() };
    } else auth = { kind: authKind as "bearer" | "token" };
  } else if (auth === undefined && presetName === undefined) {
    problem("auth", `is required (one of ${AUTH_KINDS.join(", ")})`);
  }
  if (authUser !== undefined && authKind !== "basic") problem("auth_user", 'needs auth = "basic"');
  if (authHeader !== undefined && authKind !== "header") {
    problem("auth_header", 'needs auth = "header"');
  }

  const methodsRaw = strList("methods");
  let methods: string[] | undefined;
  if (methodsRaw !== undefined) {
    if (methodsRaw.some((m) => !METHOD.test(m))) {
      problem("methods", "must be upper-case HTTP methods such as GET, POST");
    } else methods = [...new Set(methodsRaw)];
  }
  const prefixesRaw = strList("path_prefixes");
  let pathPrefixes: string[] | undefined;
  if (prefixesRaw !== undefined) {
    const bad = prefixesRaw.find((p) =>
      !p.startsWith("/") || p.startsWith("//") || p.includes("?") || p.includes("%") ||
      /(^|\/)\.\.?(\/|$)/.test(p) || /[^\x21-\x7e]/.test(p)
    );
    if (bad !== undefined) {
      problem("path_prefixes", `${JSON.stringify(bad)} must be a plain path starting with '/'`);
    } else pathPrefixes = prefixesRaw;
  }

  const maxRequestBytes = int("max_request_bytes", 0, 2 ** 40) ?? DEFAULT_MAX_REQUEST_BYTES;
  const maxResponseBytes = int("max_response_bytes", 1, 2 ** 42) ?? DEFAULT_MAX_RESPONSE_BYTES;
  const headersS = int("headers_timeout_seconds", 1, 600) ?? 30;
  const idleS = int("idle_timeout_seconds", 1, 3600) ?? 120;

  const levelRaw = str("level") ?? "dev";
  if (levelRaw !== "dev" && levelRaw !== "prod") problem("level", 'must be "dev" or "prod"');
  const pushRaw = str("push") ?? "refuse";
  if (pushRaw !== "refuse" && pushRaw !== "approve") {
    problem("push", 'must be "refuse" or "approve"');
  }
  const caFile = str("ca_file");
  if (caFile !== undefined && !caFile.startsWith("/") && !caFile.startsWith("~/")) {
    problem("ca_file", "must be an absolute path (or start with ~/)");
  }

  if (errors.length > before || credential === undefined || auth === undefined) return undefined;
  return {
    name,
    origin,
    basePath,
    credential,
    auth,
    methods,
    pathPrefixes,
    maxRequestBytes,
    maxResponseBytes,
    headersTimeoutMs: headersS * 1000,
    idleTimeoutMs: idleS * 1000,
    level: levelRaw as "dev" | "prod",
    push: pushRaw as "refuse" | "approve",
    caFile,
    ...(presetName !== undefined ? { preset: presetName } : {}),
  };
}

/** The upstream hosts (`host[:port]`) the gate must be allowed to reach for `routes`. */
export function routeNetHosts(routes: readonly RouteConfig[]): string[] {
  return [...new Set(routes.map((r) => new URL(r.origin).host))].sort();
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}
