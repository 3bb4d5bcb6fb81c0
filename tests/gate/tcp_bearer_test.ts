/**
 * Bearer-token authentication on the gate's TCP listener (issue 10 item 4, gate side), over real
 * TLS with the real gate app:
 * - the hashes file: a listed token reaches the routes under its name; an unlisted, missing or
 *   malformed one is a 401; the file is re-read when it changes (added and withdrawn tokens take
 *   effect without a restart); a file that becomes unsafe refuses every token (fail closed) until
 *   fixed; an unsafe or malformed file at start is refused; bad lines are named, never echoed;
 * - Kubernetes TokenReview through the API stand-in: an allowed service account passes and is
 *   audited by its identity; the token never reaches the audit or the log.
 */
import assert from "node:assert/strict";
import { MemoryAuditLog } from "../../src/gate/audit.ts";
import { auditWithRemoteClient } from "../../src/gate/remote_client.ts";
import {
  bearerToken,
  BearerTokensFile,
  type BearerVerifier,
  parseTokenHashes,
  sha256Hex,
} from "../../src/gate/bearer_auth.ts";
import { serveTcp } from "../../src/gate/tcp_listener.ts";
import { startKubeApiStandIn } from "../../src/emulator/kube_token_review.ts";
import { TokenReviewer } from "../../src/kube/token_review.ts";
import { HttpError } from "../../src/errors.ts";
import { loopbackServer, makeCa } from "./tcp_certs.ts";
import { testGate } from "./gate_fixture.ts";

const TOKEN_A = "workspace-a-token-" + "a".repeat(30);
const TOKEN_B = "workspace-b-token-" + "b".repeat(30);

