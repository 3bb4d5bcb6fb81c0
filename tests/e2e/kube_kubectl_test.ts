/**
 * The whole kube path with a real kubectl: a GKE-style kubeconfig, `authcalator kube-setup` under
 * its pinned flags, then `kubectl get --raw /version` against a loopback HTTPS API-server fake that
 * accepts only the right bearer token, with kube-token fetching it from a fake metadata server.
 * Needs `kubectl` (Debian: kubernetes-client, or $KUBECTL) and `openssl` (Debian: openssl).
 */
import assert from "node:assert/strict";
import { encodeBase64 } from "../kube/base64.ts";
import { baseEnv, MAIN } from "../helpers/cli.ts";
import { startFakeMetadata } from "../kube/fake_metadata.ts";
import { denoDir, pinnedFlags, runExact } from "../kube/pinned.ts";

const KUBECTL = Deno.env.get("KUBECTL") ?? "kubectl";
const GOOD_TOKEN = "ya29.the-right-token";

/** kubectl's client minor version; exec apiVersion v1 needs 1.22 or later. */
async function kubectlMinor(): Promise<number> {
  let out;
  try {
    out = await new Deno.Command(KUBECTL, {
      args: ["version", "--client", "-o", "json"],
      stdout: "piped",
      stderr: "null",
    }).output();
  } catch (err) {
    throw new Error(
      `cannot run ${KUBECTL} (${(err as Error).message}): install Debian's kubernetes-client ` +
        "or set KUBECTL",
    );
  }
  const info = JSON.parse(new TextDecoder().decode(out.stdout));
  return parseInt(info.clientVersion.minor, 10);
}

const MINOR = await kubectlMinor();

/** A self-signed certificate for 127.0.0.1, made with the openssl CLI. */
async function makeCert(dir: string): Promise<{ cert: string; key: string }> {
  const out = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      `${dir}/key.pem`,
      "-out",
      `${dir}/cert.pem`,
      "-days",
      "1",
      "-subj",
      "/CN=authcalator-kube-test",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`openssl failed: ${new TextDecoder().decode(out.stderr)}`);
  return {
    cert: await Deno.readTextFile(`${dir}/cert.pem`),
    key: await Deno.readTextFile(`${dir}/key.pem`),
  };
}

/** A Kubernetes API-server fake: `/version` for the right bearer token, 401 for anything else. */
function startApiServer(tls: { cert: string; key: string }) {
  const seen: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: tls.cert, key: tls.key, onListen() {} },
    (req) => {
      const auth = req.headers.get("authorization") ?? "";
      const who = auth === `Bearer ${GOOD_TOKEN}` ? "good" : auth ? "wrong" : "none";
      seen.push(`${who} ${new URL(req.url).pathname}`);
      if (auth !== `Bearer ${GOOD_TOKEN}`) {
        return Response.json({
          kind: "Status",
          apiVersion: "v1",
          metadata: {},
          status: "Failure",
          message: "Unauthorized",
          reason: "Unauthorized",
          code: 401,
        }, { status: 401 });
      }
      if (new URL(req.url).pathname === "/version") {
        return Response.json({
          major: "1",
          minor: "32",
          gitVersion: "v1.32.0-authcalator-fake",
          platform: "linux/amd64",
        });
      }
      return Response.json({ kind: "Status", code: 404, status: "Failure" }, { status: 404 });
    },
  );
  return { url: `https://127.0.0.1:${server.addr.port}`, seen, close: () => server.shutdown() };
}

function kubeconfig(server: string, caPem: string, execApiVersion: string): string {
  const extra = execApiVersion.endsWith("/v1") ? "\n      interactiveMode: Never" : "";
  return `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: ${encodeBase64(caPem)}
    server: ${server}
  name: gke_demo-project_europe-west1_demo
contexts:
- context:
    cluster: gke_demo-project_europe-west1_demo
    user: gke_demo-project_europe-west1_demo
  name: gke_demo-project_europe-west1_demo
current-context: gke_demo-project_europe-west1_demo
kind: Config
preferences: {}
users:
- name: gke_demo-project_europe-west1_demo
  user:
    exec:
      apiVersion: ${execApiVersion}
      command: gke-gcloud-auth-plugin
      installHint: Install gke-gcloud-auth-plugin for use with kubectl
      provideClusterInfo: true${extra}
`;
}

/** Sets up a home with a patched kubeconfig, then runs kubectl get --raw /version. */
async function kubectlVersion(metadataToken: string, execApiVersion: string) {
  const home = await Deno.makeTempDir({ prefix: "kube-kubectl-" });
  const metadata = startFakeMetadata({ token: metadataToken });
  const tls = await makeCert(home);
  const api = startApiServer(tls);
  try {
    await Deno.mkdir(`${home}/.kube`);
    await Deno.writeTextFile(`${home}/.kube/config`, kubeconfig(api.url, tls.cert, execApiVersion));
    const env = {
      ...baseEnv(),
      DENO_DIR: await denoDir(),
      HOME: home,
      GCE_METADATA_HOST: metadata.host,
    };
    const flags = await pinnedFlags("kube-setup", env);
    const setup = await runExact(
      Deno.execPath(),
      ["run", "--quiet", ...flags, MAIN, "kube-setup"],
      env,
    );
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
