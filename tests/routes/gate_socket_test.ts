/**
 * `/routes/<name>` as the gate serves it: mounted on an API listener's app next to the token
 * routes, over a real Unix socket with the gate's limits (serveUnix), against a real upstream.
 * Non-GET methods reach routes (and only routes); the body streams past the 64 KiB cap.
 */
import assert from "node:assert/strict";
import { createGateApp } from "../../src/gate/app.ts";
import { createRoutesApp } from "../../src/gate/routes_app.ts";
import { serveUnix } from "../../src/gate/unix_socket.ts";
import { openRoutes } from "../../src/routes/served_routes.ts";
import { parseRoutes } from "../../src/routes/route_config.ts";
import { ROUTE_HEADERS } from "../../src/gate_api/routes_wire.ts";
import { testGate } from "../gate/gate_fixture.ts";

const SECRET = "sock-secret-31415";

async function rawExchange(path: string, request: Uint8Array): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path });
  try {
    for (let o = 0; o < request.length;) o += await conn.write(request.subarray(o));
    let text = "";
    const buf = new Uint8Array(65536);
    const deadline = AbortSignal.timeout(10_000);
    while (!deadline.aborted) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
      if (/\r\n0\r\n\r\n$/.test(text) || /content-length: 0\r\n/.test(text)) break;
    }
    return text;
  } finally {
    conn.close();
  }
}

Deno.test("the gate's main socket serves routes next to its token routes", async () => {
  const received: { auth: string | null; bytes: number; path: string }[] = [];
  const ac = new AbortController();
  const upstream = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    async (req) => {
      const bytes = (await req.arrayBuffer()).byteLength;
      received.push({
        auth: req.headers.get("authorization"),
        bytes,
        path: new URL(req.url).pathname,
      });
      return new Response(`stored ${bytes}`);
    },
  );
  const dir = await Deno.makeTempDir();
  const errors: string[] = [];
  const configs = parseRoutes({
    store: {
      upstream: `http://127.0.0.1:${upstream.addr.port}`,
      credential_env: "STORE_TOKEN",
      auth: "bearer",
      max_request_bytes: 4 * 1024 * 1024,
    },
  }, errors);
  assert.deepEqual(errors, []);
  const routes = openRoutes(configs, {}, {
    env: (n) => (n === "STORE_TOKEN" ? SECRET : undefined),
    clock: { now: () => 0 },
    uid: undefined,
    home: undefined,
  });
  const g = testGate();
  const routesApp = createRoutesApp({
    routes: routes.routes,
    audit: g.audit,
    clock: g.clock,
    listener: "main",
    log: () => {},
  });
  const app = createGateApp(g.deps, "main", g.layer.handlers("main"), () => {}, routesApp);
  const server = await serveUnix(`${dir}/g.sock`, 0o600, app.fetch);
  try {
    const body = new Uint8Array(300 * 1024).fill(120);
    const head =
      `PUT /routes/store HTTP/1.1\r\nHost: g\r\n${ROUTE_HEADERS.target}: /objects/a?v=1\r\n` +
      `Authorization: Bearer mine\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    const req = new Uint8Array([...new TextEncoder().encode(head), ...body]);
    const answer = await rawExchange(server.path, req);
    assert.match(answer, /^HTTP\/1.1 200/);
    assert.match(answer, new RegExp(`stored ${body.length}`));
    assert.deepEqual(received, [{
      auth: `Bearer ${SECRET}`,
      bytes: body.length,
      path: "/objects/a",
    }]);

    const unknown = await rawExchange(
      server.path,
      new TextEncoder().encode(
        `POST /routes/nope HTTP/1.1\r\nHost: g\r\n${ROUTE_HEADERS.target}: /\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      ),
    );
    assert.match(unknown, /^HTTP\/1.1 404/);
    assert.match(unknown, /x-route-error: route_unknown/);
    // Other paths keep their GET-only rule.
    const put = await rawExchange(
      server.path,
      new TextEncoder().encode(
        "PUT /token HTTP/1.1\r\nHost: g\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
      ),
    );
    assert.match(put, /^HTTP\/1.1 405/);
    const lines = JSON.stringify(g.audit);
    assert.ok(!lines.includes(SECRET), "the credential is in no audit line");
    assert.ok(lines.includes('"route":"store"'));
  } finally {
    await server.close(100);
    routes.close();
    ac.abort();
    await upstream.finished;
    await Deno.remove(dir, { recursive: true });
  }
});
