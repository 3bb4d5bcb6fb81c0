/**
 * The gate's TCP + mTLS listener (issue 10 item 2) with real TLS (node:tls), the real gate app
 * and prod layer, and clients presenting certificates made by openssl:
 * - a named client certificate reaches the dev routes; its name, how it authenticated and its
 *   address are in the audit; the admin routes are absent;
 * - expired, not-yet-valid, wrong-CA, wrong-EKU and missing certificates fail the handshake; an
 *   unnamed one is a 403; a certificate revoked while the gate runs is refused on its open
 *   keep-alive connection at the next request;
 * - plain HTTP on the TLS port gets a 400 naming https; other plain TCP is dropped without an
 *   answer, within the handshake deadline; the listener keeps serving;
 * - a prod approval shows the remote requester as a tcp client with its name and address, never a
 *   guessed process, and a held session streams over TLS and is revoked when its holder leaves.
 */
import assert from "node:assert/strict";
import type tls from "node:tls";
import { createGateApp } from "../../src/gate/app.ts";
import { MemoryAuditLog } from "../../src/gate/audit.ts";
import { createProdLayer } from "../../src/gate/prod.ts";
import { auditWithRemoteClient } from "../../src/gate/remote_client.ts";
import { serveTcp } from "../../src/gate/tcp_listener.ts";
import type { ClientIdentity } from "../../src/tls/client_identity.ts";
import { loadConfig } from "../../src/cli/config.ts";
import type { PendingRequestJson } from "../../src/gate/pending.ts";
import { FakeTokens } from "./fake_tokens.ts";
import { FakeTimers } from "./confirm/fake_timers.ts";
import { until } from "./raw_client.ts";
import { asn1Time, issue, type Leaf, loopbackServer, makeCa, type TestCa } from "./tcp_certs.ts";

/**
 * Test identities: a certificate's CN is its name, unless revoked by the test (the gate wires
 * init-tls's rule, src/tls/client_identity.ts, tested with real material in tcp_setup_test.ts).
 */
function identities(revoked: Set<string>) {
  return (peer: tls.PeerCertificate): Promise<ClientIdentity> => {
    const cn = peer.subject?.CN;
    if (typeof cn !== "string" || !cn) {
      return Promise.resolve({
        ok: false,
        reason: "the client certificate carries no client name",
      });
    }
    if (revoked.has(peer.serialNumber)) {
      return Promise.resolve({ ok: false, reason: `client ${cn} is revoked` });
    }
    return Promise.resolve({ ok: true, name: cn });
  };
}

