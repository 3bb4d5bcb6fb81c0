/**
 * The wrapped command's environment: credential variables stripped, every metadata variable at the
 * temporary proxy, gcloud isolated in the sandbox with its account and project pinned, the quota
 * project rule applied, then the user's extras. Pure: the caller passes its environment in.
 * @module
 */

/** Variables that carry or point at credentials, or would make gcloud use other ones. */
export const STRIPPED_VARS: readonly string[] = [
  "CLOUDSDK_AUTH_ACCESS_TOKEN",
  "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE",
  "CPL_GS_BEARER",
  "GOOGLE_APPLICATION_CREDENTIALS",
  "GOOGLE_OAUTH_ACCESS_TOKEN",
  "GOOGLE_CREDENTIALS",
  "GOOGLE_CLOUD_KEYFILE_JSON",
  "GCLOUD_KEYFILE_JSON",
  "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE",
  "CLOUDSDK_CORE_ACCOUNT",
  "CLOUDSDK_CONFIG",
  "GCP_AUTHCALATOR_TLS_BUNDLE_B64",
];

/** The variable that tells a nested with-prod where its parent's proxy is. */
export const PROD_SESSION_VAR = "GCP_AUTHCALATOR_PROD_SESSION";

/** What the child's environment is built from. */
export interface ChildEnvInput {
  /** with-prod's own environment. */
  base: Record<string, string>;
  /** `127.0.0.1:<port>` of the temporary proxy (or the parent's, when nested). */
  metadataHost: string;
  /** The sandbox's gcloud configuration directory (absent when nested without one). */
  cloudsdkConfig?: string;
  email: string;
  project: string;
  quotaProject?: string;
  noQuotaProject: boolean;
  /** `[env]` merged with `--env` (CLI wins), in insertion order. */
  extras: Record<string, string>;
}

/**
 * Substitutes `${NAME}` (value, or empty) and `${NAME:-default}` (value if defined, even empty,
 * else the default) against `env`. No `$NAME` form, no nesting, no escapes.
 */
export function substitute(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{([^}]*)\}/g, (_all, inner: string) => {
    const sep = inner.indexOf(":-");
    const name = sep < 0 ? inner : inner.slice(0, sep);
    if (Object.hasOwn(env, name)) return env[name];
    return sep < 0 ? "" : inner.slice(sep + 2);
  });
}

/** Builds the child's environment. */
export function buildChildEnv(input: ChildEnvInput): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.base)) {
    if (!STRIPPED_VARS.includes(k)) env[k] = v;
  }
  env.GCE_METADATA_HOST = input.metadataHost;
  env.GCE_METADATA_IP = input.metadataHost;
  env.GCE_METADATA_ROOT = input.metadataHost;
  if (input.cloudsdkConfig) env.CLOUDSDK_CONFIG = input.cloudsdkConfig;
  env.CLOUDSDK_CORE_ACCOUNT = input.email;
  env.CLOUDSDK_CORE_PROJECT = input.project;
  env.GOOGLE_CLOUD_PROJECT = input.project;
  env.GCLOUD_PROJECT = input.project;
  env[PROD_SESSION_VAR] = input.metadataHost;
  if (!input.noQuotaProject) {
    env.GOOGLE_CLOUD_QUOTA_PROJECT = input.quotaProject ?? input.project;
  }
  for (const [k, v] of Object.entries(input.extras)) env[k] = substitute(v, env);
  return env;
}
