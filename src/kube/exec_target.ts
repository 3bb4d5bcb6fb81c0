/**
 * What kube-setup writes as a user's exec command: the compiled binary itself, or, when
 * authcalator runs from source, `deno run` with exactly the kube-token role's pinned flags.
 * @module
 */
import type { ExecTarget } from "./kubeconfig_patch.ts";

/** How the running authcalator was started. */
export interface Launch {
  /** True for a `deno compile`d binary. */
  standalone: boolean;
  /** The real path of the running executable (the binary, or `deno`). */
  executable: string;
  /** The module `deno run` should load (from source only): kube-token's own entry point. */
  entryModule: string;
  /** The kube-token role's `--allow-*` flags for this user (from source only). */
  kubeTokenFlags: string[];
}

/** The exec command kubectl should run for kube-token. */
export function execTarget(launch: Launch): ExecTarget {
  if (launch.standalone) return { command: launch.executable, args: ["kube-token"] };
  // --no-config: kubectl may run us from any directory; a deno.json there must not apply.
  return {
    command: launch.executable,
    args: ["run", "--no-config", ...launch.kubeTokenFlags, launch.entryModule],
  };
}
