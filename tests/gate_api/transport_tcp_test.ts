/**
 * The TCP transport against a node:https stand-in gate: mTLS identity reaches the server over
 * kept-alive connections; a server name the client did not ask for, a server from another CA and
 * a plain-TCP listener are refused with reasons naming the fix; the bearer token is read from its
 * file on every request, and replacing the file under a load of requests fails none of them.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { loadRemoteGate } from "../../src/gate_api/remote_config.ts";
import { TcpTransport } from "../../src/gate_api/transport_tcp.ts";
import { GateUnreachableError } from "../../src/gate_api/transport.ts";
import { issueTlsMaterial, startStandInGate } from "./remote_tls_fixture.ts";

const parent = await Deno.makeTempDir();
const material = await issueTlsMaterial({ clientName: "workspace-7" });
const foreign = await issueTlsMaterial();
const bundleFile = `${parent}/bundle.pem`;
await Deno.writeTextFile(bundleFile, material.bundle, { mode: 0o600 });

function get(transport: TcpTransport, path = "/health"): Promise<Response> {
  return transport.send({ method: "GET", path, signal: AbortSignal.timeout(10_000) });
}

async function unreachable(transport: TcpTransport): Promise<GateUnreachableError> {
  const err = await get(transport).then(() => undefined, (e) => e);
  assert.ok(err instanceof GateUnreachableError, String(err));
  return err;
}

Deno.test("mTLS: the client certificate's name reaches the gate, on one kept-alive connection", async () => {
  const gate = await startStandInGate(material);
  const remote = await loadRemoteGate({
    gate_url: `https://localhost:${gate.port}/`,
    tls_bundle: bundleFile,
    env: {},
  });
  const transport = new TcpTransport(remote);
  try {
    assert.equal(transport.where, `the gate at https://localhost:${gate.port}`);
    for (let i = 0; i < 5; i++) {
      const res = await get(transport, `/token?scopes=a&i=${i}`);
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    assert.equal(gate.seen.length, 5);
    assert.ok(gate.seen.every((s) => s.clientName === "workspace-7"));
    assert.ok(gate.seen.every((s) => s.authorization === undefined));
    assert.equal(gate.connections(), 1, "a new TLS handshake per request would show here");
  } finally {
    transport.close();
    await gate.close();
  }
});

Deno.test("a gate_url path prefix is kept: endpoint paths are appended to it", async () => {
  const gate = await startStandInGate(material);
  const transport = new TcpTransport(
    await loadRemoteGate({
      gate_url: `https://localhost:${gate.port}/authcalator//`,
      tls_bundle: bundleFile,
      env: {},
    }),
  );
  try {
    await (await get(transport, "/token?scopes=a")).body?.cancel();
    assert.deepEqual(gate.seen.map((s) => s.path), ["/authcalator/token?scopes=a"]);
  } finally {
    transport.close();
    await gate.close();
  }
});

Deno.test("a server name the client did not ask for is refused, naming --san", async () => {
  const onlyLocalhost = await issueTlsMaterial({ sans: ["DNS:localhost"] });
  const gate = await startStandInGate(onlyLocalhost);
  const remote = await loadRemoteGate({
    gate_url: `https://127.0.0.1:${gate.port}`,
    env: { GCP_AUTHCALATOR_TLS_BUNDLE_B64: btoa(onlyLocalhost.bundle) },
  });
  const transport = new TcpTransport(remote);
  try {
    const err = await unreachable(transport);
    assert.match(err.reason, /does not name 127\.0\.0\.1.*init-tls --san 127\.0\.0\.1/);
    assert.equal(gate.seen.length, 0);
  } finally {
    transport.close();
    await gate.close();
  }
});

Deno.test("a gate whose certificate is from another CA is refused before any request is sent", async () => {
  const gate = await startStandInGate(foreign);
  const remote = await loadRemoteGate({
    gate_url: `https://localhost:${gate.port}`,
    tls_bundle: bundleFile,
    env: {},
  });
  const transport = new TcpTransport(remote);
  try {
    const err = await unreachable(transport);
    assert.match(err.reason, /not signed by the CA this client trusts/);
    assert.equal(gate.seen.length, 0);
  } finally {
    transport.close();
    await gate.close();
  }
});

Deno.test("a restarted gate is reached again on a new connection, the client unchanged", async () => {
  const first = await startStandInGate(material);
  const remote = await loadRemoteGate({
    gate_url: `https://localhost:${first.port}`,
    tls_bundle: bundleFile,
    env: {},
  });
  const transport = new TcpTransport(remote);
  let second: Awaited<ReturnType<typeof startStandInGate>> | undefined;
  try {
    await (await get(transport)).body?.cancel();
    await first.close();
    const down = await unreachable(transport);
    assert.match(down.reason, /connection refused/);
    second = await startStandInGate(material, { port: first.port });
    const res = await get(transport);
    assert.equal(res.status, 200);
    await res.body?.cancel();
    assert.equal(second.seen.length, 1);
  } finally {
    transport.close();
    await second?.close();
  }
});

Deno.test("a gate that refuses the client certificate is named as refusing it", async () => {
  // The foreign gate trusts only its own CA: our client certificate is refused in the handshake.
  const gate = await startStandInGate(foreign);
  const remote = await loadRemoteGate({
    gate_url: `https://localhost:${gate.port}`,
    tls_bundle: bundleFile,
    env: {},
  });
  const trusting = new TcpTransport({ ...remote, caPems: [foreign.caPem] });
  try {
    const err = await unreachable(trusting);
    assert.match(err.reason, /refuse this client's certificate/);
    assert.equal(gate.seen.length, 0);
  } finally {
    trusting.close();
    await gate.close();
  }
});

Deno.test("a plain-TCP listener at gate_url is named as not speaking TLS; nothing listening is named too", async () => {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.end("HTTP/1.1 400 Bad Request\r\n\r\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as { port: number }).port;
  const remote = await loadRemoteGate({
    gate_url: `https://localhost:${port}`,
    tls_bundle: bundleFile,
    env: {},
  });
  const transport = new TcpTransport(remote);
  try {
    const err = await unreachable(transport);
    assert.match(
      err.reason,
      /did not answer with TLS \(is gate_url's port the gate's TLS port\?\)/,
    );
  } finally {
    transport.close();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  const closed = new TcpTransport({ ...remote, baseUrl: `https://localhost:${port}` });
  try {
    const err = await unreachable(closed);
    assert.match(err.reason, /connection refused/);
    assert.match(closed.hint, /gate_url/);
  } finally {
    closed.close();
  }
});

Deno.test("a blocked port and a host that does not resolve are named", async () => {
  const remote = await loadRemoteGate({
    gate_url: "https://localhost:1",
    tls_bundle: bundleFile,
    env: {},
  });
  const blocked = new TcpTransport(remote);
  const unresolved = new TcpTransport({ ...remote, baseUrl: "https://gate.invalid:8174" });
  try {
    assert.match((await unreachable(blocked)).reason, /port 1 is one fetch refuses to use/);
    assert.match(
      (await unreachable(unresolved)).reason,
      /the host name gate\.invalid does not resolve here \(check gate_url\)/,
    );
  } finally {
    blocked.close();
    unresolved.close();
  }
});

Deno.test("bearer: the token file is read on every request; missing and empty files are errors, never an empty header", async () => {
  const gate = await startStandInGate(material, { requireClientCert: false });
  const tokenFile = `${parent}/bearer-token`;
  await Deno.writeTextFile(tokenFile, "token.one\n");
  const caDir = await Deno.makeTempDir({ dir: parent });
  await Deno.writeTextFile(`${caDir}/ca.pem`, material.caPem);
  const remote = await loadRemoteGate({
    gate_url: `https://localhost:${gate.port}`,
    gate_token_file: tokenFile,
    tls_dir: caDir,
    env: {},
  });
  const transport = new TcpTransport(remote);
  try {
    await (await get(transport)).body?.cancel();
    await Deno.writeTextFile(`${tokenFile}.new`, "token.two");
    await Deno.rename(`${tokenFile}.new`, tokenFile);
    await (await get(transport)).body?.cancel();
    assert.deepEqual(gate.seen.map((s) => s.authorization), [
      "Bearer token.one",
      "Bearer token.two",
    ]);
    await Deno.writeTextFile(tokenFile, "");
    const empty = await unreachable(transport);
    assert.match(empty.reason, /is empty/);
    await Deno.remove(tokenFile);
    const missing = await unreachable(transport);
    assert.match(missing.reason, /does not exist/);
    assert.equal(gate.seen.length, 2, "no request went out without a token");
  } finally {
    transport.close();
    await gate.close();
  }
});

Deno.test("bearer: replacing the token file under a load of requests fails none of them", async () => {
  const gate = await startStandInGate(material, { requireClientCert: false });
  const tokenFile = `${parent}/rotating-token`;
  await Deno.writeTextFile(tokenFile, "rot.0");
  const transport = new TcpTransport({
    ...(await loadRemoteGate({
      gate_url: `https://localhost:${gate.port}`,
      gate_token_file: tokenFile,
      env: {},
    })),
    caPems: [material.caPem],
  });
  const stop = { done: false };
  let failures = 0;
  let answered = 0;
  const worker = async () => {
    while (!stop.done) {
      try {
        const res = await get(transport, "/token");
        await res.body?.cancel();
        if (res.status === 200) answered++;
        else failures++;
      } catch {
        failures++;
      }
    }
  };
  try {
    const workers = Array.from({ length: 8 }, worker);
    for (let i = 1; i <= 30; i++) {
      // Kubernetes swaps a projected token atomically; a rename is the same operation.
      await Deno.writeTextFile(`${tokenFile}.tmp`, `rot.${i}`);
      await Deno.rename(`${tokenFile}.tmp`, tokenFile);
      // Let requests run between rotations.
      const before = answered;
      while (answered < before + 4 && failures === 0) await new Promise((r) => setTimeout(r, 1));
    }
    stop.done = true;
    await Promise.all(workers);
    assert.equal(failures, 0);
    const tokens = new Set(gate.seen.map((s) => s.authorization));
    assert.ok(tokens.size >= 25, `rotations seen: ${tokens.size}`);
    assert.ok([...tokens].every((t) => /^Bearer rot\.\d+$/.test(t ?? "")));
    assert.ok(gate.seen.some((s) => s.authorization === "Bearer rot.30"));
  } finally {
    stop.done = true;
    transport.close();
    await gate.close();
  }
});

Deno.test("teardown", async () => {
  await Deno.remove(parent, { recursive: true });
});
