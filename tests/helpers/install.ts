/**
 * Installs the `authcalator` command the way `deno task install` does, for tests that need the
 * installed command (kube-setup writes its path into kubeconfig). Temp dirs under /tmp count as
 * places that will not last, so these homes live under the checkout's ignored .ci/out/homes.
 */
import { baseEnv, ROOT } from "./cli.ts";

/** A private directory that kube-setup does not treat as temporary; the caller removes it. */
export async function stableTempDir(prefix: string): Promise<string> {
  const parent = `${ROOT}.ci/out/homes`;
  await Deno.mkdir(parent, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: parent, prefix });
  await Deno.chmod(dir, 0o700);
  return dir;
}

/** Runs `deno task install --root <root>` from a clean environment; returns the shim's path. */
export async function installAuthcalator(root: string, denoDir: string): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "install", "--root", root],
    cwd: ROOT,
    env: baseEnv({ HOME: root, DENO_DIR: denoDir }),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `deno task install failed:\n${dec.decode(out.stdout)}${dec.decode(out.stderr)}`,
    );
  }
  return `${root}/bin/authcalator`;
}
