/**
 * The material works on the wire: a real node:https server with requestCert and the gate's CA,
 * and Deno's fetch presenting a client bundle. A named client gets through and is named; the
 * handshake refuses expired, not-yet-valid, wrong-CA and wrong-EKU clients; identifyClient
 * refuses the unnamed and the revoked (revoked while the server runs); a client that asks for a
 * server name outside the certificate's SANs is refused until init-tls --san adds it.
 */
import assert from "node:assert/strict";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { identifyClient } from "../../src/tls/client_identity.ts";
import { initTls, revokeClient } from "../../src/tls/init.ts";
import { type GateTlsMaterial, loadTlsMaterial } from "../../src/tls/material.ts";
import { parseSan } from "../../src/tls/profile.ts";
import { BAD_CLIENT_KINDS, badClient, goodClient, makeTlsDir } from "./fixtures.ts";

async function serve(m: GateTlsMaterial, host = "127.0.0.1") {
  const server = https.createServer({
    ca: m.caPem,
    cert: m.certPem,
    key: m.keyPem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.2",
  }, async (req, res) => {
    const socket = req.socket as TLSSocket;
    const who = await identifyClient(socket.getPeerCertificate(), m.revocation);
    res.writeHead(who.ok ? 200 : 403, { "content-type": "text/plain", connection: "close" });
    res.end(who.ok ? `hello ${who.name}` : who.reason);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function call(url: string, ca: string, cert: string, key: string) {
  const client = Deno.createHttpClient({ caCerts: [ca], cert, key });
  try {
    const res = await fetch(url, { client, signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    return { status: 0, body: (err as Error).message };
  } finally {
    client.close();
  }
}

Deno.test("mTLS with init-tls material: named clients pass, every bad form is refused", async () => {
  const tls = await makeTlsDir();
  const m = await loadTlsMaterial(tls.dir);
  const server = await serve(m);
  try {
    const url = `https://localhost:${server.port}/`;
    const alice = await goodClient(tls, "alice");
    const [, cert, key] = alice.bundle.split(/(?=-----BEGIN)/);
    assert.deepEqual(await call(url, tls.caPem, cert, key), { status: 200, body: "hello alice" });
    const shared = await Deno.readTextFile(`${tls.dir}/client-bundle.pem`);
    const [, sharedCert, sharedKey] = shared.split(/(?=-----BEGIN)/);
    assert.deepEqual(await call(url, tls.caPem, sharedCert, sharedKey), {
      status: 200,
      body: "hello default",
    });

    for (const kind of BAD_CLIENT_KINDS) {
      const bad = await badClient(tls, kind);
      const answer = await call(url, tls.caPem, bad.certPem, bad.keyPem);
      if (kind === "unnamed") {
        assert.equal(answer.status, 403, kind);
        assert.match(answer.body, /carries no client name/);
      } else if (kind === "revoked") {
        assert.deepEqual(answer, { status: 403, body: "client revoked-client is revoked" });
      } else {
        assert.equal(answer.status, 0, `${kind} must fail the handshake, got ${answer.body}`);
      }
    }

    await revokeClient(tls.dir, "alice", new Date());
    assert.deepEqual(await call(url, tls.caPem, cert, key), {
      status: 403,
      body: "client alice is revoked",
    });
  } finally {
    await server.close();
    await tls.cleanup();
  }
});

Deno.test("a server name outside the certificate is refused until --san adds it", async () => {
  const tls = await makeTlsDir();
  try {
    const [, cert, key] = (await Deno.readTextFile(`${tls.dir}/client-bundle.pem`))
      .split(/(?=-----BEGIN)/);
    let server = await serve(await loadTlsMaterial(tls.dir), "127.0.0.2");
    try {
      const refused = await call(`https://127.0.0.2:${server.port}/`, tls.caPem, cert, key);
      assert.equal(refused.status, 0, refused.body);
    } finally {
      await server.close();
    }
    await initTls(tls.dir, { now: new Date(), sans: [parseSan("127.0.0.2")] });
    server = await serve(await loadTlsMaterial(tls.dir), "127.0.0.2");
    try {
      const ok = await call(`https://127.0.0.2:${server.port}/`, tls.caPem, cert, key);
      assert.deepEqual(ok, { status: 200, body: "hello default" });
    } finally {
      await server.close();
    }
  } finally {
    await tls.cleanup();
  }
});
