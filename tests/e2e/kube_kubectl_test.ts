/**
 * The whole kube path with a real kubectl: a GKE-style kubeconfig, the installed
 * `authcalator kube-setup`, then `kubectl get --raw /version` against a loopback HTTPS API-server
 * fake that accepts only the right bearer token, with kube-token fetching it from a fake metadata
 * server. Needs `kubectl` (Debian: kubernetes-client, or $KUBECTL) and `openssl`.
 */
import assert from "node:assert/strict";
import { baseEnv } from "../helpers/cli.ts";
import { installAuthcalator, stableTempDir } from "../helpers/install.ts";
import {
  gkeKubeconfig,
  KUBECTL,
  kubectlMinor,
  makeCert,
  startApiServer,
} from "../kube/api_server.ts";
import { startFakeMetadata } from "../kube/fake_metadata.ts";
import { denoDir, runExact } from "../kube/pinned.ts";

const GOOD_TOKEN = "ya29.the-right-token";
const MINOR = await kubectlMinor();
const installRoot = await stableTempDir("kube-kubectl-install-");
const AUTHCALATOR = await installAuthcalator(installRoot, await denoDir());
globalThis.addEventListener("unload", () => Deno.removeSync(installRoot, { recursive: true }));

/** Sets up a home with a patched kubeconfig, then runs kubectl get --raw /version. */
async function kubectlVersion(metadataToken: string, execApiVersion: string) {
  const home = await stableTempDir("kube-kubectl-");
  const metadata = startFakeMetadata({ token: metadataToken });
  const tls = await makeCert(home);
  const api = startApiServer(tls, (token) => token === GOOD_TOKEN);
  try {
    await Deno.mkdir(`${home}/.kube`);
    await Deno.writeTextFile(
      `${home}/.kube/config`,
      gkeKubeconfig(api.url, tls.cert, execApiVersion),
    );
    const env = {
      ...baseEnv(),
      DENO_DIR: await denoDir(),
      HOME: home,
      GCE_METADATA_HOST: metadata.host,
    };
    const setup = await runExact(AUTHCALATOR, ["kube-setup"], env);
    assert.equal(setup.code, 0, setup.stderr);
    const kubectl = await runExact(KUBECTL, ["get", "--raw", "/version"], {
      ...env,
      KUBECONFIG: `${home}/.kube/config`,
    });
    return { kubectl, seen: api.seen, metadataRequests: metadata.requests.length };
  } finally {
    await api.close();
    await metadata.close();
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test("kubectl reaches the API server with kube-token's token (exec v1beta1)", async () => {
  const { kubectl, seen, metadataRequests } = await kubectlVersion(
    GOOD_TOKEN,
    "client.authentication.k8s.io/v1beta1",
  );
  assert.equal(kubectl.code, 0, kubectl.stderr);
  assert.equal(JSON.parse(kubectl.stdout).gitVersion, "v1.32.0-authcalator-fake");
  assert.ok(seen.includes("good /version"), seen.join(","));
  assert.ok(seen.every((s) => s.startsWith("good ")), seen.join(","));
  assert.ok(metadataRequests >= 1);
});

Deno.test({
  name: `kubectl with exec apiVersion v1 (needs kubectl 1.22+, have 1.${MINOR})`,
  ignore: MINOR < 22,
  fn: async () => {
    const { kubectl, seen } = await kubectlVersion(GOOD_TOKEN, "client.authentication.k8s.io/v1");
    assert.equal(kubectl.code, 0, kubectl.stderr);
    assert.equal(JSON.parse(kubectl.stdout).gitVersion, "v1.32.0-authcalator-fake");
    assert.ok(seen.includes("good /version"), seen.join(","));
  },
});

Deno.test("kubectl is refused when the metadata server hands out a wrong token", async () => {
  const { kubectl, seen } = await kubectlVersion(
    "ya29.a-wrong-token",
    "client.authentication.k8s.io/v1beta1",
  );
  assert.equal(kubectl.code, 1);
  assert.equal(kubectl.stdout, "");
  assert.match(kubectl.stderr, /Unauthorized/);
  assert.ok(seen.length >= 1 && seen.every((s) => s.startsWith("wrong ")), seen.join(","));
});