async function setup(limits: { maxConnections?: number } = {}, handshakeTimeoutMs = 500) {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-tcp-" });
  const ca = await makeCa(dir);
  const server = await loopbackServer(ca);
  const timers = new FakeTimers();
  const clock = timers.clock;
  const tokens = new FakeTokens(clock);
  const memory = new MemoryAuditLog();
  const audit = auditWithRemoteClient(memory);
  const config = loadConfig({
    flags: { project_id: "p", service_account: "sa@p.iam.gserviceaccount.com" },
    env: { HOME: "/h" },
  });
  const logs: string[] = [];
  const deps = { config, clock, tokens, audit, startedAt: clock.now() };
  const layer = createProdLayer(deps, {
    platform: "linux",
    env: {},
    runDialog: () => Promise.reject(new Error("no dialog expected")),
    timers,
    log: (l) => logs.push(l),
  });
  const app = createGateApp(deps, "tcp", layer.handlers("tcp"), (l) => logs.push(l));
  const revoked = new Set<string>();
  const listener = await serveTcp({
    hostname: "127.0.0.1",
    port: 0,
    cert: server.cert,
    key: server.key,
    ca: ca.cert,
    auth: { kind: "certificate", identify: identities(revoked) },
    handler: app.fetch,
    handshakeTimeoutMs,
    limits,
    log: (l) => logs.push(l),
  });
  const clients: Deno.HttpClient[] = [];
  const clientFor = (leaf?: Leaf, trust = ca.cert) => {
    const c = Deno.createHttpClient({
      caCerts: [trust],
      ...(leaf ? { cert: leaf.cert, key: leaf.key } : {}),
    });
    clients.push(c);
    return c;
  };
  const base = `https://localhost:${listener.port}`;
  return {
    dir,
    ca,
    audit: memory,
    logs,
    layer,
    revoked,
    listener,
    base,
    clientFor,
    async get(client: Deno.HttpClient, path: string, init: RequestInit = {}) {
      const res = await fetch(`${base}${path}`, { ...init, client });
      return { status: res.status, body: await res.json() };
    },
    async [Symbol.asyncDispose]() {
      for (const c of clients) c.close();
      await layer.shutdown();
      await listener.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("a named client certificate gets dev tokens; the audit names the client; no admin routes", async () => {
  await using t = await setup();
  const alice = t.clientFor(await issue(t.ca, { cn: "alice", eku: "clientAuth" }));
  const health = await t.get(alice, "/health");
  assert.equal(health.status, 200);
  assert.equal(health.body.status, "ok");
  const token = await t.get(alice, "/token?scopes=https://www.googleapis.com/auth/cloud-platform");
  assert.equal(token.status, 200);
  assert.equal(token.body.access_token, "ya29.dev-1");
  const entry = t.audit.entries.at(-1)!;
  assert.equal(entry.socket, "tcp");
  assert.equal(entry.client, "alice");
  assert.equal(entry.client_auth, "certificate");
  assert.match(entry.client_address ?? "", /^127\.0\.0\.1:\d+$/);
  for (const path of ["/pending", "/pending/0123456789abcdef0123456789abcdef/approve"]) {
    assert.equal((await t.get(alice, path)).status, 404, `${path} is not served over TCP`);
  }
  assert.ok(!JSON.stringify(t.audit.entries).includes("ya29"));
});

Deno.test("expired, not-yet-valid, wrong-CA, wrong-EKU and missing certificates fail the handshake", async () => {
  await using t = await setup();
  const day = 86400_000;
  const otherCa: TestCa = await makeCa(t.dir, "another CA");
  const bad: [string, Leaf | undefined][] = [
    [
      "expired",
      await issue(t.ca, {
        cn: "old",
        eku: "clientAuth",
        start: asn1Time(new Date(Date.now() - 3 * day)),
        end: asn1Time(new Date(Date.now() - day)),
      }),
    ],
    [
      "not yet valid",
      await issue(t.ca, {
        cn: "early",
        eku: "clientAuth",
        start: asn1Time(new Date(Date.now() + day)),
        end: asn1Time(new Date(Date.now() + 3 * day)),
      }),
    ],
    ["wrong CA", await issue(otherCa, { cn: "mallory", eku: "clientAuth" })],
    ["wrong EKU (a server certificate)", await issue(t.ca, { cn: "srv", eku: "serverAuth" })],
    ["no certificate", undefined],
  ];
  for (const [what, leaf] of bad) {
    await assert.rejects(
      fetch(`${t.base}/health`, { client: t.clientFor(leaf) }).then((r) => r.body?.cancel()),
      TypeError,
      `${what}: refused`,
    );
  }
  await until(
    "the refusals to be logged",
    () => t.logs.filter((l) => l.startsWith("TLS handshake from 127.0.0.1")).length >= bad.length,
  );
  assert.equal(t.audit.entries.length, 0, "nothing reached a route");
  const alice = t.clientFor(await issue(t.ca, { cn: "alice", eku: "clientAuth" }));
  assert.equal((await t.get(alice, "/health")).status, 200, "the listener still serves");
});

Deno.test("an unnamed client certificate is refused with what to do", async () => {
  await using t = await setup();
  const unnamed = t.clientFor(await issue(t.ca, { eku: "clientAuth" }));
  const res = await t.get(unnamed, "/token");
  assert.equal(res.status, 403);
  assert.equal(res.body.code, "client_certificate_refused");
  assert.match(res.body.error, /carries no client name/);
  assert.equal(t.audit.entries.length, 0);
});

Deno.test("a certificate revoked while the gate runs is refused on its open connection", async () => {
  await using t = await setup();
  const leaf = await issue(t.ca, { cn: "bob", eku: "clientAuth" });
  const bob = t.clientFor(leaf);
  assert.equal((await t.get(bob, "/health")).status, 200);
  assert.equal(t.listener.connections, 1, "kept alive");
  t.revoked.add(leaf.serial);
  const res = await t.get(bob, "/token");
  assert.equal(res.status, 403);
  assert.equal(res.body.code, "client_certificate_refused");
  assert.match(res.body.error, /client bob is revoked/);
  assert.equal(t.listener.connections, 1, "the same connection: no restart, no reconnect");
  assert.match(t.logs.join("\n"), /request from 127\.0\.0\.1:\d+ refused: 403/);
});

Deno.test("plain HTTP on the TLS port gets a 400 naming https; other plain TCP is dropped", async () => {
  await using t = await setup();
  const plain = await fetch(`http://127.0.0.1:${t.listener.port}/token`);
  assert.equal(plain.status, 400);
  assert.deepEqual(await plain.json(), {
    error: "this gate port speaks TLS: use an https:// gate_url",
    code: "tls_required",
  });
  // Plain TCP that says nothing: closed at the handshake deadline, nothing written.
  const buf = new Uint8Array(64);
  const silent = await Deno.connect({ hostname: "127.0.0.1", port: t.listener.port });
  assert.equal(await silent.read(buf).catch(() => null), null, "closed without a byte");
  silent.close();
  // Bytes that are neither TLS nor HTTP: closed without a byte.
  const junk = await Deno.connect({ hostname: "127.0.0.1", port: t.listener.port });
  await junk.write(new Uint8Array([0, 1, 2, 3, 255, 254]));
  assert.equal(await junk.read(buf).catch(() => null), null);
  junk.close();
  assert.match(t.logs.join("\n"), /plain HTTP from 127\.0\.0\.1:\d+ refused/);
  assert.match(t.logs.join("\n"), /connection from 127\.0\.0\.1:\d+ refused: not TLS/);
  assert.equal(t.audit.entries.length, 0);
  const alice = t.clientFor(await issue(t.ca, { cn: "alice", eku: "clientAuth" }));
  assert.equal((await t.get(alice, "/health")).status, 200, "the listener still serves");
});

Deno.test("prod over TCP: the approval shows the tcp client; a held session streams and is revoked when its holder leaves", async () => {
  await using t = await setup();
  const alice = t.clientFor(await issue(t.ca, { cn: "alice", eku: "clientAuth" }));
  const pendingId = "fedcba9876543210fedcba9876543210";
  const gone = new AbortController();
  const answer = fetch(`${t.base}/session`, {
    method: "POST",
    client: alice,
    signal: gone.signal,
    headers: { "x-session-hold": "1", "x-pending-id": pendingId },
  });
  const pending = await until("queued", async () => {
    const res = await t.layer.adminApp.request("http://admin/pending");
    const list = (await res.json()).pending as PendingRequestJson[];
    return list.length === 1 ? list[0] : undefined;
  });
  assert.equal(pending.requester?.verified, false);
  assert.match(
    pending.requester?.reason ?? "",
    /^tcp client "alice" \(client certificate\) from 127\.0\.0\.1:\d+; the kernel peer is not available over TCP$/,
  );
  await t.layer.adminApp.request(`http://admin/pending/${pendingId}/approve`, { method: "POST" });
  const res = await answer;
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const { value } = await reader.read();
  const first = JSON.parse(new TextDecoder().decode(value).split("\n")[0]);
  assert.equal(first.access_token, "ya29.prod");
  const granted = t.audit.entries.find((e) => e.endpoint === "/session" && e.result === "granted")!;
  assert.equal(granted.client, "alice");
  assert.equal(granted.peer_verified, false);
  gone.abort();
  await reader.cancel().catch(() => {});
  const revoked = await until(
    "the revocation",
    () => t.audit.entries.find((e) => e.result === "revoked"),
  );
  assert.equal(revoked.error, "held session ended: holder disconnected");
  assert.equal(revoked.client, "alice");
  assert.ok(!JSON.stringify(t.audit.entries).includes(String(first.session_id)));
});

Deno.test("connections past the cap are dropped, handshaking ones included; the slot frees", async () => {
  await using t = await setup({ maxConnections: 2 });
  const silent = await Promise.all(
    [0, 1].map(() => Deno.connect({ hostname: "127.0.0.1", port: t.listener.port })),
  );
  const alice = t.clientFor(await issue(t.ca, { cn: "alice", eku: "clientAuth" }));
  await assert.rejects(
    fetch(`${t.base}/health`, { client: alice }).then((r) => r.body?.cancel()),
    TypeError,
    "a third connection is refused while two handshakes are pending",
  );
  for (const c of silent) c.close();
  const ok = await until("a slot to free", async () => {
    try {
      return (await t.get(alice, "/health")).status;
    } catch {
      return undefined;
    }
  });
  assert.equal(ok, 200);
});

Deno.test("each remote client is its own requester: two workspaces queue at once, one cannot twice", async () => {
  await using t = await setup();
  const alice = t.clientFor(await issue(t.ca, { cn: "alice", eku: "clientAuth" }));
  const bob = t.clientFor(await issue(t.ca, { cn: "bob", eku: "clientAuth" }));
  const ask = (client: Deno.HttpClient, id: string) =>
    fetch(`${t.base}/session`, { method: "POST", client, headers: { "x-pending-id": id } });
  const a = ask(alice, "a".repeat(32));
  const b = ask(bob, "b".repeat(32));
  await until("both queued", async () => {
    const res = await t.layer.adminApp.request("http://admin/pending");
    return ((await res.json()).pending as PendingRequestJson[]).length === 2 || undefined;
  });
  const again = await t.get(alice, "/session", { method: "POST" });
  assert.equal(again.status, 429);
  assert.match(again.body.error, /from this remote client is already pending/);
  for (const id of ["a".repeat(32), "b".repeat(32)]) {
    await t.layer.adminApp.request(`http://admin/pending/${id}/deny`, { method: "POST" });
  }
  assert.deepEqual([(await a).status, (await b).status], [403, 403]);
  await Promise.all([(await a).body?.cancel(), (await b).body?.cancel()]);
});

Deno.test("closing the listener drops connections that never said a byte, at once", async () => {
  await using t = await setup({}, 60_000);
  const silent = await Deno.connect({ hostname: "127.0.0.1", port: t.listener.port });
  const reset = await Deno.connect({ hostname: "127.0.0.1", port: t.listener.port });
  reset.close(); // gone before its first byte: no crash, no refusal to serve others
  const started = Date.now();
  await t.listener.close();
  const read = await silent.read(new Uint8Array(8)).catch(() => null);
  assert.equal(read, null);
  assert.ok(Date.now() - started < 30_000, "not held until the 60 s handshake deadline");
  silent.close();
});

Deno.test("random bytes on the port (a bounded, seeded loop on loopback) never stop the listener", async () => {
  await using t = await setup({}, 300);
  let seed = 0x5eed;
  const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let round = 0; round < 40; round++) {
    const bytes = new Uint8Array(1 + (next() % 600)).map(() => next() & 0xff);
    // Every other round starts like a TLS record, so the TLS layer parses garbage too.
    if (round % 2 === 0) bytes.set([0x16, 0x03, 0x01].slice(0, bytes.length));
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: t.listener.port });
    await conn.write(bytes).catch(() => 0);
    const buf = new Uint8Array(1024);
    // Answered (a TLS alert, or nothing) and closed by the gate within its handshake deadline;
    // the guard only bounds this test's wait if the gate ever failed to.
    let stuck = false;
    const guard = setTimeout(() => {
      stuck = true;
      conn.close();
    }, 10_000);
    while ((await conn.read(buf).catch(() => null)) !== null) { /* drain */ }
    clearTimeout(guard);
    assert.ok(!stuck, `round ${round}: the gate never closed the connection`);
    if (!stuck) conn.close();
  }
  const alice = t.clientFor(await issue(t.ca, { cn: "alice", eku: "clientAuth" }));
  assert.equal((await t.get(alice, "/health")).status, 200);
  assert.equal(t.audit.entries.length, 0);
});
