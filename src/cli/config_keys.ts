/** How a config value is written on the command line and in TOML. */
export type KeyKind = "string" | "int" | "list" | "bool" | "record";

/** One configuration key: its flag, its environment variable and its type. */
export interface ConfigKey {
  key: string;
  kind: KeyKind;
  /** Short flag letter, if any. */
  short?: string;
  /** Whether `GCP_AUTHCALATOR_<KEY>` sets it (lists and records cannot be set from env). */
  env: boolean;
  /** Placeholder for help text. */
  arg?: string;
  help: string;
}

/** Every configuration key, in gcp-authcalator 0.14's order, then authcalator's own. */
export const CONFIG_KEYS: readonly ConfigKey[] = [
  { key: "project_id", kind: "string", env: true, arg: "id", help: "GCP project id" },
  {
    key: "service_account",
    kind: "string",
    env: true,
    arg: "email",
    help: "service account the gate impersonates for dev tokens",
  },
  {
    key: "socket_path",
    kind: "string",
    env: true,
    arg: "path",
    help: "gate Unix socket (default $XDG_RUNTIME_DIR/gcp-authcalator.sock)",
  },
  {
    key: "admin_socket_path",
    kind: "string",
    env: true,
    arg: "path",
    help:
      "admin socket for pending/approve/deny (default $XDG_RUNTIME_DIR/gcp-authcalator-admin/admin.sock)",
  },
  {
    key: "port",
    kind: "int",
    short: "p",
    env: true,
    arg: "port",
    help: "metadata proxy port (8173; 0 = any free port)",
  },
  {
    key: "routes_port",
    kind: "int",
    env: true,
    arg: "port",
    help:
      "metadata proxy: API routes listener port on loopback (off unless set; 0 = any free port)",
  },
  {
    key: "gate_tls_port",
    kind: "int",
    env: true,
    arg: "port",
    help: "gate: TCP listener port (TLS; client certificate or bearer token required)",
  },
  {
    key: "gate_bind",
    kind: "string",
    env: true,
    arg: "addr",
    help: "gate: IP address the TCP listener binds (127.0.0.1)",
  },
  { key: "tls_dir", kind: "string", env: true, arg: "path", help: "directory of mTLS material" },
  { key: "gate_url", kind: "string", env: true, arg: "url", help: "https URL of a remote gate" },
  { key: "tls_bundle", kind: "string", env: true, arg: "path", help: "client mTLS bundle file" },
  {
    key: "gate_token_file",
    kind: "string",
    env: true,
    arg: "path",
    help: "bearer token file for a remote gate (gate_url), read on every request",
  },
  {
    key: "gate_bearer_tokens_file",
    kind: "string",
    env: true,
    arg: "path",
    help: "gate: TCP clients authenticate with bearer tokens whose SHA-256 this file lists",
  },
  {
    key: "gate_token_review_audience",
    kind: "string",
    env: true,
    arg: "aud",
    help: "gate: TCP clients authenticate with Kubernetes tokens for this audience (TokenReview)",
  },
  {
    key: "gate_allowed_service_accounts",
    kind: "list",
    env: false,
    arg: "a,b",
    help: "gate: system:serviceaccount:<ns>:<name> identities TokenReview admits",
  },
  {
    key: "gate_kube_api_url",
    kind: "string",
    env: true,
    arg: "url",
    help: "gate: Kubernetes API for TokenReview (in cluster: from KUBERNETES_SERVICE_HOST)",
  },
  {
    key: "gate_kube_ca_file",
    kind: "string",
    env: true,
    arg: "path",
    help: "gate: CA of the Kubernetes API (the service account's ca.crt)",
  },
  {
    key: "gate_kube_token_file",
    kind: "string",
    env: true,
    arg: "path",
    help: "gate: its own service-account token for TokenReview, re-read on every call",
  },
  {
    key: "scopes",
    kind: "list",
    env: false,
    arg: "a,b",
    help: "OAuth scopes (default cloud-platform)",
  },
  { key: "pam_policy", kind: "string", env: true, arg: "id|path", help: "default PAM entitlement" },
  {
    key: "pam_allowed_policies",
    kind: "list",
    env: false,
    arg: "a,b",
    help: "PAM entitlements a caller may request",
  },
  { key: "pam_location", kind: "string", env: true, arg: "loc", help: "PAM location (global)" },
  {
    key: "token_ttl_seconds",
    kind: "int",
    env: true,
    arg: "n",
    help: "token lifetime, 60-43200 (3600)",
  },
  {
    key: "pam_grant_ttl_seconds",
    kind: "int",
    env: true,
    arg: "n",
    help: "PAM grant lifetime, 301-43200 (token TTL)",
  },
  {
    key: "session_ttl_seconds",
    kind: "int",
    env: true,
    arg: "n",
    help: "with-prod session lifetime, 300-86400 (28800)",
  },
  {
    key: "operator_socket_path",
    kind: "string",
    env: true,
    arg: "path",
    help: "opt-in operator socket",
  },
  {
    key: "operator_socket_group",
    kind: "string",
    env: true,
    arg: "name",
    help: "group of the operator socket (0660)",
  },
  {
    key: "auto_approve_pam_policies",
    kind: "list",
    env: false,
    arg: "a,b",
    help: "policies the operator socket approves without a prompt",
  },
  { key: "agent_uid", kind: "string", env: true, arg: "uid|name", help: "operator agent's user" },
  {
    key: "quota_project",
    kind: "string",
    env: true,
    arg: "id",
    help: "with-prod: quota project for the child",
  },
  {
    key: "no_quota_project",
    kind: "bool",
    env: true,
    help: "with-prod: leave GOOGLE_CLOUD_QUOTA_PROJECT as inherited",
  },
  {
    key: "env",
    kind: "record",
    short: "e",
    env: false,
    arg: "KEY=VALUE",
    help: "with-prod: extra environment for the child (repeatable)",
  },
  {
    key: "google_api_base",
    kind: "string",
    env: true,
    arg: "url",
    help: "base URL for every Google API (PSC, restricted VIP, the embedded emulator)",
  },
  {
    key: "oauth2_api_base",
    kind: "string",
    env: true,
    arg: "url",
    help: "OAuth2 token/tokeninfo base (https://oauth2.googleapis.com)",
  },
  {
    key: "iamcredentials_api_base",
    kind: "string",
    env: true,
    arg: "url",
    help: "IAM Credentials base (https://iamcredentials.googleapis.com)",
  },
  {
    key: "cloudresourcemanager_api_base",
    kind: "string",
    env: true,
    arg: "url",
    help: "Resource Manager base (https://cloudresourcemanager.googleapis.com)",
  },
  {
    key: "privilegedaccessmanager_api_base",
    kind: "string",
    env: true,
    arg: "url",
    help: "PAM base (https://privilegedaccessmanager.googleapis.com)",
  },
  {
    key: "audit_required",
    kind: "bool",
    env: true,
    help:
      "gate: refuse dev tokens too when the audit log cannot be written (default true; prod grants are always refused; TOML/env false, or gate --no-audit-required, opts out)",
  },
  {
    key: "audit_max_bytes",
    kind: "int",
    env: true,
    arg: "n",
    help: "gate: rotate audit.log at this size, 1024-1073741824 (10485760)",
  },
  {
    key: "audit_max_files",
    kind: "int",
    env: true,
    arg: "n",
    help: "gate: rotated audit files kept (audit.log.1 …), 1-100 (5)",
  },
  {
    key: "log_level",
    kind: "string",
    env: true,
    arg: "level",
    help: "daemons' own log: error, warn, info or debug (info)",
  },
  {
    key: "log_format",
    kind: "string",
    env: true,
    arg: "format",
    help: "daemons' own log lines: text or json (text)",
  },
];

/** The flag spelling of a config key: `socket_path` → `socket-path`. */
export function flagName(key: string): string {
  return key.replaceAll("_", "-");
}

/** The environment variable of a config key: `socket_path` → `GCP_AUTHCALATOR_SOCKET_PATH`. */
export function envName(key: string): string {
  return `GCP_AUTHCALATOR_${key.toUpperCase()}`;
}
