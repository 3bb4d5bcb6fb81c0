/**
 * A second entry point that runs only kube-token, for the kubeconfig kube-setup writes when
 * authcalator runs from source: kubectl starts it on every call, and going through src/main.ts
 * would also load the CLI parser (node:util) and every command's module graph (measured in
 * scripts/bench.ts). Output and exit codes are those of `authcalator kube-token`.
 * @module
 */
import { run } from "../commands/kube_token.ts";
import { messageOf } from "../errors.ts";

/** Runs kube-token with `args` (none are accepted) and returns the exit code. */
export async function main(args: string[]): Promise<number> {
  if (args.length > 0) {
    console.error(`error: kube-token takes no arguments, got ${JSON.stringify(args[0])}`);
    return 2;
  }
  try {
    const env: Record<string, string> = {};
    for (const name of ["GCE_METADATA_HOST", "KUBERNETES_EXEC_INFO"]) {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    }
    return await run({ command: "kube-token", positionals: [], flags: {}, env });
  } catch (err) {
    console.error(`kube-token: ${messageOf(err)}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
