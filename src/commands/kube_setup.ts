/**
 * `authcalator kube-setup`: points every kubeconfig user of gke-gcloud-auth-plugin at kube-token.
 * @module
 */
import type { Invocation } from "../cli/commands.ts";
import { denoFlags, sampleContext } from "../permissions.ts";
import { execTarget } from "../kube/exec_target.ts";
import { kubeconfigPath } from "../kube/kubeconfig_path.ts";
import { patchKubeconfig } from "../kube/kubeconfig_patch.ts";
import {
  readKubeconfig,
  writableTarget,
  writeBackup,
  writeKubeconfig,
} from "../kube/kubeconfig_file.ts";

/** The running executable's real path (the plain path where reading it is not permitted). */
async function executable(): Promise<string> {
  try {
    return await Deno.realPath(Deno.execPath());
  } catch {
    return Deno.execPath();
  }
}

/** kube-token's own entry point, as a path for a local checkout or a URL for a published one. */
function entryModule(): string {
  const url = new URL("../kube/kube_token_entry.ts", import.meta.url);
  return url.protocol === "file:" ? decodeURIComponent(url.pathname) : url.href;
}

/** Patches the kubeconfig; exit 0 when done or when nothing needed patching. */
export async function run(invocation: Invocation): Promise<number> {
  const env = invocation.env;
  const home = env.HOME;
  const path = kubeconfigPath({ KUBECONFIG: env.KUBECONFIG, HOME: home });
  const metadataHost = env.GCE_METADATA_HOST || undefined;
  const target = execTarget({
    standalone: Deno.build.standalone === true,
    executable: await executable(),
    entryModule: entryModule(),
    kubeTokenFlags: denoFlags("kube-token", {
      ...sampleContext(),
      home: home ?? "/",
      metadataHost,
    }),
  });
  const text = await readKubeconfig(path);
  const { text: patchedText, patched } = patchKubeconfig(text, target, path);
  if (patched.length === 0) {
    console.error(
      `kube-setup: warning: no user in ${path} runs gke-gcloud-auth-plugin; nothing changed`,
    );
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
  for (const name of patched) console.log(`kube-setup: user ${name} now runs kube-token`);
  console.log(`kube-setup: updated ${written}`);
  return 0;
}
