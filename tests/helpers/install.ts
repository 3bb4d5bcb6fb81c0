/**
 * Installs the `authcalator` command the way `deno task install` does, for tests that need the
 * installed command (kube-setup writes its path into kubeconfig). Temp dirs under /tmp count as
 * places that will not last, so these homes live under the checkout's ignored .ci/out/homes, or,
 * when the checkout itself is in a temporary directory (CI may clone anywhere), under the test
 * runner's own ~/.cache.
 */
import { transienceOf } from "../../src/kube/exec_target.ts";
import { installAuthcalator as installFrom } from "../../src/testing/install.ts";
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

let mirror: Promise<string> | undefined;

/**
 * The checkout to install from: this one, or, when it sits in a temporary directory (which
 * kube-setup rightly refuses to write into kubeconfig), a private mirror of it in a stable place:
 * src/, scripts/ and the config copied, node_modules linked. Made once per test process and
 * removed when the process ends.
 */
function stableCheckout(): Promise<string> {
  if (!transienceOf(ROOT, TRANSIENT)) return Promise.resolve(ROOT);
  return mirror ??= (async () => {
    const dir = await Deno.makeTempDir({ dir: stableParent(), prefix: "checkout-" });
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* already gone */ }
    });
    const copy = await new Deno.Command("cp", {
      args: ["-a", "src", "scripts", "deno.json", "deno.lock", dir],
      cwd: ROOT,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!copy.success) {
      throw new Error(`cannot mirror the checkout: ${new TextDecoder().decode(copy.stderr)}`);
    }
    await Deno.symlink(`${ROOT}node_modules`, `${dir}/node_modules`);
    return dir;
  })();
}

/** The checkout {@link installAuthcalator} installs from, with a trailing slash (as ROOT has). */
export async function installedCheckout(): Promise<string> {
  return (await stableCheckout()).replace(/\/?$/, "/");
}

/** `deno task install --root <root>` from a clean environment, from a checkout that will last. */
export async function installAuthcalator(root: string, denoDir?: string): Promise<string> {
  return installFrom(root, denoDir, await stableCheckout());
}
