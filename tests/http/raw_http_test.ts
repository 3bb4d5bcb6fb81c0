import assert from "node:assert/strict";
import {
  HttpDeadlineError,
  httpGet,
  HttpProtocolError,
  parseResponse,
  splitHostPort,
} from "../../src/http/raw_http.ts";
import { startStallingServer } from "../kube/fake_metadata.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("parseResponse reads a content-length body and waits for the rest", () => {
  const full = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello";
  const answer = parseResponse(bytes(full), false)!;
  assert.equal(answer.status, 200);
  assert.equal(answer.body, "hello");
  assert.equal(answer.headers.get("x-a"), "b");
  assert.equal(parseResponse(bytes(full.slice(0, -1)), false), undefined);
  assert.equal(parseResponse(bytes("HTTP/1.1 200 OK\r\nContent-Le"), false), undefined);
});

Deno.test("parseResponse decodes a chunked body once the last chunk is in", () => {
  const head = "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n";
  const chunks = '4\r\n{"er\r\n6;ext=1\r\nror":1\r\n1\r\n}\r\n0\r\n\r\n';
  const answer = parseResponse(bytes(head + chunks), false)!;
  assert.equal(answer.status, 500);
  assert.equal(answer.body, '{"error":1}');
  assert.equal(parseResponse(bytes(head + chunks.slice(0, 12)), false), undefined);
});

Deno.test("parseResponse takes a body without length up to the close", () => {
  const text = "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nab";
  assert.equal(parseResponse(bytes(text), false), undefined);
  assert.equal(parseResponse(bytes(text), true)!.body, "ab");
});

Deno.test("parseResponse rejects what is not HTTP/1.1", () => {
  for (
    const bad of [
      "SSH-2.0-OpenSSH\r\n\r\n",
      "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ]
  ) {
    assert.throws(() => parseResponse(bytes(bad), true), HttpProtocolError, bad);
  }
});

Deno.test("splitHostPort handles names, IPv4, bracketed IPv6 and the default port", () => {
  assert.deepEqual(splitHostPort("127.0.0.1:8173"), { hostname: "127.0.0.1", port: 8173 });
  assert.deepEqual(splitHostPort("metadata"), { hostname: "metadata", port: 80 });
  assert.deepEqual(splitHostPort("[::1]:9"), { hostname: "::1", port: 9 });
});

Deno.test("httpGet sends the request line and headers and reads a Deno.serve answer", async () => {
  let seen: Headers | undefined;
  let path = "";
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    seen = req.headers;
    path = new URL(req.url).pathname;
    return new Response(JSON.stringify({ ok: true }), { headers: { "X-Reply": "1" } });
  });
  try {
    const host = `127.0.0.1:${server.addr.port}`;
    const answer = await httpGet(host, "/p/q", { "Metadata-Flavor": "Google" }, 2000, "testing");
    assert.equal(answer.status, 200);
    assert.equal(answer.body, '{"ok":true}');
    assert.equal(answer.headers.get("x-reply"), "1");
    assert.equal(path, "/p/q");
    assert.equal(seen?.get("metadata-flavor"), "Google");
    assert.equal(seen?.get("host"), host);
  } finally {
    await server.shutdown();
  }
});

Deno.test("httpGet: the deadline covers a server that never answers", async () => {
  const stall = startStallingServer();
  try {
    await assert.rejects(
      httpGet(stall.host, "/", {}, 100, "waiting for the stall"),
      (err: Error) => {
        assert.ok(err instanceof HttpDeadlineError);
        assert.equal(err.message, "timed out after 100 ms while waiting for the stall");
        return true;
      },
    );
  } finally {
    await stall.close();
  }
});

Deno.test("httpGet: a peer that closes mid-body is a protocol error", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await listener.accept();
    await conn.read(new Uint8Array(1024));
    await conn.write(bytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"));
    conn.close();
  })();
  try {
    const host = `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
    await assert.rejects(httpGet(host, "/", {}, 2000, "x"), /closed before the response/);
  } finally {
    await serving;
    listener.close();
  }
});
