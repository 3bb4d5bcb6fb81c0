/** The kubeconfig kube-setup edits: the first non-empty entry of `KUBECONFIG`, else `~/.kube/config`. */
export function kubeconfigPath(env: { KUBECONFIG?: string; HOME?: string }): string {
  const first = (env.KUBECONFIG ?? "").split(":").find((entry) => entry !== "");
  return first ?? `${env.HOME ?? "/"}/.kube/config`;
}
