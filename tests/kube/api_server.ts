/**
 * A loopback HTTPS Kubernetes API-server fake and a GKE-style kubeconfig for the kubectl e2e
 * tests. Needs `kubectl` (Debian: kubernetes-client, or $KUBECTL) and `openssl` (Debian: openssl).
 */
import { encodeBase64 } from "./base64.ts";

export const KUBECTL = Deno.env.get("KUBECTL") ?? "kubectl";

/** kubectl's client minor version; exec apiVersion v1 needs 1.22 or later. */
export async function kubectlMinor(): Promise<number> {
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

/** A self-signed certificate for 127.0.0.1, made with the openssl CLI. */
export async function makeCert(dir: string): Promise<{ cert: string; key: string }> {
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

/** What the API-server fake decides about a bearer token: accepted, or refused with a label. */
export type TokenCheck = (token: string) => Promise<boolean> | boolean;

/** A Kubernetes API-server fake: `/version` for a bearer token `accept` takes, 401 otherwise. */
export function startApiServer(tls: { cert: string; key: string }, accept: TokenCheck) {
  const seen: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: tls.cert, key: tls.key, onListen() {} },
    async (req) => {
      const auth = req.headers.get("authorization") ?? "";
      const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
      const ok = token !== "" && await accept(token);
      const who = ok ? "good" : auth ? "wrong" : "none";
      seen.push(`${who} ${new URL(req.url).pathname}`);
      if (!ok) {
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

export function gkeKubeconfig(server: string, caPem: string, execApiVersion: string): string {
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
