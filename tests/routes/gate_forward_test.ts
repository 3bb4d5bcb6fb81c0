/**
 * The gate's routes app + forwarder against a real loopback upstream (Deno.serve): each safety
 * rule of issue 11 item 3, the streaming behaviour of item 2 on the gate side, and the audit line
 * of item 7 (never the credential).
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.ts";
import type { AuditEntry, AuditLog } from "../../src/gate/audit.ts";
import { renderAuditLine } from "../../src/gate/audit.ts";
import { createRoutesApp, type ServedRoute } from "../../src/gate/routes_app.ts";
import { ROUTE_HEADERS, routeGatePath } from "../../src/gate_api/routes_wire.ts";
import type { RouteConfig } from "../../src/routes/route_config.ts";
import { FakeTimers } from "../gate/confirm/fake_timers.ts";

const SECRET = "route-secret-9f8e7d6c";

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
  aborted: Promise<void>;
}

type Handler = (req: Request, seen: Seen) => Response | Promise<Response>;

async function withUpstream(handler: Handler, fn: (origin: string, seen: Seen[]) => Promise<void>) {
  const seen: Seen[] = [];
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    async (req) => {
      const aborted = new Promise<void>((r) => req.signal.addEventListener("abort", () => r()));
      const s: Seen = {
        method: req.method,
        url: req.url,
        headers: Object.fromEntries(req.headers),
        body: "",
        aborted,
      };
      seen.push(s);
      if (req.body) s.body = await req.text().catch(() => "<aborted>");
      return handler(req, s);
    },
  );
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, seen);
  } finally {
    ac.abort();
    await server.finished;
  }
}

function route(origin: string, over: Partial<RouteConfig> = {}): RouteConfig {
  return {
    name: "api",
    origin,
    basePath: "/base",
    credential: { kind: "env", name: "X" },
    auth: { kind: "bearer" },
    maxRequestBytes: 1024,
    maxResponseBytes: 64 * 1024,
    headersTimeoutMs: 5000,
    idleTimeoutMs: 5000,
    level: "dev",
    push: "refuse",
    ...over,
  };
}

class MemoryAudit implements AuditLog {
  entries: AuditEntry[] = [];
  write(entry: AuditEntry) {
    this.entries.push(entry);
  }
  text() {
    return this.entries.map((e) => renderAuditLine(e, 0)).join("");
  }
}

function gate(
  config: RouteConfig,
  opts: { timers?: FakeTimers; credential?: () => Promise<string> } = {},
) {
  const audit = new MemoryAudit();
  const logs: string[] = [];
  const served: ServedRoute = {
    config,
    credential: { get: opts.credential ?? (() => Promise.resolve(SECRET)) },
    fetch: (url, init) => fetch(url, init),
  };
  const app = createRoutesApp({
    routes: new Map([[config.name, served]]),
    audit,
    clock: opts.timers?.clock ?? new ManualClock(),
    listener: "main",
    log: (m) => logs.push(m),
    timers: opts.timers,
  });
  const call = (target: string | undefined, init: RequestInit = {}, name = config.name) => {
    const headers = new Headers(init.headers);
    if (target !== undefined) headers.set(ROUTE_HEADERS.target, target);
    return app.fetch(new Request(`http://gate${routeGatePath(name)}`, { ...init, headers }));
  };
  return { call, audit, logs };
}

Deno.test("the credential is injected, the client's own and hop-by-hop headers are dropped", async () => {
  await withUpstream(
    () =>
      new Response("ok", {
        headers: {
          "x-echo": `Bearer ${SECRET}`,
          "x-leak": `token=${SECRET}`,
          "connection": "x-upstream-private",
          "x-upstream-private": "1",
          "keep-alive": "timeout=5",
          "x-fine": "yes",
          "x-route-error": "route_unknown",
        },
      }),
    async (origin, seen) => {
      const { call, audit } = gate(route(origin));
      const res = await call("/v1/items?q=secret-query-value&page=2", {
        method: "POST",
        body: "hello",
        headers: {
          authorization: "Bearer container-own",
          "x-api-key": "container-key",
          cookie: "session=container",
          "proxy-authorization": "Basic abc",
          connection: "x-private",
          "x-private": "hop",
          te: "trailers",
          "x-route-requester": "pid=7 comm=curl",
          "x-route-session": "sess-should-not-leave",
          "content-type": "text/plain",
        },
      });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "ok");
      const s = seen[0];
      assert.equal(new URL(s.url).pathname, "/base/v1/items");
      assert.equal(new URL(s.url).search, "?q=secret-query-value&page=2");
      assert.equal(s.headers["authorization"], `Bearer ${SECRET}`);
      assert.equal(s.body, "hello");
      assert.equal(s.headers["content-type"], "text/plain");
      for (const gone of ["x-api-key", "cookie", "proxy-authorization", "x-private", "te"]) {
        assert.equal(s.headers[gone], undefined, gone);
      }
      for (const name of Object.keys(s.headers)) assert.ok(!name.startsWith("x-route-"), name);
      // Nothing that carries the credential comes back; hop-by-hop fields neither.
      assert.equal(res.headers.get("x-echo"), null);
      assert.equal(res.headers.get("x-leak"), null);
      assert.equal(res.headers.get("x-upstream-private"), null);
      assert.equal(res.headers.get("keep-alive"), null);
      assert.equal(res.headers.get("x-fine"), "yes");
      assert.equal(res.headers.get("x-route-error"), null, "an upstream cannot pose as the gate");
      await new Promise((r) => setTimeout(r, 0));
      const line = audit.entries.at(-1)!;
      assert.equal(line.route, "api");
      assert.equal(line.method, "POST");
      assert.equal(line.path, "/v1/items?q&page");
      assert.equal(line.status, 200);
      assert.equal(line.bytes_up, 5);
      assert.equal(line.bytes_down, 2);
      assert.equal(line.requester, "pid=7 comm=curl");
      assert.equal(line.result, "granted");
      assert.ok(!audit.text().includes(SECRET));
      assert.ok(!audit.text().includes("secret-query-value"));
      assert.ok(!audit.text().includes("sess-should-not-leave"));
    },
  );
});

Deno.test("a compressed answer reaches the client as the upstream sent it, headers and bytes agreeing", async () => {
  await withUpstream(async (req) => {
    const ae = req.headers.get("accept-encoding") ?? "";
    const text = new TextEncoder().encode("payload ".repeat(100));
    if (!ae.includes("gzip")) return new Response(text, { headers: { "x-ae": ae } });
    const gz = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
    return new Response(new Uint8Array(await new Response(gz).arrayBuffer()), {
      headers: { "content-encoding": "gzip", "x-ae": ae },
    });
  }, async (origin) => {
    const { call } = gate(route(origin));
    const res = await call("/c", { headers: { "accept-encoding": "gzip, br" } });
    assert.equal(res.headers.get("x-ae"), "identity");
    const body = new Uint8Array(await res.arrayBuffer());
    assert.equal(res.headers.get("content-encoding"), null);
    assert.equal(Number(res.headers.get("content-length")), body.length);
    assert.equal(new TextDecoder().decode(body), "payload ".repeat(100));
  });
});

Deno.test("a small body with a Content-Length goes upstream with it; a chunked one chunked", async () => {
  await withUpstream(() => new Response("ok"), async (origin, seen) => {
    const { call } = gate(route(origin));
    await (await call("/fixed", {
      method: "POST",
      body: "hello",
      headers: { "content-length": "5" },
    }))
      .body?.cancel();
    assert.equal(seen[0].headers["content-length"], "5");
    assert.equal(seen[0].headers["transfer-encoding"], undefined);
    assert.equal(seen[0].body, "hello");
    const streamed = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode("chunk"));
        c.close();
      },
    });
    await (await call("/chunked", { method: "POST", body: streamed })).body?.cancel();
    assert.equal(seen[1].headers["transfer-encoding"], "chunked");
    assert.equal(seen[1].body, "chunk");
  });
});

Deno.test("basic, token and named-header auth are sent as configured", async () => {
  await withUpstream(() => new Response("ok"), async (origin, seen) => {
    for (
      const [auth, name, value] of [
        [
          { kind: "basic", user: "x-access-token" },
          "authorization",
          `Basic ${btoa(`x-access-token:${SECRET}`)}`,
        ],
        [{ kind: "token" }, "authorization", `token ${SECRET}`],
        [{ kind: "header", header: "x-api-key" }, "x-api-key", SECRET],
      ] as const
    ) {
      const { call } = gate(route(origin, { auth }));
      const res = await call("/x", { headers: { "x-api-key": "mine", authorization: "mine" } });
      await res.body?.cancel();
      assert.equal(seen.at(-1)!.headers[name], value);
      if (name === "x-api-key") assert.equal(seen.at(-1)!.headers["authorization"], undefined);
    }
  });
});

Deno.test("unknown routes and every escaping target are refused before any upstream call", async () => {
  await withUpstream(() => new Response("ok"), async (origin, seen) => {
    const { call, audit } = gate(route(origin));
    const unknown = await call("/x", {}, "nope");
    assert.equal(unknown.status, 404);
    assert.equal(unknown.headers.get(ROUTE_HEADERS.error), "route_unknown");
    assert.match((await unknown.json()).error, /no route named "nope".*configured: api/);
    for (
      const bad of [
        undefined,
        "http://evil.example/x",
        "//evil.example/x",
        "/a/../../x",
        "/a/%2e%2e/x",
        "/a%2f..%2fb",
        "/a\\b",
      ]
    ) {
      const res = await call(bad);
      assert.equal(res.status, 400, String(bad));
      assert.equal(res.headers.get(ROUTE_HEADERS.error), "route_bad_target");
      await res.body?.cancel();
    }
    assert.equal(seen.length, 0);
    assert.ok(audit.entries.every((e) => e.result === "error"));
  });
});

Deno.test("redirects are never followed; a same-origin Location comes back route-relative", async () => {
  await withUpstream((req) => {
    const p = new URL(req.url).pathname;
    const to = p.endsWith("/away")
      ? "https://elsewhere.example/steal"
      : `${new URL(req.url).origin}/base/next?x=1`;
    return new Response(null, { status: 302, headers: { location: to } });
  }, async (origin, seen) => {
    const { call } = gate(route(origin));
    const away = await call("/away");
    assert.equal(away.status, 302);
    assert.equal(away.headers.get("location"), "https://elsewhere.example/steal");
    const here = await call("/here");
    assert.equal(here.headers.get("location"), "/next?x=1");
    assert.equal(seen.length, 2, "no redirect was followed");
  });
});

Deno.test("methods and path prefixes narrow a route; git push and prod routes fail closed", async () => {
  await withUpstream(() => new Response("ok"), async (origin, seen) => {
    const { call } = gate(route(origin, { methods: ["GET"], pathPrefixes: ["/repos"] }));
    assert.equal((await call("/repos/a", { method: "DELETE" })).status, 405);
    const outside = await call("/admin");
    assert.equal(outside.status, 403);
    assert.equal(outside.headers.get(ROUTE_HEADERS.error), "route_path_not_allowed");
    assert.equal((await call("/reposX")).status, 403);
    const ok = await call("/repos/a");
    assert.equal(ok.status, 200);
    await ok.body?.cancel();

    const git = gate(route(origin));
    const push = await git.call("/o/r.git/info/refs?service=git-receive-pack");
    assert.equal(push.status, 403);
    assert.equal(push.headers.get(ROUTE_HEADERS.error), "route_push_refused");
    const pack = await git.call("/o/r.git/git-receive-pack", { method: "POST", body: "x" });
    assert.equal(pack.status, 403);
    const prod = gate(route(origin, { level: "prod" }));
    const p = await prod.call("/x");
    assert.equal(p.status, 403);
    assert.equal(p.headers.get(ROUTE_HEADERS.error), "route_prod_session_required");
    assert.equal(seen.length, 1);
  });
});

Deno.test("request and response size limits", async () => {
  await withUpstream((req) => {
    const p = new URL(req.url).pathname;
    if (p.endsWith("/declared")) return new Response("x".repeat(70 * 1024));
    const body = new ReadableStream({
      start(c) {
        for (let i = 0; i < 80; i++) c.enqueue(new Uint8Array(1024));
        c.close();
      },
    });
    return new Response(body);
  }, async (origin, seen) => {
    const { call, audit } = gate(route(origin));
    const big = await call("/up", { method: "POST", body: "x".repeat(2000) });
    assert.equal(big.status, 413);
    assert.equal(big.headers.get(ROUTE_HEADERS.error), "route_request_too_large");
    const streamed = await call("/up", {
      method: "POST",
      body: new ReadableStream({
        start(c) {
          c.enqueue(new Uint8Array(800));
          c.enqueue(new Uint8Array(800));
          c.close();
        },
      }),
    });
    assert.equal(streamed.status, 413);
    const head = await call("/declared", { method: "HEAD" });
    assert.equal(head.status, 200, "a HEAD carries no body: its Content-Length is no excess");
    const declared = await call("/declared");
    assert.equal(declared.status, 502);
    assert.equal(declared.headers.get(ROUTE_HEADERS.error), "route_response_too_large");
    const chunked = await call("/chunked");
    assert.equal(chunked.status, 200);
    await assert.rejects(chunked.arrayBuffer());
    await new Promise((r) => setTimeout(r, 0));
    assert.match(audit.entries.at(-1)!.error ?? "", /over the route's limit/);
    assert.ok(seen.every((s) => s.body.length <= 1024));
  });
});

Deno.test("server-sent events stream through as the upstream writes them", async () => {
  let second!: () => void;
  const secondMayGo = new Promise<void>((r) => second = r);
  await withUpstream(() => {
    const enc = new TextEncoder();
    return new Response(
      new ReadableStream({
        async start(c) {
          c.enqueue(enc.encode("event: a\ndata: 1\n\n"));
          await secondMayGo;
          c.enqueue(enc.encode("event: b\ndata: 2\n\n"));
          c.close();
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    );
  }, async (origin) => {
    const { call } = gate(route(origin));
    const res = await call("/stream");
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    // The first event arrives while the upstream still holds the second.
    assert.equal((await reader.read()).value, "event: a\ndata: 1\n\n");
    second();
    assert.equal((await reader.read()).value, "event: b\ndata: 2\n\n");
    assert.equal((await reader.read()).done, true);
  });
});

Deno.test("a stalled stream is cut after the idle timeout and the upstream call is aborted", async () => {
  const timers = new FakeTimers();
  await withUpstream((req) =>
    new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode("first"));
          req.signal.addEventListener("abort", () => c.close());
        },
      }),
    ), async (origin, seen) => {
    const { call, audit } = gate(route(origin, { idleTimeoutMs: 1000 }), { timers });
    const res = await call("/stall");
    const reader = res.body!.getReader();
    assert.equal((await reader.read()).value?.byteLength, 5);
    const next = reader.read();
    await timers.advance(999);
    assert.equal(audit.entries.length, 0, "no cut while within the idle time");
    await timers.advance(1);
    await assert.rejects(next);
    await seen[0].aborted;
    assert.match(audit.entries[0].error ?? "", /no data from the upstream for 1s/);
  });
});

Deno.test("a client that goes away mid-stream cancels the upstream request", async () => {
  await withUpstream((req) =>
    new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode("part"));
          req.signal.addEventListener("abort", () => c.close());
        },
      }),
    ), async (origin, seen) => {
    const { call, audit } = gate(route(origin));
    const res = await call("/long");
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    await seen[0].aborted;
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(audit.entries[0].error, "the client went away");
  });
});

Deno.test("upstream down, slow head, and an unavailable credential", async () => {
  // A port that was just closed: nothing listens there.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const down = gate(route(`http://127.0.0.1:${port}`));
  const d = await down.call("/x");
  assert.equal(d.status, 502);
  assert.equal(d.headers.get(ROUTE_HEADERS.error), "route_upstream_unreachable");
  assert.ok(!(await d.text()).includes(String(port)), "no internal URL in the answer");

  const timers = new FakeTimers();
  let release!: () => void;
  const held = new Promise<void>((r) => release = r);
  let arrived!: () => void;
  const upstreamHasIt = new Promise<void>((r) => arrived = r);
  await withUpstream(async () => {
    arrived();
    await held;
    return new Response("late");
  }, async (origin) => {
    const slow = gate(route(origin, { headersTimeoutMs: 2000 }), { timers });
    const pending = slow.call("/x");
    await upstreamHasIt;
    await timers.advance(2000);
    const res = await pending;
    release();
    assert.equal(res.status, 504);
    assert.equal(res.headers.get(ROUTE_HEADERS.error), "route_upstream_timeout");

    const nocred = gate(route(origin), {
      credential: () => Promise.reject(new Error("credential file /home/me/.tok is empty")),
    });
    const n = await nocred.call("/x");
    assert.equal(n.status, 503);
    const text = await n.text();
    assert.match(text, /credential is unavailable on the host/);
    assert.ok(!text.includes("/home/me"), "no host path reaches the container");
  });
});

Deno.test("an upstream that resets mid-stream ends the client's stream with an error, audited", async () => {
  // A raw upstream: a chunked head and one chunk, then the connection is dropped.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    for await (const conn of listener) {
      const buf = new Uint8Array(4096);
      await conn.read(buf);
      await conn.write(
        new TextEncoder().encode(
          "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n",
        ),
      );
      conn.close();
    }
  })();
  try {
    const { call, audit } = gate(route(`http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`));
    const res = await call("/reset");
    assert.equal(res.status, 200);
    await assert.rejects(res.arrayBuffer());
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(audit.entries[0].result, "error");
    assert.match(audit.entries[0].error ?? "", /the upstream stream failed/);
  } finally {
    listener.close();
    await serving.catch(() => {});
  }
});

Deno.test("a client that goes away mid-upload cancels the upstream request", async () => {
  await withUpstream(() => new Response("never"), async (origin, seen) => {
    const { call } = gate(route(origin, { maxRequestBytes: 1 << 20 }));
    const client = new AbortController();
    let sent!: () => void;
    const firstSent = new Promise<void>((r) => sent = r);
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(new Uint8Array(100));
        sent();
        return new Promise(() => {}); // the client stalls, then goes away
      },
    });
    const pending = call("/upload", { method: "POST", body, signal: client.signal });
    await firstSent;
    client.abort();
    const res = await pending;
    assert.ok(res.status === 499 || res.status === 502, String(res.status));
    assert.equal(res.headers.get(ROUTE_HEADERS.error), "route_upstream_unreachable");
    assert.ok(seen.every((s) => s.body.length < 1000));
  });
});

Deno.test("routed calls are refused while the audit log cannot be written (audit_required)", async () => {
  const { MemoryAuditLog } = await import("../../src/gate/audit.ts");
  await withUpstream(() => new Response("ok"), async (origin, seen) => {
    const audit = new MemoryAuditLog();
    audit.broken = true;
    const app = createRoutesApp({
      routes: new Map([["api", {
        config: route(origin),
        credential: { get: () => Promise.resolve(SECRET) },
        fetch: (url, init) => fetch(url, init),
      }]]),
      audit,
      clock: new ManualClock(),
      listener: "main",
      log: () => {},
    });
    const req = () =>
      app.fetch(
        new Request("http://gate/routes/api", { headers: { [ROUTE_HEADERS.target]: "/x" } }),
      );
    const refused = await req();
    assert.equal(refused.status, 503);
    assert.equal((await refused.json()).code, "audit_unavailable");
    assert.equal(seen.length, 0);
    audit.broken = false;
    const ok = await req();
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  });
});

Deno.test("a long upload that keeps moving is not cut by the head wait; a stalled one is", async () => {
  const timers = new FakeTimers();
  let received = 0;
  const ac = new AbortController();
  // An upstream that reads the upload as it comes and answers only at its end.
  const upstream = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    async (req) => {
      let n = 0;
      try {
        for await (const chunk of req.body!) {
          n += chunk.byteLength;
          received += chunk.byteLength;
        }
      } catch {
        return new Response(null, { status: 400 }); // the gate gave up on this upload
      }
      return new Response(`got ${n}`);
    },
  );
  /** Bounded wait until the upstream has received `bytes` in all. */
  const upstreamHas = async (bytes: number) => {
    for (let i = 0; i < 5000 && received < bytes; i++) await new Promise((r) => setTimeout(r, 1));
    assert.ok(received >= bytes, `upstream got ${received} of ${bytes}`);
  };
  try {
    const origin = `http://127.0.0.1:${upstream.addr.port}`;
    const { call } = gate(route(origin, { headersTimeoutMs: 1000, maxRequestBytes: 1 << 20 }), {
      timers,
    });
    let push!: (last: boolean) => void;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        push = (last) => {
          c.enqueue(new Uint8Array(10));
          if (last) c.close();
        };
      },
    });
    const pending = call("/push", { method: "POST", body });
    // Five chunks 600 ms apart: 3 s in all, three times the head wait, never 1 s without progress.
    for (let i = 0; i < 5; i++) {
      push(i === 4);
      await upstreamHas((i + 1) * 10);
      await timers.advance(600);
    }
    const res = await pending;
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "got 50");

    const stalled = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(10));
      },
    });
    const second = call("/push", { method: "POST", body: stalled });
    await upstreamHas(60);
    await timers.advance(1000);
    assert.equal((await second).status, 504);
  } finally {
    ac.abort();
    await upstream.finished;
  }
});
