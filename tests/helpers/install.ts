/**
 * Installs the `authcalator` command the way `deno task install` does, for tests that need the
 * installed command (kube-setup writes its path into kubeconfig). Temp dirs under /tmp count as
 * places that will not last, so these homes live under the checkout's ignored .ci/out/homes, or,
 * when the checkout itself is in a temporary directory (CI may clone anywhere), under the test
 * runner's own ~/.cache.
 */
import { transienceOf } from "../../src/kube/exec_target.ts";
import { ROOT } from "./cli.ts";

const TRANSIENT = ["/tmp", "/var/tmp", Deno.env.get("TMPDIR") ?? ""].filter(Boolean);

/** Where stable test homes go: inside the checkout unless it is itself somewhere temporary. */
function stableParent(): string {
  const inCheckout = `${ROOT}.ci/out/homes`;
  if (!transienceOf(inCheckout, TRANSIENT)) return inCheckout;
  const home = Deno.env.get("HOME");
  const cache = home ? `${home}/.cache/authcalator-test-homes` : undefined;
  if (cache && !transienceOf(cache, TRANSIENT)) return cache;
  throw new Error(
    `no stable place for test homes: the checkout (${ROOT}) and HOME are both temporary`,
  );
}

/** A private directory that kube-setup does not treat as temporary; the caller removes it. */
export async function stableTempDir(prefix: string): Promise<string> {
  const parent = stableParent();
  await Deno.mkdir(parent, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: parent, prefix });
  await Deno.chmod(dir, 0o700);
  return dir;
}

/** `deno task install --root <root>` from a clean environment (the shared helper in src/testing). */
export { installAuthcalator } from "../../src/testing/install.ts";
