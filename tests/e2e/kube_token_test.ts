/**
 * kube-token as kubectl runs it: a real process under the role's pinned permission flags, through
 * src/main.ts and through the entry point kube-setup writes for a source checkout.
 */
import assert from "node:assert/strict";
import { baseEnv, MAIN } from "../helpers/cli.ts";
import { closedPort, startFakeMetadata, startStallingServer } from "../kube/fake_metadata.ts";
import { pinnedFlags, runExact } from "../kube/pinned.ts";

const ENTRY = new URL("../../src/kube/kube_token_entry.ts", import.meta.url).pathname;
const V1 = "client.authentication.k8s.io/v1";
const V1BETA1 = "client.authentication.k8s.io/v1beta1";
const execInfo = (apiVersion: string) =>
  JSON.stringify({ kind: "ExecCredential", apiVersion, spec: { interactive: false } });

/** Runs kube-token the two ways users do, under the pinned flags for `host`. */
async function kubeToken(host: string, extraEnv: Record<string, string> = {}) {
  const flags = await pinnedFlags("kube-token", { GCE_METADATA_HOST: host });
  const env = { ...baseEnv(), GCE_METADATA_HOST: host, ...extraEnv };
  const viaMain = await runExact(
    Deno.execPath(),
    ["run", "--quiet", ...flags, MAIN, "kube-token"],
    env,
  );
  const viaEntry = await runExact(Deno.execPath(), ["run", "--no-config", ...flags, ENTRY], env);
  return [viaMain, viaEntry];
}

Deno.test("pinned kube-token flags: every loopback port and two variables, nothing else", async () => {
  const loopback = [
    "--no-prompt",
    "--allow-net=127.0.0.1,localhost,[::1]",
    "--allow-env=GCE_METADATA_HOST,KUBERNETES_EXEC_INFO",
  ];
  // GCE_METADATA_HOST is read at each call, so the flags no longer depend on it (with-prod's
  // temporary proxy listens on a random port).
  assert.deepEqual(await pinnedFlags("kube-token", { GCE_METADATA_HOST: "127.0.0.1:9" }), loopback);
  assert.deepEqual(await pinnedFlags("kube-token", {}), loopback);
  // A metadata host on another machine is granted only when kube-setup's environment names it.
  assert.deepEqual(await pinnedFlags("kube-token", { GCE_METADATA_HOST: "proxy.internal:8173" }), [
    "--no-prompt",
    "--allow-net=127.0.0.1,localhost,[::1],proxy.internal:8173",
    "--allow-env=GCE_METADATA_HOST,KUBERNETES_EXEC_INFO",
  ]);
});

Deno.test("kube-token answers in the API version KUBERNETES_EXEC_INFO asks for", async () => {
  const fake = startFakeMetadata({ token: "ya29.kube-e2e" });
  try {
    const cases: [Record<string, string>, string][] = [
      [{ KUBERNETES_EXEC_INFO: execInfo(V1) }, V1],
      [{ KUBERNETES_EXEC_INFO: execInfo(V1BETA1) }, V1BETA1],
      [{}, V1BETA1],
      [{ KUBERNETES_EXEC_INFO: "{not json" }, V1BETA1],
    ];
    for (const [env, expected] of cases) {
      for (const out of await kubeToken(fake.host, env)) {
        const before = Date.now();
        assert.equal(out.code, 0, out.stderr);
        assert.equal(out.stderr, "");
        const cred = JSON.parse(out.stdout);
        assert.equal(cred.apiVersion, expected, JSON.stringify(env));
        assert.equal(cred.kind, "ExecCredential");
        assert.equal(cred.status.token, "ya29.kube-e2e");
        const ahead = Date.parse(cred.status.expirationTimestamp) - before;
        assert.ok(ahead > -2000 && ahead <= 1000, `expiry ${ahead} ms ahead`);
      }
    }
    assert.ok(fake.requests.every((r) => r.flavor === "Google"));
  } finally {
    await fake.close();
  }
});

Deno.test("kube-token with the proxy down: exit 1, empty stdout, a clear error", async () => {
  const host = `127.0.0.1:${closedPort()}`;
  for (const out of await kubeToken(host)) {
    assert.equal(out.code, 1);
    assert.equal(out.stdout, "");
    assert.equal(
      out.stderr.trim(),
      `kube-token: cannot reach the metadata server at ${host} (connection refused); ` +
        "is `authcalator metadata-proxy` running, and is GCE_METADATA_HOST right?",
    );
  }
});