async function gate(verifier: (dir: string, ca: string) => Promise<BearerVerifier>) {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-bearer-" });
  const ca = await makeCa(dir);
  const server = await loopbackServer(ca);
  const memory = new MemoryAuditLog();
  const { app, layer, logs } = testGate({ listener: "tcp", audit: auditWithRemoteClient(memory) });
  const listener = await serveTcp({
    hostname: "127.0.0.1",
    port: 0,
    cert: server.cert,
    key: server.key,
    ca: ca.cert,
    auth: { kind: "bearer", verifier: await verifier(dir, ca.cert) },
    handler: app.fetch,
    log: (l) => logs.push(l),
  });
  const client = Deno.createHttpClient({ caCerts: [ca.cert] });
  return {
    dir,
    audit: memory,
    logs,
    async get(path: string, token?: string) {
      const res = await fetch(`https://localhost:${listener.port}${path}`, {
        client,
        headers: token === undefined ? {} : { authorization: token },
      });
      return { status: res.status, body: await res.json(), headers: res.headers };
    },
    async [Symbol.asyncDispose]() {
      client.close();
      await layer.shutdown();
      await listener.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function writeList(path: string, text: string, mode = 0o600) {
  const tmp = `${path}.tmp`;
  await Deno.writeTextFile(tmp, text, { mode });
  await Deno.chmod(tmp, mode);
  await Deno.rename(tmp, path);
}

Deno.test("the hashes file: listed tokens by name, others 401, reloaded on change, fail closed", async () => {
  let list = "";
  let file: BearerTokensFile | undefined;
  const fileLogs: string[] = [];
  await using t = await gate(async (dir) => {
    list = `${dir}/tokens`;
    await writeList(list, `# workspaces\n${await sha256Hex(TOKEN_A)} ws-a\n`);
    file = await BearerTokensFile.open(list, (m) => fileLogs.push(m));
    return file;
  });
  const ok = await t.get("/token", `Bearer ${TOKEN_A}`);
  assert.equal(ok.status, 200);
  const entry = t.audit.entries.at(-1)!;
  assert.equal(entry.client, "ws-a");
  assert.equal(entry.client_auth, "bearer_file");
  assert.equal(entry.socket, "tcp");

  const unlisted = await t.get("/token", `Bearer ${TOKEN_B}`);
  assert.equal(unlisted.status, 401);
  assert.equal(unlisted.body.code, "bearer_token_refused");
  assert.match(unlisted.headers.get("www-authenticate") ?? "", /^Bearer/);
  for (const bad of [undefined, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "Bearer tok!n"]) {
    const res = await t.get("/health", bad);
    assert.equal(res.status, 401, `${JSON.stringify(bad)} is refused`);
  }

  // B is added, A withdrawn: no restart.
  await writeList(list, `${await sha256Hex(TOKEN_B)}\n`);
  assert.equal((await t.get("/health", `Bearer ${TOKEN_A}`)).status, 401);
  assert.equal((await t.get("/token", `Bearer ${TOKEN_B}`)).status, 200);
  assert.match(t.audit.entries.at(-1)!.client ?? "", /^sha256:[0-9a-f]{12}$/);

  // Loosened: every token refused, 503, until fixed.
  await Deno.chmod(list, 0o644);
  const loose = await t.get("/health", `Bearer ${TOKEN_B}`);
  assert.equal(loose.status, 503);
  assert.equal(loose.body.code, "bearer_verifier_unavailable");
  assert.match(fileLogs.join("\n"), /every bearer token is refused until it is fixed: .*chmod 600/);
  await Deno.chmod(list, 0o600);
  assert.equal((await t.get("/health", `Bearer ${TOKEN_B}`)).status, 200);
  assert.equal(file!.size, 1);

  // A malformed rewrite: named by line, the raw token never echoed.
  await writeList(list, `${await sha256Hex(TOKEN_B)}\n${TOKEN_A}\n`);
  assert.equal((await t.get("/health", `Bearer ${TOKEN_B}`)).status, 503);
  assert.match(fileLogs.join("\n"), /line 2 is not/);
  const said = [...t.logs, ...fileLogs].join("\n") + JSON.stringify(t.audit.entries);
  assert.ok(!said.includes(TOKEN_A) && !said.includes(TOKEN_B), "no token in a log or the audit");
});

Deno.test("an unsafe, empty or malformed token list refuses to start", async () => {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-bearer-start-" });
  try {
    const path = `${dir}/tokens`;
    const hash = await sha256Hex(TOKEN_A);
    await writeList(path, `${hash}\n`, 0o640);
    await assert.rejects(BearerTokensFile.open(path, () => {}), /owner-only: run chmod 600/);
    await writeList(path, `${hash}\n`);
    await Deno.symlink(path, `${dir}/link`);
    await assert.rejects(BearerTokensFile.open(`${dir}/link`, () => {}), /is a symlink/);
    await assert.rejects(BearerTokensFile.open(`${dir}/none`, () => {}), /does not exist/);
    await writeList(path, "# nothing yet\n");
    await assert.rejects(BearerTokensFile.open(path, () => {}), /lists no token hashes/);
    await Deno.mkdir(`${dir}/d`, { mode: 0o700 });
    await assert.rejects(BearerTokensFile.open(`${dir}/d`, () => {}), /not a regular file/);
    if (Deno.uid() === 0) {
      await writeList(path, `${hash}\n`);
      await Deno.chown(path, 65534, 65534);
      await assert.rejects(BearerTokensFile.open(path, () => {}), /owned by uid 65534/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("token list lines: bad forms are named by line number", () => {
  const h = "ab".repeat(32);
  assert.deepEqual([
    ...parseTokenHashes(`${h} ws-1\n\n# c\n${h.toUpperCase().replace("AB", "CD")}`, "f"),
  ], [
    [h, "ws-1"],
    ["cd" + h.slice(2), `sha256:cd${h.slice(2, 12)}`],
  ]);
  for (
    const [text, line] of [
      [`${h.slice(1)}`, 1],
      [`${h} bad name!`, 1],
      [`${h}\n${h}`, 2],
      [`\n${h}x`, 2],
      [`${h} ${"n".repeat(65)}`, 1],
    ] as const
  ) {
    assert.throws(() => parseTokenHashes(text, "f"), new RegExp(`f line ${line} `));
  }
});

Deno.test("the Authorization header is parsed strictly", () => {
  assert.equal(bearerToken("Bearer abc.DEF-_~+/="), "abc.DEF-_~+/=");
  assert.equal(bearerToken("bearer  abc"), "abc");
  for (
    const bad of [
      null,
      undefined,
      "",
      "Bearer",
      "Token abc",
      "Bearer a\tb",
      "Bearer " + "a".repeat(16 * 1024 + 1),
    ]
  ) {
    assert.throws(
      () => bearerToken(bad),
      (e: unknown) => e instanceof HttpError && e.status === 401,
    );
  }
});

Deno.test("TokenReview on the listener: an allowed service account is audited by its identity", async () => {
  let api: ReturnType<typeof startKubeApiStandIn> | undefined;
  let reviewer: TokenReviewer | undefined;
  try {
    await using t = await gate(async (dir, caPem) => {
      const ca = await makeCa(dir, "kube CA");
      const apiCert = await loopbackServer(ca);
      api = startKubeApiStandIn({
        cert: apiCert.cert,
        key: apiCert.key,
        reviewers: { gate: "allowed" },
      });
      await Deno.writeTextFile(`${dir}/sa-token`, "gate");
      reviewer = new TokenReviewer({
        apiUrl: api.url,
        caPem: ca.cert,
        reviewerTokenFile: `${dir}/sa-token`,
        audience: "authcalator-gate",
        allowed: ["system:serviceaccount:agents:ws-a"],
      });
      assert.ok(caPem);
      return reviewer;
    });
    const token = api!.issue("agents", "ws-a", { audiences: ["authcalator-gate"] });
    const ok = await t.get("/token", `Bearer ${token}`);
    assert.equal(ok.status, 200);
    const entry = t.audit.entries.at(-1)!;
    assert.equal(entry.client, "system:serviceaccount:agents:ws-a");
    assert.equal(entry.client_auth, "token_review");
    const other = api!.issue("agents", "ws-b", { audiences: ["authcalator-gate"] });
    const refused = await t.get("/token", `Bearer ${other}`);
    assert.equal(refused.status, 403);
    const said = t.logs.join("\n") + JSON.stringify(t.audit.entries) + JSON.stringify(refused.body);
    assert.ok(!said.includes(token) && !said.includes(other), "no token anywhere");
  } finally {
    reviewer?.close();
    await api?.close();
  }
});

Deno.test("the routes never see the credential, and learn the client only as an unverified peer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-bearer-strip-" });
  const ca = await makeCa(dir);
  const server = await loopbackServer(ca);
  const list = `${dir}/tokens`;
  await writeList(list, `${await sha256Hex(TOKEN_A)} ws-a\n`);
  const seen: { authorization: boolean; reason?: string }[] = [];
  const listener = await serveTcp({
    hostname: "127.0.0.1",
    port: 0,
    cert: server.cert,
    key: server.key,
    ca: ca.cert,
    auth: { kind: "bearer", verifier: await BearerTokensFile.open(list, () => {}) },
    handler: async (request, env) => {
      const peer = await env.peer!();
      seen.push({ authorization: request.headers.has("authorization"), reason: peer.reason });
      return new Response("{}", { headers: { "content-type": "application/json" } });
    },
  });
  const client = Deno.createHttpClient({ caCerts: [ca.cert] });
  try {
    const res = await fetch(`https://localhost:${listener.port}/x`, {
      client,
      headers: { authorization: `Bearer ${TOKEN_A}` },
    });
    await res.body?.cancel();
    assert.equal(res.status, 200);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].authorization, false);
    assert.match(
      seen[0].reason ?? "",
      /^tcp client "ws-a" \(bearer token from the gate's token list\)/,
    );
  } finally {
    client.close();
    await listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});
