/**
 * Installs the `authcalator` command exactly as `deno task install` does, for the tests and the
 * benchmarks that need the installed command (kube-setup writes its path into kubeconfig; the
 * bench times kube-token as kubectl starts it). One home for both, so scripts never import tests.
 * @module
 */
import { roleEnv } from "./chain.ts";

/** The checkout this module belongs to. */
const CHECKOUT = decodeURIComponent(new URL("../../", import.meta.url).pathname);

/** Bound on one install (it fills the module cache with `deno cache`). */
export const INSTALL_TIMEOUT_MS = 120_000;

/**
 * Runs `deno task install --root <root>` from a clean environment whose HOME is `root`; returns
 * the installed command's path. `denoDir` pins Deno's cache (default: the caller's); `checkout` is
 * the tree whose `deno task install` runs (default: this one).
 */
export async function installAuthcalator(
  root: string,
  denoDir?: string,
  checkout: string = CHECKOUT,
): Promise<string> {
  const env = roleEnv(root, denoDir ? { DENO_DIR: denoDir } : {});
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "install", "--root", root],
    cwd: checkout,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(INSTALL_TIMEOUT_MS),
  }).output();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `deno task install failed:\n${dec.decode(out.stdout)}${dec.decode(out.stderr)}`,
    );
  }
  return `${root}/bin/authcalator`;
}
