/**
 * Routed calls stream their request bodies through the gate's own HTTP server (conn_server with
 * the gate's limits): bodies beyond the 64 KiB cap of other gate requests pass, chunked and
 * Content-Length alike, the handler sees the first bytes before the client sent the rest, and a
 * connection whose body was left unread is not reused. Other paths keep the 64 KiB cap.
 */
import assert from "node:assert/strict";
import { serveConnections } from "../../src/http/conn_server.ts";
import { GATE_LIMITS } from "../../src/gate/unix_socket.ts";

const enc = new TextEncoder();

async function withGateServer(
  handler: (req: Request) => Promise<Response>,
  fn: (
    send: (bytes: Uint8Array | string) => Promise<void>,
    read: (until: string) => Promise<string>,
  ) => Promise<void>,
) {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/g.sock`;
  const server = serveConnections(Deno.listen({ transport: "unix", path }), handler, {
    accepted: () => ({ env: {} }),
    limits: GATE_LIMITS,
  });
  const conn = await Deno.connect({ transport: "unix", path });
  let text = "";
  const buf = new Uint8Array(65536);
  const read = async (until: string) => {
    const deadline = AbortSignal.timeout(5000);
    while (!text.includes(until)) {
      if (deadline.aborted) throw new Error(`timed out waiting for ${until}: ${text}`);
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return text;
  };
  const send = async (b: Uint8Array | string) => {
    const bytes = typeof b === "string" ? enc.encode(b) : b;
    for (let o = 0; o < bytes.length;) o += await conn.write(bytes.subarray(o));
  };
  try {
    await fn(send, read);
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
    await server.close(50);
    await Deno.remove(dir, { recursive: true });
  }
}

async function count(req: Request): Promise<number> {
  let n = 0;
  for await (const c of req.body!) n += c.byteLength;
  return n;
}

Deno.test("a routed call's 1 MiB body streams (Content-Length and chunked), and keep-alive holds", () =>
  withGateServer(async (req) => new Response(`got ${await count(req)};`), async (send, read) => {
    const big = new Uint8Array(1024 * 1024).fill(97);
    await send(`POST /routes/api HTTP/1.1\r\nHost: g\r\nContent-Length: ${big.length}\r\n\r\n`);
    await send(big);
    await read(`got ${big.length};`);
    await send("POST /routes/api HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (let i = 0; i < 15; i++) {
      await send(`10000;ext=1\r\n`);
      await send(new Uint8Array(0x10000));
      await send("\r\n");
    }
    await send("0\r\nX-Trailer: y\r\n\r\n");
    const text = await read(`got ${15 * 0x10000};`);
    assert.equal(text.split("HTTP/1.1 200").length - 1, 2, "both answered on one connection");
  }));

Deno.test("the handler reads the first bytes before the client has sent the rest", () => {
  let firstSeen!: () => void;
  const seen = new Promise<void>((r) => firstSeen = r);
  return withGateServer(async (req) => {
    const reader = req.body!.getReader();
    const first = await reader.read();
    firstSeen();
    let n = first.value!.byteLength;
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      n += r.value.byteLength;
    }
    return new Response(`streamed ${n};`);
  }, async (send, read) => {
    await send("POST /routes/api HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n");
    await send("5\r\nhello\r\n");
    await seen; // The rest has not been sent yet.
    await send("6\r\n world\r\n0\r\n\r\n");
    await read("streamed 11;");
  });
});

Deno.test("other gate paths keep the 64 KiB cap", () =>
  withGateServer(async (req) => {
    try {
      return new Response(`got ${await count(req)};`);
    } catch {
      return new Response("body error;", { status: 400 });
    }
  }, async (send, read) => {
    await send(`POST /session HTTP/1.1\r\nHost: g\r\nContent-Length: ${70 * 1024}\r\n\r\n`);
    assert.match(await read("413"), /HTTP\/1.1 413/);
  }));

Deno.test("a malformed chunk size errors the streamed body and the connection is not reused", () =>
  withGateServer(async (req) => {
    try {
      return new Response(`got ${await count(req)};`);
    } catch {
      return new Response("body error;", { status: 400 });
    }
  }, async (send, read) => {
    await send("POST /routes/api HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    const text = await read("body error;");
    assert.match(text, /HTTP\/1.1 400/);
    assert.match(text, /connection: close/);
  }));

Deno.test("Expect: 100-continue on a routed call: 100 when the handler reads, never when it refuses", () =>
  withGateServer(async (req) => {
    if (new URL(req.url).pathname.endsWith("/refuse")) {
      return new Response("refused;", { status: 403 });
    }
    return new Response(`got ${await count(req)};`);
  }, async (send, read) => {
    await send(
      "POST /routes/api HTTP/1.1\r\nHost: g\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    );
    await read("HTTP/1.1 100 Continue\r\n\r\n");
    await send("hello");
    await read("got 5;");
    await send(
      "POST /routes/refuse HTTP/1.1\r\nHost: g\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    );
    const text = await read("refused;");
    assert.equal(text.split("100 Continue").length - 1, 1, "no 100 for the refused request");
    assert.match(text.slice(text.lastIndexOf("HTTP/1.1 403")), /connection: close/);
  }));
