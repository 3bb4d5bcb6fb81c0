import type { ConfigFile } from "./config_file.ts";
import { CONFIG_KEYS, type ConfigKey, envName, flagName } from "./config_keys.ts";
import { UsageError } from "../errors.ts";
import {
  isLogFormat,
  isLogLevel,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
} from "../log.ts";
import { DEFAULT_AUDIT_MAX_BYTES, DEFAULT_AUDIT_MAX_FILES } from "../gate/audit.ts";
import { parseRoutes, type RouteConfig } from "../routes/route_config.ts";

/** Validated configuration shared by every role (defaults applied where a role needs them). */
export interface Config {
  project_id?: string;
  service_account?: string;
  socket_path: string;
  admin_socket_path: string;
  port: number;
  /** Metadata proxy: the API routes listener's loopback port (issue 11); no listener when unset. */
  routes_port?: number;
  gate_tls_port?: number;
  tls_dir?: string;
  gate_url?: string;
  tls_bundle?: string;
  /** Whether tls_bundle came from --tls-bundle: it then beats the env bundle (CLI > env > file). */
  tls_bundle_from_flag?: boolean;
  /** A remote gate's bearer token file, read on every request. */
  gate_token_file?: string;
  /** Gate: the TCP listener's bind address (default 127.0.0.1). */
  gate_bind?: string;
  /** Gate: SHA-256 hashes of the bearer tokens TCP clients may present. */
  gate_bearer_tokens_file?: string;
  /** Gate: TokenReview mode, with the audience client tokens must carry. */
  gate_token_review_audience?: string;
  /** Gate: the service accounts TokenReview admits. */
  gate_allowed_service_accounts?: string[];
  /** Gate: the Kubernetes API, its CA and the gate's own token file, for TokenReview. */
  gate_kube_api_url?: string;
  gate_kube_ca_file?: string;
  gate_kube_token_file?: string;
  scopes: string[];
  pam_policy?: string;
  pam_allowed_policies?: string[];
  pam_location: string;
  token_ttl_seconds: number;
  pam_grant_ttl_seconds?: number;
  session_ttl_seconds: number;
  operator_socket_path?: string;
  operator_socket_group?: string;
  auto_approve_pam_policies?: string[];
  agent_uid?: string;
  quota_project?: string;
  no_quota_project: boolean;
  env: Record<string, string>;
  google_api_base?: string;
  oauth2_api_base?: string;
  iamcredentials_api_base?: string;
  cloudresourcemanager_api_base?: string;
  privilegedaccessmanager_api_base?: string;
  /**
   * Gate: whether dev grants fail closed when the audit log cannot be written (prod always does).
   * This and the four keys below are always set by {@link loadConfig}; optional only so that
   * configs built by hand (tests, permission contexts) need not spell them out.
   */
  audit_required?: boolean;
  /** Gate: size at which audit.log is rotated. */
  audit_max_bytes?: number;
  /** Gate: rotated audit files kept besides audit.log. */
  audit_max_files?: number;
  /** Daemons: lowest level of their own log lines that is written. */
  log_level?: LogLevel;
  /** Daemons: `text` or `json` log lines. */
  log_format?: LogFormat;
  /** The TOML file the config came from, if any (for `permissions`). */
  config_path?: string;
  /** Gate: `[routes.<name>]` tables (config file only), validated (src/routes/route_config.ts). */
  routes?: RouteConfig[];
}

/** The default OAuth scope. */
export const CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform";

/** Where a raw value came from, for error messages. */
type Source = { kind: "flag" | "env" | "file"; label: string };

interface RawValue {
  value: unknown;
  source: Source;
}

/**
 * Inputs to {@link loadConfig}; all effects (env, file reading) happen before it. The config file
 * comes already parsed (`readConfigFile` in config_file.ts), so this module never loads the TOML
 * parser and a role without a config file never does either.
 */
