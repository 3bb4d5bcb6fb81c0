/**
 * `authcalator kube-setup`: points every kubeconfig user of gke-gcloud-auth-plugin (and every user
 * an earlier kube-setup pointed at a command that has since moved) at `<authcalator> kube-token`.
 * @module
 */
import type { Invocation } from "../cli/commands.ts";
import { execTarget, EXECUTABLE_ENV, UnstableCommandError } from "../kube/exec_target.ts";
import { kubeconfigPath } from "../kube/kubeconfig_path.ts";
import { patchKubeconfig } from "../kube/kubeconfig_patch.ts";
import {
  readKubeconfig,
  writableTarget,
  writeBackup,
  writeKubeconfig,
} from "../kube/kubeconfig_file.ts";
import { UsageError } from "../errors.ts";

/** The running executable's real path (the plain path where reading it is not permitted). */
async function executable(): Promise<string> {
  try {
    return await Deno.realPath(Deno.execPath());
  } catch {
    return Deno.execPath();
  }
}

/** The module that runs authcalator: a path for a local checkout, a URL for a published one. */
function mainModule(): string {
  const url = new URL("../main.ts", import.meta.url);
  return url.protocol === "file:" ? decodeURIComponent(url.pathname) : url.href;
}

/** Patches the kubeconfig; exit 0 when done or when nothing needed patching. */
export async function run(invocation: Invocation): Promise<number> {
  const env = invocation.env;
  const home = env.HOME;
  const path = kubeconfigPath({ KUBECONFIG: env.KUBECONFIG, HOME: home });
  const override = invocation.flags.command as string | undefined;
  let target;
  try {
    target = execTarget({
      standalone: Deno.build.standalone === true,
      executable: await executable(),
      mainModule: mainModule(),
      shim: env[EXECUTABLE_ENV] || undefined,
      override,
      transientDirs: [...new Set(["/tmp", "/var/tmp", env.TMPDIR ?? ""].filter(Boolean))],
    });
  } catch (err) {
    if (err instanceof UnstableCommandError && override !== undefined) {
      throw new UsageError(err.message);
    }
    throw err;
  }
  const text = await readKubeconfig(path);
  const { text: patchedText, patched, current } = patchKubeconfig(text, target, path);
  if (patched.length === 0) {
    if (current.length > 0) {
      console.error(
        `kube-setup: ${current.length} user(s) in ${path} already run ${target.command} ` +
          `kube-token; nothing changed`,
      );
    } else {
      console.error(
        `kube-setup: warning: no user in ${path} runs gke-gcloud-auth-plugin; nothing changed`,
      );
    }
    return 0;
  }
  await writableTarget(path);
  try {
    const backup = await writeBackup(path);
    console.log(`kube-setup: saved the previous kubeconfig as ${backup}`);
  } catch (err) {
    console.error(
      `kube-setup: warning: could not write ${path}.bak (${(err as Error).message}); continuing`,
    );
  }
  const written = await writeKubeconfig(path, patchedText);
  for (const name of patched) {
    console.log(`kube-setup: user ${name} now runs ${target.command} kube-token`);
  }
  console.log(`kube-setup: updated ${written}`);
  return 0;
}
