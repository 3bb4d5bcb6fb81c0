/**
 * The ExecCredential that kubectl's exec plugin protocol expects on stdout.
 * Pure: no Deno APIs, so kube-token stays fast to start.
 * @module
 */

/** The exec-credential API version kubectl 1.22+ speaks. */
export const EXEC_API_V1 = "client.authentication.k8s.io/v1";
/** The older exec-credential API version, understood by every kubectl since 1.11. */
export const EXEC_API_V1BETA1 = "client.authentication.k8s.io/v1beta1";

/** How far ahead the credential claims to expire: short, so kubectl asks again on every call. */
export const EXPIRY_AHEAD_MS = 1000;

/** An ExecCredential carrying a bearer token. */
export interface ExecCredential {
  apiVersion: string;
  kind: "ExecCredential";
  status: { token: string; expirationTimestamp: string };
}

/**
 * The API version to answer in: the one `KUBERNETES_EXEC_INFO` names when it is v1 or v1beta1,
 * else v1beta1 (absent, unparseable or unknown input never fails the plugin).
 */
export function execApiVersion(execInfo: string | undefined): string {
  if (!execInfo) return EXEC_API_V1BETA1;
  let info: unknown;
  try {
    info = JSON.parse(execInfo);
  } catch {
    return EXEC_API_V1BETA1;
  }
  const asked = typeof info === "object" && info !== null
    ? (info as Record<string, unknown>).apiVersion
    : undefined;
  return asked === EXEC_API_V1 ? EXEC_API_V1 : EXEC_API_V1BETA1;
}

/** Builds the credential for `token`, expiring {@link EXPIRY_AHEAD_MS} after `now`. */
export function execCredential(apiVersion: string, token: string, now: Date): ExecCredential {
  return {
    apiVersion,
    kind: "ExecCredential",
    status: {
      token,
      expirationTimestamp: new Date(now.getTime() + EXPIRY_AHEAD_MS).toISOString(),
    },
  };
}
