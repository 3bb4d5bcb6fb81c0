/**
 * The remote gate end to end, with real processes: the emulator, the gate with its TCP listener
 * (TLS material from init-tls), a metadata-proxy reaching it at `gate_url`, real clients (Node
 * google-auth-library, Python google-auth, kube-token) behind the proxy, and with-prod's approval
 * flow over TCP (approved on the gate's admin socket). Once with mTLS (a named client bundle,
 * audited under its name) and once with Kubernetes bearer tokens checked by TokenReview (the API
 * stand-in in this process), where the projected token file is replaced under a load of requests
 * with zero failures and a token for another audience is refused at the proxy's start. Needs
 * python3-google-auth (.ci/run's packages) and curl.
 */
import assert from "node:assert/strict";
import { freePort, type RunningProcess } from "../../src/testing/process.ts";
import {
  type Chain,
  PROJECT,
  proxyArgsFor,
  roleEnv,
  SERVICE_ACCOUNT,
  spawnRole,
  startChain,
  startRole,
} from "../../src/testing/chain.ts";
import { initTls, issueNamedClient } from "../../src/tls/init.ts";
import { issueServer } from "../../src/tls/issue.ts";
import { readPrivateFile } from "../../src/tls/files.ts";
import { parseCertificate, parsePrivateKey } from "../../src/tls/verify.ts";
import { startKubeApiStandIn } from "../../src/emulator/kube_token_review.ts";
import { ROOT, runCli, startCli } from "../helpers/cli.ts";
import { runClient } from "../metadata/stack.ts";

const PROXY_READY = /metadata-proxy listening on (http:\/\/127\.0\.0\.1:\d+)/;
const TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token";
const AUDIENCE = "authcalator-gate";
const WORKSPACE_SA = "system:serviceaccount:agents:workspace";

/** A private directory with the gate's TLS material (init-tls) and a named client's bundle. */
async function tlsSetup(dir: string): Promise<{ tlsDir: string; bundle: string }> {
  const tlsDir = `${dir}/tls`;
  await initTls(tlsDir, { now: new Date() });
  const issued = await issueNamedClient(tlsDir, "workspace-1", new Date());
  // The workspace's own copy: a 0600 file owned by the proxy's user.
  const bundle = `${dir}/ws-bundle.pem`;
  await Deno.writeTextFile(bundle, await Deno.readTextFile(issued.bundlePath), { mode: 0o600 });
  return { tlsDir, bundle };
}

async function metadataToken(proxyUrl: string, scopes?: string): Promise<Response> {
  const query = scopes ? `?scopes=${scopes}` : "";
  return await fetch(`${proxyUrl}${TOKEN_PATH}${query}`, {
    headers: { "metadata-flavor": "Google" },
    signal: AbortSignal.timeout(20_000),
  });
}

async function auditLines(chain: Chain): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(chain.auditLogPath).catch(() => "");
  return text.split("\n").filter((l) => l).map((l) => JSON.parse(l));
}

/** Real Google clients through the proxy get the gate's token. */
async function realClients(proxyUrl: string, home: string): Promise<void> {
  const host = new URL(proxyUrl).host;
  const python = await runClient(
    "/usr/bin/python3",
    [`${ROOT}tests/e2e/clients/python_client.py`],
    {
      PATH: "/usr/bin:/bin",
      HOME: home,
      GCE_METADATA_HOST: host,
      GCE_METADATA_IP: host,
      GCE_METADATA_ROOT: host,
    },
  );
  assert.equal(python.code, 0, `${python.stdout}\n${python.stderr}`);
  assert.equal(python.values["default project"], PROJECT);
  assert.equal(python.values["email"], SERVICE_ACCOUNT);
  assert.match(python.values["token"], /^ya29\./);
  const node = await runClient(
    Deno.execPath(),
    [
      "run",
      "--quiet",
      "--allow-env",
      "--allow-net",
      "--allow-read",
      "--allow-sys",
      `${ROOT}tests/e2e/clients/node_client.ts`,
    ],
    {
      ...roleEnv(home),
      GCE_METADATA_HOST: host,
      AUDIENCE: "https://svc.example/remote",
    },
    { cwd: ROOT },
  );
  assert.equal(node.code, 0, `${node.stdout}\n${node.stderr}`);
  assert.equal(node.values["project id"], PROJECT);
  assert.equal(node.values["client email"], SERVICE_ACCOUNT);
  assert.equal(node.values["access token"], python.values["token"]);
  assert.equal(node.values["id token aud"], "https://svc.example/remote");
}

/**
 * with-prod over TCP: the request is queued on the gate, approved on its admin socket, and the
 * wrapped command gets a prod token from with-prod's temporary proxy.
 */
