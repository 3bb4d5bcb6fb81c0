/**
 * The routes listener over the TCP transport (`gate_url`, HTTPS with a bearer token file) instead
 * of the Unix socket: the same streaming both ways, and the gate's bearer token takes the place of
 * whatever Authorization the client sent (the gate strips it before any upstream).
 */
import assert from "node:assert/strict";
import { TcpTransport } from "../../src/gate_api/transport_tcp.ts";
import { ROUTE_HEADERS } from "../../src/gate_api/routes_wire.ts";
import { createRoutesProxyApp } from "../../src/routes_proxy/app.ts";
import { routesHostAllowed } from "../../src/routes_proxy/target.ts";
import { issueTlsMaterial } from "../gate_api/remote_tls_fixture.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function within<T>(p: Promise<T>, ms = 5_000, what = "the wait"): Promise<T> {
  let id: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    id = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(id));
}

Deno.test("over gate_url (TLS + bearer file): routed bodies stream both ways and the client's Authorization never reaches the gate", async () => {
  const tls = await issueTlsMaterial();
  const dir = await Deno.makeTempDir({ prefix: "routes-tcp-" });
  const tokenFile = `${dir}/gate-token`;
  await Deno.writeTextFile(tokenFile, "gate-bearer-0123456789abcdef\n", { mode: 0o600 });
  const seen: { path: string; auth: string | null; target: string | null }[] = [];
  const gate = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: tls.serverPem, key: tls.serverKeyPem, onListen() {} },
    (req) => {
      seen.push({
        path: new URL(req.url).pathname,
        auth: req.headers.get("authorization"),
        target: req.headers.get(ROUTE_HEADERS.target),
      });
      const reader = req.body!.getReader();
      const body = new ReadableStream<Uint8Array>({
        async pull(c) {
          const step = await reader.read();
          if (step.done) return c.close();
          c.enqueue(enc.encode(`data: ${dec.decode(step.value)}\n\n`));
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    },
  );
  const transport = new TcpTransport({
    baseUrl: `https://localhost:${gate.addr.port}`,
    caPems: [tls.caPem],
    tokenFile,
    warnings: [],
  });
  let port = 0;
  const app = createRoutesProxyApp({
    transport,
    hostAllowed: (h) => routesHostAllowed(h, "127.0.0.1", port),
  });
  const proxy = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req, info) => app.fetch(req, { remoteAddr: info.remoteAddr }),
  );
  port = proxy.addr.port;
  try {
    let push!: ReadableStreamDefaultController<Uint8Array>;
    const upload = new ReadableStream<Uint8Array>({ start: (c) => void (push = c) });
    push.enqueue(enc.encode("one"));
    const res = await within(
      fetch(`http://127.0.0.1:${port}/openai/v1/responses`, {
        method: "POST",
        body: upload,
        headers: { authorization: "Bearer placeholder" },
      }),
    );
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    assert.equal(dec.decode((await within(reader.read(), 5_000, "first")).value), "data: one\n\n");
    push.enqueue(enc.encode("two"));
    assert.equal(dec.decode((await within(reader.read(), 5_000, "second")).value), "data: two\n\n");
    push.close();
    assert.equal((await within(reader.read())).done, true);
    assert.deepEqual(seen, [{
      path: "/routes/openai",
      auth: "Bearer gate-bearer-0123456789abcdef",
      target: "/v1/responses",
    }]);
  } finally {
    await proxy.shutdown();
    transport.close();
    await gate.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