export interface ConfigInputs {
  /** Values parsed from flags, keyed by config key (`--env` values as `KEY=VALUE` strings). */
  flags: Record<string, unknown>;
  /** The process environment. */
  env: Record<string, string | undefined>;
  /** The `--config` file, read and parsed, if one was named. */
  file?: ConfigFile;
}

/** Merges (flags > env > config file > defaults) and validates the configuration. */
export function loadConfig(inputs: ConfigInputs): Config {
  const raw = new Map<string, RawValue>();
  const errors: string[] = [];
  let fileEnv: Record<string, string> = {};
  let routes: RouteConfig[] | undefined;

  if (inputs.file !== undefined) {
    const path = inputs.file.path;
    for (const [key, value] of Object.entries(inputs.file.table)) {
      if (key === "routes") {
        routes = parseRoutes(value, errors);
        continue;
      }
      const spec = CONFIG_KEYS.find((k) => k.key === key);
      if (!spec) {
        errors.push(`${key}: unknown key in ${path}`);
        continue;
      }
      if (key === "env") {
        fileEnv = checkRecord(value, path, errors);
        continue;
      }
      raw.set(key, { value, source: { kind: "file", label: path } });
    }
  }
  for (const spec of CONFIG_KEYS) {
    if (!spec.env) continue;
    const value = inputs.env[envName(spec.key)];
    if (value !== undefined) {
      raw.set(spec.key, { value, source: { kind: "env", label: envName(spec.key) } });
    }
  }
  let flagEnv: Record<string, string> = {};
  for (const [key, value] of Object.entries(inputs.flags)) {
    if (value === undefined) continue;
    if (key === "env") {
      flagEnv = parseEnvPairs(value as string[]);
      continue;
    }
    raw.set(key, { value, source: { kind: "flag", label: `--${flagName(key)}` } });
  }

  const out: Record<string, unknown> = {};
  for (const [key, { value, source }] of raw) {
    const spec = CONFIG_KEYS.find((k) => k.key === key)!;
    try {
      out[key] = coerce(spec, value, source);
    } catch (err) {
      errors.push(`${key}: ${(err as Error).message} (from ${source.label})`);
    }
  }
  const config = applyDefaults(out, inputs.env, errors);
  config.env = { ...fileEnv, ...flagEnv };
  if (routes !== undefined) config.routes = routes;
  if (inputs.file) config.config_path = inputs.file.path;
  if (raw.get("tls_bundle")?.source.kind === "flag") config.tls_bundle_from_flag = true;
  validate(config, raw, errors);
  if (errors.length) {
    throw new UsageError(`invalid configuration\n  ${errors.join("\n  ")}`);
  }
  return config;
}

function checkRecord(value: unknown, path: string, errors: string[]): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    errors.push(`env: must be a table of strings (in ${path})`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") errors.push(`env.${k}: must be a string (in ${path})`);
    else if (!isEnvName(k)) errors.push(`env.${k}: not a valid environment variable name`);
    else out[k] = v;
  }
  return out;
}

function isEnvName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);
}

/** Parses repeated `--env KEY=VALUE` flags; the first `=` splits, and KEY must be a valid name. */
export function parseEnvPairs(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of values) {
    const eq = pair.indexOf("=");
    const name = eq >= 1 ? pair.slice(0, eq) : "";
    if (!isEnvName(name)) {
      throw new UsageError(`--env value must be KEY=VALUE, got: ${JSON.stringify(pair)}`);
    }
    out[name] = pair.slice(eq + 1);
  }
  return out;
}