async function withProdOverTcp(
  chain: Chain,
  dir: string,
  remoteArgs: string[],
): Promise<void> {
  const out = `${dir}/wp-out`;
  await Deno.mkdir(out, { recursive: true });
  await Deno.mkdir(`${dir}/wp`, { recursive: true, mode: 0o700 });
  const seenBefore = [...chain.gate.output().matchAll(/gate: pending approval ([0-9a-f]{32})/g)]
    .length;
  const script = `curl -sf -H 'Metadata-Flavor: Google' "http://$GCE_METADATA_HOST${TOKEN_PATH}" ` +
    `> ${out}/token.tmp && mv ${out}/token.tmp ${out}/token`;
  const wp = startCli([
    "with-prod",
    "--project-id",
    PROJECT,
    ...remoteArgs,
    "--",
    "bash",
    "-c",
    script,
  ], { env: { HOME: dir, XDG_RUNTIME_DIR: `${dir}/wp` } });
  chain.adopt(wp);
  let id: string | undefined;
  for (let i = 0; i < 600 && !id; i++) {
    const ids = [...chain.gate.output().matchAll(/gate: pending approval ([0-9a-f]{32})/g)];
    if (ids.length > seenBefore) id = ids[seenBefore][1];
    else await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(id, `no request was queued:\n${chain.gate.output()}\n${wp.output()}`);
  const approved = await runCli([
    "approve",
    id,
    "--yes",
    "--admin-socket-path",
    chain.adminSocketPath,
  ]);
  assert.equal(approved.code, 0, approved.stderr);
  const status = await wp.exited(60_000);
  assert.equal(status.code, 0, wp.output());
  const answer = JSON.parse(await Deno.readTextFile(`${out}/token`));
  assert.match(answer.access_token, /^ya29\./);
  const audit = await auditLines(chain);
  assert.ok(
    audit.some((e) => e.level === "prod" && e.result === "granted" && e.socket === "tcp"),
    JSON.stringify(audit.slice(-5)),
  );
}

Deno.test("mTLS: proxy, real clients and with-prod's approval reach the gate over TCP", async () => {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-remote-mtls-" });
  await Deno.chmod(dir, 0o700);
  const { tlsDir, bundle } = await tlsSetup(dir);
  const tlsPort = freePort();
  const chain = await startChain({
    dir,
    proxyPort: false,
    gateArgs: ["--gate-tls-port", String(tlsPort), "--tls-dir", tlsDir],
  });
  let proxy: RunningProcess | undefined;
  try {
    const remote = ["--gate-url", `https://localhost:${tlsPort}`, "--tls-bundle", bundle];
    const started = await startRole("metadata-proxy", proxyArgsFor(remote, 0), {
      env: roleEnv(dir),
      ready: PROXY_READY,
    });
    proxy = chain.adopt(started.proc);
    const proxyUrl = started.match[1];
    const res = await metadataToken(proxyUrl);
    assert.equal(res.status, 200);
    assert.match((await res.json()).access_token, /^ya29\./);
    await realClients(proxyUrl, dir);
    // kubectl's credential plugin goes through the same proxy, so through the remote gate too.
    const kube = spawnRole("kube-token", [], {
      env: roleEnv(dir, { GCE_METADATA_HOST: new URL(proxyUrl).host }),
    });
    assert.equal((await kube.exited(30_000)).code, 0, kube.output());
    const credential = JSON.parse(kube.output());
    assert.equal(credential.kind, "ExecCredential");
    assert.match(credential.status.token, /^ya29\./);
    const audit = await auditLines(chain);
    const dev = audit.filter((e) => e.socket === "tcp" && e.result === "granted");
    assert.ok(dev.length > 0, JSON.stringify(audit.slice(-3)));
    assert.ok(
      dev.every((e) => JSON.stringify(e).includes("workspace-1")),
      "every TCP grant names the client certificate",
    );
    await withProdOverTcp(chain, dir, remote);
    assert.doesNotMatch(proxy.output(), /ya29\.|PRIVATE KEY/);
  } finally {
    await chain.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Kubernetes bearer tokens: TokenReview, rotation under load, another audience refused, with-prod", async () => {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-remote-bearer-" });
  await Deno.chmod(dir, 0o700);
  const { tlsDir } = await tlsSetup(dir);
  // The Kubernetes API stand-in presents a certificate from the gate's CA (for the test only).
  const caPem = (await readPrivateFile(`${tlsDir}/ca.pem`))!;
  const caKeyPem = (await readPrivateFile(`${tlsDir}/ca-key.pem`))!;
  const apiCert = await issueServer(
    { cert: parseCertificate(caPem, "ca"), privateKey: await parsePrivateKey(caKeyPem, "ca key") },
    new Date(),
    ["DNS:localhost", "IP:127.0.0.1"],
  );
  const api = startKubeApiStandIn({
    cert: apiCert.certPem,
    key: apiCert.keyPem,
    reviewers: { "gate-reviewer-token": "allowed" },
  });
  const kubeDir = `${dir}/kube`;
  await Deno.mkdir(kubeDir, { mode: 0o700 });
  await Deno.writeTextFile(`${kubeDir}/ca.crt`, caPem, { mode: 0o600 });
  await Deno.writeTextFile(`${kubeDir}/token`, "gate-reviewer-token", { mode: 0o600 });
  // The workspace side: the gate's CA in its tls_dir, the projected token file.
  const wsDir = `${dir}/ws`;
  await Deno.mkdir(wsDir, { mode: 0o700 });
  await Deno.writeTextFile(`${wsDir}/ca.pem`, caPem);
  const tokenFile = `${wsDir}/token`;
  const project = (name: string, audience = AUDIENCE) =>
    api.issue("agents", name, { audiences: [audience] });
  await Deno.writeTextFile(tokenFile, project("workspace"));
  const tlsPort = freePort();
  // The TokenReview settings as a Kubernetes gate has them: in its config file.
  const gateToml = `${dir}/gate.toml`;
  await Deno.writeTextFile(
    gateToml,
    [
      `gate_tls_port = ${tlsPort}`,
      `tls_dir = ${JSON.stringify(tlsDir)}`,
      `gate_token_review_audience = ${JSON.stringify(AUDIENCE)}`,
      `gate_allowed_service_accounts = [${JSON.stringify(WORKSPACE_SA)}]`,
      `gate_kube_api_url = ${JSON.stringify(api.url)}`,
      `gate_kube_ca_file = ${JSON.stringify(`${kubeDir}/ca.crt`)}`,
      `gate_kube_token_file = ${JSON.stringify(`${kubeDir}/token`)}`,
    ].join("\n") + "\n",
  );
  const chain = await startChain({ dir, proxyPort: false, gateArgs: ["--config", gateToml] });
  try {
    const remote = [
      "--gate-url",
      `https://127.0.0.1:${tlsPort}`,
      "--tls-dir",
      wsDir,
      "--gate-token-file",
      tokenFile,
    ];
    const started = await startRole("metadata-proxy", proxyArgsFor(remote, 0), {
      env: roleEnv(dir),
      ready: PROXY_READY,
    });
    const proxy = chain.adopt(started.proc);
    const proxyUrl = started.match[1];
    await realClients(proxyUrl, dir);

    // Rotation: the kubelet swaps the file for a fresh token; requests keep flowing meanwhile.
    let n = 0;
    let failures = 0;
    let done = false;
    const failed: string[] = [];
    const worker = async () => {
      while (!done) {
        // A new scope set each time, so every request reaches the gate and TokenReview.
        const res = await metadataToken(proxyUrl, `https://www.googleapis.com/auth/rot${n++}`)
          .catch((e) => (failed.push(String(e)), undefined));
        if (res?.status !== 200) {
          failures++;
          if (res) failed.push(`${res.status} ${await res.text()}`);
        } else await res.body?.cancel();
      }
    };
    const reviewsBefore = api.reviews;
    const workers = Array.from({ length: 3 }, worker);
    for (let i = 0; i < 8; i++) {
      await Deno.writeTextFile(`${tokenFile}.new`, project("workspace"));
      await Deno.rename(`${tokenFile}.new`, tokenFile);
      const target = n + 4;
      const deadline = Date.now() + 20_000;
      while (n < target && failures === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    done = true;
    await Promise.all(workers);
    assert.equal(failures, 0, failed.join("\n"));
    assert.ok(api.reviews - reviewsBefore >= 8, "each new token was reviewed");
    assert.doesNotMatch(proxy.output() + chain.gate.output(), /eyJ[A-Za-z0-9_-]{10,}/);
    const audit = await auditLines(chain);
    assert.ok(
      audit.some((e) => e.socket === "tcp" && JSON.stringify(e).includes(WORKSPACE_SA)),
      "the audit names the service account",
    );

    // A token for another audience (the API server's own) is refused: the proxy does not start.
    const otherAudience = `${wsDir}/api-token`;
    await Deno.writeTextFile(
      otherAudience,
      project("workspace", "https://kubernetes.default.svc.cluster.local"),
    );
    const refused = spawnRole("metadata-proxy", [
      "--project-id",
      PROJECT,
      "--port",
      "0",
      "--gate-url",
      `https://127.0.0.1:${tlsPort}`,
      "--tls-dir",
      wsDir,
      "--gate-token-file",
      otherAudience,
    ], { env: roleEnv(dir) });
    const status = await refused.exited(30_000);
    assert.equal(status.code, 1, refused.output());
    assert.match(refused.output(), /did not pass its health check/);
    assert.doesNotMatch(refused.output(), /eyJ/);

    await withProdOverTcp(chain, dir, remote);
  } finally {
    await chain.stop();
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
});