Deno.test("kube-token with a proxy answering 500 or garbage: exit 1, empty stdout", async () => {
  const cases: [{ status: number; body: string }, RegExp][] = [
    [
      { status: 500, body: '{"error":"the gate is unreachable"}' },
      /HTTP 500: the gate is unreachable$/,
    ],
    [{ status: 200, body: "ya29.leaked <html>" }, /answered with a body that is not JSON$/],
    [{ status: 200, body: '{"token_type":"Bearer"}' }, /answered without an access_token$/],
  ];
  for (const [answer, pattern] of cases) {
    const fake = startFakeMetadata(answer);
    try {
      for (const out of await kubeToken(fake.host)) {
        assert.equal(out.code, 1);
        assert.equal(out.stdout, "");
        assert.match(out.stderr.trim(), pattern);
        assert.doesNotMatch(out.stderr, /ya29/);
      }
    } finally {
      await fake.close();
    }
  }
});

Deno.test("kube-token rejects a malformed GCE_METADATA_HOST", async () => {
  const flags = await pinnedFlags("kube-token", {});
  for (const bad of ["http://127.0.0.1:8173", "127.0.0.1:8173/path"]) {
    const out = await runExact(
      Deno.execPath(),
      ["run", "--no-config", ...flags, ENTRY],
      { ...baseEnv(), GCE_METADATA_HOST: bad },
    );
    assert.equal(out.code, 1);
    assert.equal(out.stdout, "");
    assert.match(out.stderr, /^kube-token: GCE_METADATA_HOST must be host or host:port/);
  }
});

Deno.test("kube-token reaches a metadata proxy on any loopback port, set up or not", async () => {
  const fake = startFakeMetadata({ token: "ya29.random-port" });
  try {
    // Set up while the proxy was on 8173; with-prod's temporary proxy is elsewhere.
    const flags = await pinnedFlags("kube-token", { GCE_METADATA_HOST: "127.0.0.1:8173" });
    const out = await runExact(
      Deno.execPath(),
      ["run", "--no-config", ...flags, ENTRY],
      { ...baseEnv(), GCE_METADATA_HOST: fake.host },
    );
    assert.equal(out.code, 0, out.stderr);
    assert.equal(JSON.parse(out.stdout).status.token, "ya29.random-port");
  } finally {
    await fake.close();
  }
});

Deno.test("kube-token may not reach a non-loopback host it was not set up for", async () => {
  const flags = await pinnedFlags("kube-token", {});
  const out = await runExact(
    Deno.execPath(),
    ["run", "--no-config", ...flags, ENTRY],
    { ...baseEnv(), GCE_METADATA_HOST: "192.0.2.1:80" },
  );
  assert.equal(out.code, 1);
  assert.equal(out.stdout, "");
  assert.match(
    out.stderr,
    /^kube-token: not permitted to reach 192\.0\.2\.1:80: kube-token may reach a metadata proxy on loopback/,
  );
});

Deno.test("kube-token gives up after 5 s on a proxy that stalls the body", async () => {
  const stall = startStallingServer('HTTP/1.1 200 OK\r\ncontent-length: 200\r\n\r\n{"access');
  try {
    const flags = await pinnedFlags("kube-token", { GCE_METADATA_HOST: stall.host });
    const started = performance.now();
    const out = await runExact(
      Deno.execPath(),
      ["run", "--no-config", ...flags, ENTRY],
      { ...baseEnv(), GCE_METADATA_HOST: stall.host },
    );
    const took = performance.now() - started;
    assert.equal(out.code, 1);
    assert.equal(out.stdout, "");
    assert.match(out.stderr, /timed out after 5000 ms while waiting for a token/);
    assert.ok(took >= 4900 && took < 9000, `took ${took} ms`);
  } finally {
    await stall.close();
  }
});

Deno.test("the kube-token entry point takes no arguments", async () => {
  const out = await runExact(Deno.execPath(), ["run", "--no-config", ENTRY, "extra"], baseEnv());
  assert.equal(out.code, 2);
  assert.equal(out.stdout, "");
  assert.match(out.stderr, /kube-token takes no arguments/);
});
