/**
 * examples/kubernetes/ holds together: every document parses and has the shape the README
 * promises (the gate's ServiceAccount bound to system:auth-delegator, Deployment + Service on the
 * TLS port, a workspace pod whose sidecar's token is projected for the gate's audience); the
 * gate's TOML and the sidecar's environment load with authcalator's own strict config loader, and
 * the sidecar's gate_url names the Service. (kubectl cannot validate schemas offline.)
 */
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { loadConfig } from "../../src/cli/config.ts";
import { parseConfigText } from "../../src/cli/config_file.ts";

const DIR = new URL("../../examples/kubernetes/", import.meta.url);

// deno-lint-ignore no-explicit-any
type Doc = any;

async function docs(name: string): Promise<Doc[]> {
  const text = await Deno.readTextFile(new URL(name, DIR));
  return parseAllDocuments(text).map((d) => {
    assert.deepEqual(d.errors, [], `${name}: ${d.errors.join("; ")}`);
    return d.toJS();
  });
}

function find(all: Doc[], kind: string, name: string): Doc {
  const found = all.find((d) => d.kind === kind && d.metadata?.name === name);
  assert.ok(found, `${kind}/${name} is missing`);
  return found;
}

const gate = await docs("gate.yaml");
const workspace = await docs("workspace.yaml");

Deno.test("the gate: ServiceAccount bound to system:auth-delegator, Deployment and Service", () => {
  const sa = find(gate, "ServiceAccount", "authcalator-gate");
  assert.equal(sa.metadata.namespace, "authcalator");
  const binding = find(gate, "ClusterRoleBinding", "authcalator-gate-tokenreview");
  assert.deepEqual(binding.roleRef, {
    apiGroup: "rbac.authorization.k8s.io",
    kind: "ClusterRole",
    name: "system:auth-delegator",
  });
  assert.deepEqual(binding.subjects, [
    { kind: "ServiceAccount", name: "authcalator-gate", namespace: "authcalator" },
  ]);
  const deployment = find(gate, "Deployment", "authcalator-gate");
  assert.equal(deployment.spec.replicas, 1, "approvals and held sessions live in one gate");
  const pod = deployment.spec.template.spec;
  assert.equal(pod.serviceAccountName, "authcalator-gate");
  const container = pod.containers.find((c: Doc) => c.name === "gate");
  assert.deepEqual(container.args.slice(0, 1), ["gate"]);
  assert.equal(container.ports[0].containerPort, 8174);
  const service = find(gate, "Service", "authcalator-gate");
  assert.deepEqual(service.spec.selector, deployment.spec.template.metadata.labels);
  assert.equal(service.spec.ports[0].port, 8174);
  assert.equal(service.spec.ports[0].targetPort, container.ports[0].name);
  // The runtime directory (sockets, audit) and tls_dir are made private by the init container.
  const xdg = container.env.find((e: Doc) => e.name === "XDG_RUNTIME_DIR").value;
  const init = pod.initContainers[0].command.join(" ");
  assert.match(init, new RegExp(`umask 077 && mkdir -p \\S+ ${xdg} `));
  // ADC from a Secret (key material mode 0400).
  const adc = pod.volumes.find((v: Doc) => v.name === "adc");
  assert.equal(adc.secret.secretName, "authcalator-adc");
  assert.equal(adc.secret.defaultMode, 0o400);
  for (const volume of pod.volumes.filter((v: Doc) => v.secret)) {
    assert.equal(volume.secret.defaultMode, 0o400, `${volume.name}: owner-read only`);
  }
});

Deno.test("the gate's TOML loads with the strict config loader and asks TokenReview for the workspace", () => {
  const cm = find(gate, "ConfigMap", "authcalator-gate");
  const table = parseConfigText("gate.toml", cm.data["gate.toml"]);
  const config = loadConfig({ flags: {}, env: {}, file: { path: "gate.toml", table } });
  assert.equal(config.gate_tls_port, 8174);
  const c = config as unknown as Record<string, unknown>;
  assert.equal(c.gate_token_review_audience, "authcalator-gate");
  assert.deepEqual(c.gate_allowed_service_accounts, ["system:serviceaccount:agents:workspace"]);
  const deployment = find(gate, "Deployment", "authcalator-gate");
  const mounts = deployment.spec.template.spec.containers[0].volumeMounts;
  const configMount = mounts.find((m: Doc) => m.name === "config").mountPath;
  assert.deepEqual(deployment.spec.template.spec.containers[0].args, [
    "gate",
    "--config",
    `${configMount}/gate.toml`,
  ]);
  // The workspace's service account is the one admitted.
  const sa = find(workspace, "ServiceAccount", "workspace");
  assert.equal(
    `system:serviceaccount:${sa.metadata.namespace}:${sa.metadata.name}`,
    (c.gate_allowed_service_accounts as string[])[0],
  );
});

Deno.test("the workspace: proxy sidecar with gate_url to the Service and a token for the gate's audience", async () => {
  const pod = find(workspace, "Pod", "workspace");
  assert.equal(pod.spec.automountServiceAccountToken, false);
  const proxy = pod.spec.containers.find((c: Doc) => c.name === "metadata-proxy");
  assert.deepEqual(proxy.args, ["metadata-proxy"]);
  const env: Record<string, string> = Object.fromEntries(
    proxy.env.map((e: Doc) => [e.name, e.value]),
  );
  const config = loadConfig({ flags: {}, env });
  assert.equal(config.gate_url, "https://authcalator-gate.authcalator.svc:8174");
  const service = find(gate, "Service", "authcalator-gate");
  assert.equal(
    new URL(config.gate_url!).hostname,
    `${service.metadata.name}.${service.metadata.namespace}.svc`,
  );
  assert.equal(Number(new URL(config.gate_url!).port), service.spec.ports[0].port);
  // The token file is in the projected volume, for the audience the gate reviews.
  const tokenMount = proxy.volumeMounts.find((m: Doc) => m.name === "gate-token");
  assert.equal(config.gate_token_file, `${tokenMount.mountPath}/token`);
  const projected = pod.spec.volumes.find((v: Doc) => v.name === "gate-token").projected;
  const source = projected.sources[0].serviceAccountToken;
  assert.equal(source.path, "token");
  const cm = find(gate, "ConfigMap", "authcalator-gate");
  const gateToml = parseConfigText("gate.toml", cm.data["gate.toml"]);
  assert.equal(source.audience, gateToml.gate_token_review_audience);
  // tls_dir holds the gate's CA.
  const caMount = proxy.volumeMounts.find((m: Doc) => m.name === "gate-ca");
  assert.equal(config.tls_dir, caMount.mountPath);
  const caVolume = pod.spec.volumes.find((v: Doc) => v.name === "gate-ca");
  assert.equal(caVolume.configMap.name, "authcalator-gate-ca");
  const readme = await Deno.readTextFile(new URL("README.md", DIR));
  assert.match(readme, /create configmap authcalator-gate-ca --from-file=\.\/gate-tls\/ca\.pem/);
  // The agent reaches the sidecar as its metadata server.
  const agent = pod.spec.containers.find((c: Doc) => c.name === "agent");
  const agentEnv = Object.fromEntries(agent.env.map((e: Doc) => [e.name, e.value]));
  assert.equal(agentEnv.GCE_METADATA_HOST, `127.0.0.1:${proxy.ports[0].containerPort}`);
  assert.equal(agent.volumeMounts, undefined, "the token is mounted into the sidecar only");
});
