/** The Unix-socket gate transport: one exchange, body left as a stream, failures classified. */
import assert from "node:assert/strict";
import {
  connectFailureReason,
  GateUnreachableError,
  MAIN_SOCKET_HINT,
  UnixSocketTransport,
} from "../../src/gate_api/transport.ts";

Deno.test("a missing socket is GateUnreachableError with the OS reason, not the URL", async () => {
  const dir = await Deno.makeTempDir();
  const transport = new UnixSocketTransport(`${dir}/none.sock`);
  try {
    assert.equal(transport.where, `the gate at ${dir}/none.sock`);
    assert.equal(transport.hint, MAIN_SOCKET_HINT);
    const err = await transport.send({
      method: "GET",
      path: "/health",
      signal: AbortSignal.timeout(5_000),
    }).then(() => undefined, (e) => e);
    assert.ok(err instanceof GateUnreachableError);
    assert.equal(err.reason, "no such file or directory");
    assert.equal(connectFailureReason(err), "no such file or directory");
    assert.doesNotMatch(err.message, /localhost/);
  } finally {
    transport.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the request reaches the socket whole and the body streams back", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/g.sock`;
  const seen: string[] = [];
  const server = Deno.serve({ path, onListen() {} }, async (req) => {
    seen.push(`${req.method} ${new URL(req.url).pathname}${new URL(req.url).search}`);
    seen.push(req.headers.get("x-probe") ?? "");
    seen.push(await req.text());
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode('{"line":1}\n'));
      },
    });
    return new Response(body, { headers: { "content-type": "application/x-ndjson" } });
  });
  const transport = new UnixSocketTransport(path, { hint: "custom hint" });
  const stop = new AbortController();
  try {
    assert.equal(transport.hint, "custom hint");
    const res = await transport.send({
      method: "POST",
      path: "/session?scopes=a,b",
      headers: { "x-probe": "yes" },
      body: "payload",
      signal: stop.signal,
    });
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.equal(new TextDecoder().decode(first.value), '{"line":1}\n');
    assert.deepEqual(seen, ["POST /session?scopes=a,b", "yes", "payload"]);
    stop.abort();
    await reader.cancel().catch(() => {});
  } finally {
    transport.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an aborted send rejects with the abort, not as unreachable", async () => {
  const dir = await Deno.makeTempDir();
  const transport = new UnixSocketTransport(`${dir}/none.sock`);
  try {
    const stop = new AbortController();
    stop.abort();
    const err = await transport.send({ method: "GET", path: "/health", signal: stop.signal })
      .then(() => undefined, (e) => e);
    assert.ok(err instanceof Error);
    assert.ok(!(err instanceof GateUnreachableError));
  } finally {
    transport.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("connectFailureReason reads the OS error from the cause chain", () => {
  const inner = new Error("Connection refused (os error 111)");
  assert.equal(
    connectFailureReason(
      new TypeError("error sending request for url (http://x/)", { cause: inner }),
    ),
    "connection refused",
  );
  assert.equal(connectFailureReason(new Error("odd")), "connection failed");
  assert.equal(connectFailureReason("not an error"), "connection failed");
});

Deno.test("a listener that closes without answering is GateUnreachableError, not a hang", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/g.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const closing = (async () => {
    for await (const conn of listener) conn.close();
  })();
  const transport = new UnixSocketTransport(path);
  try {
    const err = await transport.send({
      method: "GET",
      path: "/health",
      signal: AbortSignal.timeout(5_000),
    }).then(() => undefined, (e) => e);
    assert.ok(err instanceof GateUnreachableError, String(err));
    assert.doesNotMatch(err.message, /localhost|http:/);
  } finally {
    transport.close();
    listener.close();
    await closing.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
