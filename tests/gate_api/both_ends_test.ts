/**
 * The wire from both ends: the one client's callers (the proxy's GateClient, with-prod's
 * GateSessionClient, the admin calls) against the real gate apps served on real Unix sockets.
 * What the client encodes, the gate parses back unchanged; the gate's answers read back as the
 * client expects; each listener serves only its own routes.
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.ts";
import { HttpError } from "../../src/errors.ts";
import { GateClient } from "../../src/metadata/gate_client.ts";
import { GateSessionClient } from "../../src/with_prod/gate_session.ts";
import { unixAdminCall } from "../../src/commands/pending.ts";
import { testGate } from "../gate/gate_fixture.ts";
import { UnixSocketTransport } from "../../src/gate_api/transport.ts";

/** The gate's two apps on two real sockets. */
async function gate() {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-wire-" });
  const { tokens, layer: prod, app: main } = testGate();
  const socket = `${dir}/gate.sock`;
  const adminSocket = `${dir}/admin.sock`;
  const servers = [
    Deno.serve({ path: socket, onListen() {} }, main.fetch),
    Deno.serve({ path: adminSocket, onListen() {} }, prod.adminApp.fetch),
  ];
  return {
    socket,
    adminSocket,
    tokens,
    async [Symbol.asyncDispose]() {
      await prod.shutdown();
      await Promise.all(servers.map((s) => s.shutdown()));
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("the proxy's scopes reach the gate unchanged, separators and all", async () => {
  await using g = await gate();
  const client = new GateClient({ transport: new UnixSocketTransport(g.socket) });
  try {
    const scopes = [
      "https://www.googleapis.com/auth/cloud-platform",
      "https://www.googleapis.com/auth/userinfo.email",
      "odd&level=prod",
      "per%cent",
    ];
    const token = await client.token(scopes);
    assert.equal(token.accessToken, "ya29.dev-1");
    assert.deepEqual(g.tokens.devCalls.map((c) => c.scopes), [scopes]);
    assert.deepEqual(await client.health().then((h) => h.status), "ok");
  } finally {
    client.close();
  }
});

Deno.test("with-prod's session calls read the gate's answers: an unknown session is 401", async () => {
  await using g = await gate();
  const client = new GateSessionClient(new UnixSocketTransport(g.socket), new ManualClock());
  try {
    await client.preflight();
    const id = "a".repeat(64);
    await assert.rejects(
      client.refresh(id, "prod-proj"),
      (e) => e instanceof HttpError && e.status === 401 && !e.message.includes(id),
    );
    await assert.rejects(
      client.checkSession(id),
      (e) =>
        e instanceof HttpError && e.status === 401 && e.message === "Session expired or invalid",
    );
    assert.equal(await client.revoke(id), undefined); // 404: nothing to revoke is not a failure
  } finally {
    client.close();
  }
});

Deno.test("the admin calls reach the admin socket only; the main socket has no admin route", async () => {
  await using g = await gate();
  const admin = unixAdminCall(g.adminSocket);
  const wrong = unixAdminCall(g.socket);
  try {
    assert.deepEqual(await admin("GET", "/pending"), { status: 200, body: { pending: [] } });
    assert.deepEqual(await wrong("GET", "/pending"), {
      status: 404,
      body: { error: "Not found" },
    });
    const id = "b".repeat(32);
    assert.deepEqual((await admin("POST", `/pending/${id}/approve`)).status, 404);
    assert.deepEqual((await wrong("POST", `/pending/${id}/approve`)).status, 405);
  } finally {
    admin.close();
    wrong.close();
  }
});
