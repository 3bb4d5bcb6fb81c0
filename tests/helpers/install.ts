/**
 * Installs the `authcalator` command the way `deno task install` does, for tests that need the
 * installed command (kube-setup writes its path into kubeconfig). Temp dirs under /tmp count as
 * places that will not last, so these homes live under the checkout's ignored .ci/out/homes.
 */
import { ROOT } from "./cli.ts";

/** A private directory that kube-setup does not treat as temporary; the caller removes it. */
export async function stableTempDir(prefix: string): Promise<string> {
  const parent = `${ROOT}.ci/out/homes`;
  await Deno.mkdir(parent, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: parent, prefix });
  await Deno.chmod(dir, 0o700);
  return dir;
}

/** `deno task install --root <root>` from a clean environment (the shared helper in src/testing). */
export { installAuthcalator } from "../../src/testing/install.ts";
