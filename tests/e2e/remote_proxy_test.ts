/**
 * A real metadata-proxy process (its pinned permissions, as users run it) reaching a remote gate
 * at `gate_url` over TCP + TLS: mTLS with a client bundle file, and a bearer token file replaced
 * under a load of requests (zero failures, every rotation used). The gate here is a node:https
 * stand-in that answers as the gate does, so these prove the client side alone; the real gate's
 * TCP listener is driven in remote_gate_test.ts. Bad start-up settings exit 1 naming the fix.
 */
import assert from "node:assert/strict";
import { roleEnv, spawnRole, startRole } from "../../src/testing/chain.ts";
import { issueTlsMaterial, startStandInGate } from "../gate_api/remote_tls_fixture.ts";

const READY = /metadata-proxy listening on (http:\/\/127\.0\.0\.1:\d+)/;
const parent = await Deno.makeTempDir();
const material = await issueTlsMaterial({ clientName: "workspace-e2e" });
const bundleFile = `${parent}/client-bundle.pem`;
await Deno.writeTextFile(bundleFile, material.bundle, { mode: 0o600 });
const env = roleEnv(parent);

async function token(proxy: string, scopes: string): Promise<Response> {
  return await fetch(
    `${proxy}/computeMetadata/v1/instance/service-accounts/default/token?scopes=${scopes}`,
    { headers: { "metadata-flavor": "Google" }, signal: AbortSignal.timeout(15_000) },
  );
}

Deno.test("mTLS: the proxy gets tokens from a gate_url with its bundle, on kept-alive connections", async () => {
  const gate = await startStandInGate(material);
  const { proc, match } = await startRole("metadata-proxy", [
    "--project-id",
    "p",
    "--port",
    "0",
    "--gate-url",
    `https://localhost:${gate.port}/`,
    "--tls-bundle",
    bundleFile,
  ], { env, ready: READY });
  try {
    for (let i = 0; i < 4; i++) {
      const res = await token(match[1], `https://www.googleapis.com/auth/s${i}`);
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.match(body.access_token, /^ya29\.stand-in-/);
    }
    const tokenCalls = gate.seen.filter((s) => s.path.startsWith("/token"));
    assert.equal(tokenCalls.length, 4);
    assert.ok(gate.seen.every((s) => s.clientName === "workspace-e2e"));
    assert.equal(gate.connections(), 1, "health and four tokens on one TLS connection");
    assert.doesNotMatch(proc.output(), /warning/);
  } finally {
    await proc.stop();
    await gate.close();
  }
});

Deno.test("bearer: replacing the token file under a load of proxy requests fails none", async () => {
  const gate = await startStandInGate(material, { requireClientCert: false });
  const tlsDir = await Deno.makeTempDir({ dir: parent });
  await Deno.writeTextFile(`${tlsDir}/ca.pem`, material.caPem);
  const tokenFile = `${tlsDir}/token`;
  await Deno.writeTextFile(tokenFile, "sa.token.0\n");
  const { proc, match } = await startRole("metadata-proxy", [
    "--project-id",
    "p",
    "--port",
    "0",
    "--gate-url",
    `https://127.0.0.1:${gate.port}`,
    "--tls-dir",
    tlsDir,
    "--gate-token-file",
    tokenFile,
  ], { env, ready: READY });
  let n = 0;
  let failures = 0;
  let done = false;
  const worker = async () => {
    while (!done) {
      // A new scope set each time, so every request reaches the gate.
      const res = await token(match[1], `https://www.googleapis.com/auth/load${n++}`)
        .catch(() => undefined);
      if (res?.status !== 200) failures++;
      await res?.body?.cancel();
    }
  };
  try {
    const workers = Array.from({ length: 4 }, worker);
    for (let i = 1; i <= 20; i++) {
      await Deno.writeTextFile(`${tokenFile}.new`, `sa.token.${i}\n`);
      await Deno.rename(`${tokenFile}.new`, tokenFile);
      const before = gate.seen.length;
      const deadline = Date.now() + 10_000;
      while (gate.seen.length < before + 3 && failures === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    done = true;
    await Promise.all(workers);
    assert.equal(failures, 0, proc.output());
    const tokens = new Set(gate.seen.map((s) => s.authorization));
    assert.ok(tokens.size >= 18, `rotations the gate saw: ${tokens.size}`);
    assert.ok([...tokens].every((t) => /^Bearer sa\.token\.\d+$/.test(t ?? "")));
    assert.ok(tokens.has("Bearer sa.token.20"));
    assert.doesNotMatch(proc.output(), /sa\.token/, "the token never reaches the proxy's log");
  } finally {
    done = true;
    await proc.stop();
    await gate.close();
  }
});

async function refusedAtStart(
  args: string[],
  pattern: RegExp,
  extraEnv = {},
  permissions?: string[],
  exitCode = 1,
): Promise<void> {
  const proc = spawnRole("metadata-proxy", ["--project-id", "p", "--port", "0", ...args], {
    env: { ...env, ...extraEnv },
    permissions,
  });
  const status = await proc.exited(30_000);
  assert.equal(status.code, exitCode, proc.output());
  assert.match(proc.output(), pattern);
  assert.doesNotMatch(proc.output(), /PRIVATE KEY|MII/);
}

Deno.test("bad remote settings stop the proxy at start, naming the fix", async () => {
  const loose = `${parent}/loose-bundle.pem`;
  await Deno.writeTextFile(loose, material.bundle, { mode: 0o644 });
  await Deno.chmod(loose, 0o644);
  await refusedAtStart(
    ["--gate-url", "https://localhost:1", "--tls-bundle", loose],
    /mode 0644.*chmod 600/,
  );
  await refusedAtStart(
    ["--gate-url", "https://localhost:1", "--gate-token-file", `${parent}/absent-token`],
    /token file .*absent-token does not exist/,
  );
  await refusedAtStart(["--gate-url", "https://localhost:1"], /no TLS client bundle/);
  // Pinned flags cannot be computed from an invalid config; the proxy refuses it itself.
  await refusedAtStart(
    ["--gate-url", "http://localhost:1"],
    /gate_url must be an HTTPS URL/,
    {},
    ["--allow-all"],
    2, // a usage error
  );
  const onlyLocalhost = await issueTlsMaterial({ sans: ["DNS:localhost"] });
  const gate = await startStandInGate(onlyLocalhost);
  try {
    await refusedAtStart(
      ["--gate-url", `https://127.0.0.1:${gate.port}`],
      /did not pass its health check.*does not name 127\.0\.0\.1/,
      { GCP_AUTHCALATOR_TLS_BUNDLE_B64: btoa(onlyLocalhost.bundle) },
    );
  } finally {
    await gate.close();
  }
});

Deno.test("teardown", async () => {
  await Deno.remove(parent, { recursive: true });
});
