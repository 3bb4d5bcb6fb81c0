/**
 * conn_server: a streamed request body consumed while the connection watcher's read is pending
 * must not misplace the bytes that read brings (regression: a kept-alive gate connection answered
 * its next request "400 malformed request line", which broke real `git clone` through a route).
 */
import assert from "node:assert/strict";
import { serveConnections } from "../../src/http/conn_server.ts";
import { GATE_LIMITS } from "../../src/gate/unix_socket.ts";

const enc = new TextEncoder();

Deno.test("a streamed body arriving in parts, then a second request on the same connection", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/g.sock`;
  let firstChunk!: () => void;
  const gotFirst = new Promise<void>((r) => firstChunk = r);
  const server = serveConnections(Deno.listen({ transport: "unix", path }), async (req) => {
    const parts: string[] = [];
    for await (const chunk of req.body ?? []) {
      parts.push(new TextDecoder().decode(chunk));
      firstChunk();
    }
    return new Response(`${new URL(req.url).pathname}:${parts.join("")}`);
  }, { accepted: () => ({ env: {} }), limits: GATE_LIMITS });
  const conn = await Deno.connect({ transport: "unix", path });
  const send = async (text: string) => {
    const bytes = enc.encode(text);
    for (let o = 0; o < bytes.length;) o += await conn.write(bytes.subarray(o));
  };
  let text = "";
  const buf = new Uint8Array(65536);
  // Every wait is bounded: a server that never answers gets the connection closed under it.
  const read = async (until: RegExp) => {
    const timer = setTimeout(() => conn.close(), 5000);
    try {
      while (!until.test(text)) {
        const n = await conn.read(buf).catch(() => null);
        if (n === null) break;
        text += new TextDecoder().decode(buf.subarray(0, n));
      }
    } finally {
      clearTimeout(timer);
    }
    return text;
  };
  try {
    await send("POST /routes/a HTTP/1.1\r\nHost: gate\r\nContent-Length: 10\r\n\r\nhello");
    await gotFirst; // the handler consumed "hello" while the watcher's read waits for more
    await send("world");
    await read(/\/routes\/a:helloworld/);
    await send("POST /routes/b HTTP/1.1\r\nHost: gate\r\nContent-Length: 3\r\n\r\nabc");
    const answer = await read(/\/routes\/b:abc|400/);
    assert.match(answer, /\/routes\/b:abc/, answer);
    assert.doesNotMatch(answer, /malformed request line/);
  } finally {
    try {
      conn.close();
    } catch { /* closed by a timed-out read */ }
    await server.close(50);
    await Deno.remove(dir, { recursive: true });
  }
});