function coerce(spec: ConfigKey, value: unknown, source: Source): unknown {
  switch (spec.kind) {
    case "string":
      if (typeof value !== "string") throw new Error(`must be a string, got ${typeName(value)}`);
      if (value.trim() === "") throw new Error("must not be empty");
      return value;
    case "int": {
      if (source.kind === "file") {
        if (typeof value !== "number" || !Number.isInteger(value)) {
          throw new Error(`must be an integer, got ${typeName(value)}`);
        }
        return value;
      }
      const text = String(value).trim();
      if (!/^[0-9]+$/.test(text)) {
        throw new Error(`must be a whole number, got ${JSON.stringify(value)}`);
      }
      return Number(text);
    }
    case "list": {
      const items = source.kind === "file" ? value : String(value).split(",").map((s) => s.trim());
      if (!Array.isArray(items)) {
        throw new Error(`must be an array of strings, got ${typeName(value)}`);
      }
      if (items.some((s) => typeof s !== "string" || s.trim() === "")) {
        throw new Error("must contain only non-empty strings");
      }
      return items;
    }
    case "bool": {
      if (typeof value === "boolean") return value;
      if (source.kind !== "file" && (value === "true" || value === "false")) {
        return value === "true";
      }
      throw new Error(`must be true or false, got ${JSON.stringify(value)}`);
    }
    case "record":
      return value;
  }
}

function typeName(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (value instanceof Date) return "a date";
  return typeof value === "object" ? "a table" : `${typeof value} ${JSON.stringify(value)}`;
}

function home(env: Record<string, string | undefined>): string {
  return env.HOME ?? "/";
}

/** Collapses `.`, `..` and repeated slashes in an absolute path (no filesystem access). */
export function normalizePath(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return "/" + out.join("/");
}

/** Expands a leading `~` against HOME. */
export function expandHome(path: string, env: Record<string, string | undefined>): string {
  if (path === "~") return home(env);
  if (path.startsWith("~/")) return `${home(env)}/${path.slice(2)}`;
  return path;
}

/** The runtime directory: `$XDG_RUNTIME_DIR`, else `~/.gcp-authcalator`. */
export function runtimeDir(env: Record<string, string | undefined>): string {
  return env.XDG_RUNTIME_DIR || `${home(env)}/.gcp-authcalator`;
}

function applyDefaults(
  values: Record<string, unknown>,
  env: Record<string, string | undefined>,
  errors: string[],
): Config {
  const dir = runtimeDir(env);
  const config = {
    socket_path: `${dir}/gcp-authcalator.sock`,
    admin_socket_path: `${dir}/gcp-authcalator-admin/admin.sock`,
    port: 8173,
    scopes: [CLOUD_PLATFORM_SCOPE],
    pam_location: "global",
    token_ttl_seconds: 3600,
    session_ttl_seconds: 28800,
    no_quota_project: false,
    audit_required: true,
    audit_max_bytes: DEFAULT_AUDIT_MAX_BYTES,
    audit_max_files: DEFAULT_AUDIT_MAX_FILES,
    log_level: "info",
    log_format: "text",
    env: {},
    ...values,
  } as Config;
  for (const key of ["socket_path", "admin_socket_path", "operator_socket_path"] as const) {
    const value = config[key];
    if (value === undefined) continue;
    const expanded = expandHome(value, env);
    if (!expanded.startsWith("/")) {
      errors.push(`${key}: Unix socket paths must be absolute, got ${JSON.stringify(value)}`);
    }
    if (expanded.startsWith("/")) config[key] = normalizePath(expanded);
  }
  for (
    const key of [
      "tls_dir",
      "tls_bundle",
      "gate_token_file",
      "gate_bearer_tokens_file",
      "gate_kube_ca_file",
      "gate_kube_token_file",
    ] as const
  ) {
    if (config[key] !== undefined) config[key] = expandHome(config[key]!, env);
  }
  return config;
}

const RANGES: Record<string, [number, number]> = {
  // 0 asks the system for a free port (tests, several proxies on one machine).
  port: [0, 65535],
  routes_port: [0, 65535],
  gate_tls_port: [1, 65535],
  token_ttl_seconds: [60, 43200],
  pam_grant_ttl_seconds: [301, 43200],
  session_ttl_seconds: [300, 86400],
  audit_max_bytes: [1024, 1073741824],
  audit_max_files: [1, 100],
};

