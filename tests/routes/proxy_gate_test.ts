/**
 * The container's routes listener in front of the gate's REAL routes app (src/gate/routes_app.ts
 * served on a real Unix socket) in front of a loopback upstream: the credential arrives upstream
 * and only there, server-sent events cross both hops as they are written, an upstream Location
 * comes back on the listener's own URL, and the gate's refusals (unknown route, escape attempts)
 * reach the client with their codes.
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.ts";
import { createRoutesApp, type ServedRoute } from "../../src/gate/routes_app.ts";
import { UnixSocketTransport } from "../../src/gate_api/transport.ts";
import { ROUTE_HEADERS } from "../../src/gate_api/routes_wire.ts";
import type { RouteConfig } from "../../src/routes/route_config.ts";
import { createRoutesProxyApp } from "../../src/routes_proxy/app.ts";
import { routesHostAllowed } from "../../src/routes_proxy/target.ts";
import { rawExchange } from "./proxy_fixture.ts";

const SECRET = "upstream-key-5b1c0f3e";
const enc = new TextEncoder();
const dec = new TextDecoder();

function within<T>(p: Promise<T>, ms = 5_000, what = "the wait"): Promise<T> {
  let id: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    id = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(id));
}

interface Chain {
  proxyPort: number;
  upstreamSeen: { url: string; auth: string | null; apiKey: string | null }[];
  release: () => void;
  logs: string[];
}

async function withChain(fn: (chain: Chain) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "routes-chain-" });
  const upstreamSeen: Chain["upstreamSeen"] = [];
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const url = new URL(req.url);
    upstreamSeen.push({
      url: url.pathname + url.search,
      auth: req.headers.get("authorization"),
      apiKey: req.headers.get("x-api-key"),
    });
    if (url.pathname === "/base/moved") {
      return new Response(null, {
        status: 302,
        headers: { location: `${url.origin}/base/new?x=1` },
      });
    }
    if (url.pathname === "/base/v1/stream") {
      const body = new ReadableStream<Uint8Array>({
        async start(c) {
          c.enqueue(enc.encode("event: a\ndata: 1\n\n"));
          await released;
          c.enqueue(enc.encode("event: b\ndata: 2\n\n"));
          c.close();
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    }
    return new Response(`upstream saw ${url.pathname}`);
  });
  const origin = `http://127.0.0.1:${upstream.addr.port}`;
  const config: RouteConfig = {
    name: "api",
    origin,
    basePath: "/base",
    credential: { kind: "env", name: "X" },
    auth: { kind: "bearer" },
    maxRequestBytes: 1 << 20,
    maxResponseBytes: 1 << 20,
    headersTimeoutMs: 5_000,
    idleTimeoutMs: 5_000,
    level: "dev",
    push: "refuse",
  };
  const served: ServedRoute = {
    config,
    credential: { get: () => Promise.resolve(SECRET) },
    fetch: (url, init) => fetch(url, init),
  };
  const logs: string[] = [];
  const gateApp = createRoutesApp({
    routes: new Map([["api", served]]),
    audit: { write() {} },
    clock: new ManualClock(),
    listener: "main",
    log: (m) => logs.push(m),
  });
  const socket = `${dir}/gate.sock`;
  const gate = Deno.serve({ transport: "unix", path: socket, onListen() {} }, gateApp.fetch);
  const transport = new UnixSocketTransport(socket);
  let port = 0;
  const proxyApp = createRoutesProxyApp({
    transport,
    hostAllowed: (h) => routesHostAllowed(h, "127.0.0.1", port),
    log: (m) => logs.push(m),
  });
  const proxy = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req, info) => proxyApp.fetch(req, { remoteAddr: info.remoteAddr }),
  );
  port = proxy.addr.port;
  try {
    await fn({ proxyPort: port, upstreamSeen, release, logs });
  } finally {
    release();
    await proxy.shutdown();
    transport.close();
    await gate.shutdown();
    await upstream.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("through listener and gate: the credential reaches the upstream only, in place of the client's own", async () => {
  await withChain(async ({ proxyPort, upstreamSeen, logs }) => {
    const res = await fetch(`http://127.0.0.1:${proxyPort}/api/v1/things?q=a`, {
      headers: { authorization: "Bearer placeholder", "x-api-key": "placeholder" },
    });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.equal(text, "upstream saw /base/v1/things");
    assert.deepEqual(upstreamSeen, [{
      url: "/base/v1/things?q=a",
      auth: `Bearer ${SECRET}`,
      apiKey: null,
    }]);
    for (const [name, value] of res.headers) assert.ok(!value.includes(SECRET), name);
    assert.ok(!logs.join("\n").includes(SECRET));
  });
});

Deno.test("through listener and gate: server-sent events arrive one by one as the upstream writes them", async () => {
  await withChain(async ({ proxyPort, release }) => {
    const res = await within(fetch(`http://127.0.0.1:${proxyPort}/api/v1/stream`));
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    const reader = res.body!.getReader();
    // The second event is held upstream until the first has been read here.
    assert.equal(
      dec.decode((await within(reader.read(), 5_000, "event a")).value),
      "event: a\ndata: 1\n\n",
    );
    release();
    assert.equal(
      dec.decode((await within(reader.read(), 5_000, "event b")).value),
      "event: b\ndata: 2\n\n",
    );
    assert.equal((await within(reader.read())).done, true);
  });
});

Deno.test("through listener and gate: an upstream redirect comes back on the listener's URL, not followed", async () => {
  await withChain(async ({ proxyPort, upstreamSeen }) => {
    const res = await fetch(`http://127.0.0.1:${proxyPort}/api/moved`, { redirect: "manual" });
    await res.body?.cancel();
    assert.equal(res.status, 302);
    assert.equal(res.headers.get("location"), "/api/new?x=1");
    assert.equal(upstreamSeen.length, 1);
  });
});

Deno.test("through listener and gate: unknown routes and escape attempts are refused with the gate's codes", async () => {
  await withChain(async ({ proxyPort, upstreamSeen }) => {
    const unknown = await fetch(`http://127.0.0.1:${proxyPort}/nope/x`);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.headers.get(ROUTE_HEADERS.error), "route_unknown");
    await unknown.body?.cancel();
    for (
      const target of ["/api/../admin", "/api/%2e%2e/admin", "/api//evil.example/x", "/api/a\\b"]
    ) {
      const raw = await rawExchange(
        proxyPort,
        `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${proxyPort}\r\nConnection: close\r\n\r\n`,
      );
      assert.match(raw, /^HTTP\/1\.1 400/, target);
      assert.match(raw, /route_bad_target/, target);
    }
    assert.equal(upstreamSeen.length, 0);
  });
});
