/**
 * Where a process running in a Kubernetes pod finds the API server and its service account: the
 * variables and files every pod gets. Small on purpose: the permission table reads it too.
 * @module
 */

/** The service account's files in a pod: `token`, `ca.crt`, `namespace`. */
export const IN_CLUSTER_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** The API server URL of an in-cluster process, from the variables Kubernetes sets. */
export function inClusterApiUrl(env: Record<string, string | undefined>): string | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  if (!host) return undefined;
  const port = env.KUBERNETES_SERVICE_PORT || "443";
  return `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
}