function validate(config: Config, raw: Map<string, RawValue>, errors: string[]): void {
  const c = config as unknown as Record<string, unknown>;
  for (const [key, [min, max]] of Object.entries(RANGES)) {
    const value = c[key];
    if (typeof value !== "number") continue;
    if (value < min || value > max) {
      const extra = key === "pam_grant_ttl_seconds"
        ? " (grants of 300 s or less would mint tokens that are born expired)"
        : "";
      errors.push(`${key}: must be between ${min} and ${max}, got ${value}${extra}`);
    }
  }
  if (
    config.routes_port !== undefined && config.routes_port !== 0 &&
    config.routes_port === config.port
  ) {
    errors.push(
      `routes_port: must differ from port (${config.port}): API routes are served on a listener of their own`,
    );
  }
  if (config.service_account !== undefined && !isEmail(config.service_account)) {
    errors.push(
      `service_account: must be an email address, got ${JSON.stringify(config.service_account)}`,
    );
  }
  if (config.gate_url !== undefined) {
    const why = gateUrlProblem(config.gate_url);
    if (why) errors.push(`gate_url: ${why}`);
  }
  for (
    const key of [
      "google_api_base",
      "oauth2_api_base",
      "iamcredentials_api_base",
      "cloudresourcemanager_api_base",
      "privilegedaccessmanager_api_base",
    ] as const
  ) {
    const value = config[key];
    if (value === undefined) continue;
    const why = apiBaseProblem(value);
    if (why) errors.push(`${key}: ${why}`);
  }
  if (typeof config.log_level === "string" && !isLogLevel(config.log_level)) {
    errors.push(
      `log_level: must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(config.log_level)}`,
    );
  }
  if (typeof config.log_format === "string" && !isLogFormat(config.log_format)) {
    errors.push(
      `log_format: must be one of ${LOG_FORMATS.join(", ")}, got ${
        JSON.stringify(config.log_format)
      }`,
    );
  }
  if (config.agent_uid !== undefined && /^-/.test(config.agent_uid)) {
    errors.push("agent_uid: must be a non-negative uid or a user name");
  }
  const seen = new Map<string, string>();
  for (const key of ["socket_path", "admin_socket_path", "operator_socket_path"] as const) {
    const path = config[key];
    if (path === undefined) continue;
    const first = seen.get(path);
    if (first) errors.push(`${key}: must not resolve to the same path as ${first}`);
    else seen.set(path, key);
  }
  void raw;
}

function isEmail(value: string): boolean {
  return /^[^\s@/]+@[^\s@/]+\.[^\s@/]+$/.test(value);
}

const GATE_URL_MESSAGE =
  "gate_url must be an HTTPS URL without credentials, a query, or a fragment";

/** Why `value` is not an acceptable `gate_url`, or undefined. */
export function gateUrlProblem(value: string): string | undefined {
  if (value !== value.trim() || /[?#\\\s]/.test(value)) return GATE_URL_MESSAGE;
  const m = /^([^:/]+):\/\/([^/]*)(\/.*)?$/.exec(value);
  if (!m || m[1].toLowerCase() !== "https" || m[2] === "" || m[2].includes("@")) {
    return GATE_URL_MESSAGE;
  }
  if ((m[3] ?? "").split("/").some((seg) => seg === "." || seg === "..")) return GATE_URL_MESSAGE;
  try {
    const url = new URL(value);
    if (url.protocol !== "https:" || url.username || url.password || url.search || url.hash) {
      return GATE_URL_MESSAGE;
    }
  } catch {
    return GATE_URL_MESSAGE;
  }
  return undefined;
}

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** Why `value` is not an acceptable Google API base URL, or undefined (https, or http on loopback). */
export function apiBaseProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `must be an absolute URL, got ${JSON.stringify(value)}`;
  }
  if (url.username || url.password || url.search || url.hash) {
    return "must not carry credentials, a query or a fragment";
  }
  if (url.protocol === "https:") return undefined;
  if (
    url.protocol === "http:" && (LOOPBACK_HOSTS.has(url.hostname) || /^127\./.test(url.hostname))
  ) {
    return undefined;
  }
  return "must be https (plain http is allowed only for loopback hosts)";
}
