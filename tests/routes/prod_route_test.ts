/**
 * The gate's route policy (src/routes/route_policy.ts) through the real routes app
 * (src/gate/routes_app.ts), the real prod layer (sessions, pending queue, admin app, audit) and a
 * loopback upstream: `level = "prod"` routes are served only to calls carrying a live approved
 * with-prod session; git pushes are refused (text git prints, including encoded and WebDAV
 * spellings that a decoding upstream would take for a push) or, with `push = "approve"`, shown to
 * a human and forwarded byte for byte only on a yes.
 */
import assert from "node:assert/strict";
import { createRoutesApp, type ServedRoute } from "../../src/gate/routes_app.ts";
import { ROUTE_HEADERS, routeGatePath } from "../../src/gate_api/routes_wire.ts";
import { createRoutePolicy } from "../../src/routes/route_policy.ts";
import type { RouteConfig } from "../../src/routes/route_config.ts";
import { renderRequest } from "../../src/commands/pending.ts";
import { testGate } from "../gate/gate_fixture.ts";
import { flush } from "../gate/confirm/fake_timers.ts";
import { join, pkt } from "./push_pkt.ts";
import type { GateTransport } from "../../src/gate_api/transport.ts";
import { createRoutesProxyApp } from "../../src/routes_proxy/app.ts";
import { realProcFS } from "../../src/with_prod/proc_fs.ts";
import { startTempRoutesProxy } from "../../src/with_prod/temp_routes_proxy.ts";

const SECRET = "prod-route-secret-4b3a2c1d";

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

async function withUpstream(fn: (origin: string, seen: Seen[]) => Promise<void>) {
  const seen: Seen[] = [];
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    async (req) => {
      seen.push({
        method: req.method,
        url: req.url,
        headers: Object.fromEntries(req.headers),
        body: new Uint8Array(await req.arrayBuffer()),
      });
      return new Response("upstream ok\n");
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
    name: "git",
    origin,
    basePath: "",
    credential: { kind: "env", name: "X" },
    auth: { kind: "bearer" },
    maxRequestBytes: 16 * 1024 * 1024,
    maxResponseBytes: 1024 * 1024,
    headersTimeoutMs: 5000,
    idleTimeoutMs: 5000,
    level: "dev",
    push: "refuse",
    ...over,
  };
}

/** The gate's prod layer and a routes app over `config`, with the route policy wired in. */
function gateWith(config: RouteConfig) {
  const gate = testGate();
  const served: ServedRoute = {
    config,
    credential: { get: () => Promise.resolve(SECRET) },
    fetch: (url, init) => fetch(url, init),
  };
  const routes = createRoutesApp({
    routes: new Map([[config.name, served]]),
    audit: gate.audit,
    clock: gate.clock,
    listener: "main",
    log: (m) => gate.logs.push(m),
    timers: gate.timers,
    policy: createRoutePolicy({
      listener: "main",
      sessionActive: gate.layer.sessionActive,
      confirmGitPush: gate.layer.confirmGitPush,
      timers: gate.timers,
      log: (m) => gate.logs.push(m),
    }),
  });
  const call = (target: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set(ROUTE_HEADERS.target, target);
    return routes.fetch(
      new Request(`http://gate${routeGatePath(config.name)}`, {
        ...init,
        headers,
        // @ts-ignore: streamed request bodies
        duplex: "half",
      }),
    );
  };
  const admin = (path: string, method = "GET") =>
    gate.layer.adminApp.request(`http://admin${path}`, { method });
  const queued = async () => {
    for (let i = 0; i < 200; i++) {
      const list = (await (await admin("/pending")).json()).pending;
      if (list.length) return list[0];
      await flush();
      await new Promise((r) => setTimeout(r, 1)); // pairing codes hash off the microtask queue
    }
    throw new Error("nothing was queued");
  };
  /** An approved prod session, as with-prod gets one. */
  const session = async () => {
    const created = gate.app.request("http://gate/session", { method: "POST" });
    const { id } = await queued();
    await admin(`/pending/${id}/approve`, "POST");
    return (await (await created).json()).session_id as string;
  };
  return { gate, routes, call, admin, queued, session };
}

Deno.test("prod route: refused without a session, with an unknown one, and after revocation", async () => {
  await withUpstream(async (origin, seen) => {
    const t = gateWith(route(origin, { name: "admin", level: "prod" }));
    const none = await t.call("/v1/x");
    assert.equal(none.status, 403);
    assert.equal(none.headers.get(ROUTE_HEADERS.error), "route_prod_session_required");
    assert.match((await none.json()).error, /served only inside an approved with-prod session/);
    const bogus = await t.call("/v1/x", { headers: { [ROUTE_HEADERS.session]: "f".repeat(64) } });
    assert.equal(bogus.status, 403);
    const text = await bogus.text();
    assert.match(text, /has ended or is unknown/);
    assert.ok(!text.includes("f".repeat(64)), "the session id is never echoed");

    const id = await t.session();
    const ok = await t.call("/v1/x", { headers: { [ROUTE_HEADERS.session]: id } });
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), "upstream ok\n");
    assert.equal(seen.length, 1);
    assert.equal(seen[0].headers.authorization, `Bearer ${SECRET}`);
    assert.ok(
      !Object.values(seen[0].headers).some((v) => v.includes(id)),
      "the session id never reaches the upstream",
    );
    const revoked = await t.gate.app.request(`http://gate/session?id=${id}`, { method: "DELETE" });
    assert.equal(revoked.status, 200);
    const after = await t.call("/v1/x", { headers: { [ROUTE_HEADERS.session]: id } });
    assert.equal(after.status, 403);
    await after.body?.cancel();
    assert.equal(seen.length, 1);
    const lines = t.gate.audit.entries.filter((e) => e.endpoint === "/routes");
    assert.ok(lines.every((e) => !JSON.stringify(e).includes(id)), "no session id in the audit");
  });
});

Deno.test("dev route: served without a session; a session header is not forwarded", async () => {
  await withUpstream(async (origin, seen) => {
    const t = gateWith(route(origin, { name: "api" }));
    const res = await t.call("/v1/x", { headers: { [ROUTE_HEADERS.session]: "a".repeat(64) } });
    assert.equal(res.status, 200);
    await res.body?.cancel();
    assert.equal(seen[0].headers[ROUTE_HEADERS.session], undefined);
  });
});

const A = "a".repeat(40);
const B = "b".repeat(40);
const enc = new TextEncoder();
const PUSH = join(
  pkt(`${A} ${B} refs/heads/main\0report-status side-band-64k agent=git/2\n`),
  enc.encode("0000"),
  enc.encode("PACK" + "y".repeat(100_000)),
);

Deno.test("push refused: every spelling of receive-pack gets text git prints; fetch passes", async () => {
  await withUpstream(async (origin, seen) => {
    const t = gateWith(route(origin));
    const discovery = await t.call("/o/r.git/info/refs?service=git-receive-pack");
    assert.equal(discovery.status, 403);
    assert.equal(discovery.headers.get(ROUTE_HEADERS.error), "route_push_refused");
    assert.match(discovery.headers.get("content-type")!, /^text\/plain/);
    assert.match(await discovery.text(), /push from the host, or set push = "approve"/);
    for (
      const [target, method] of [
        ["/o/r.git/git-receive-pack", "POST"],
        ["/o/r.git/git%2Dreceive-pack", "POST"],
        ["/o/r.git/GIT-RECEIVE-PACK", "POST"],
        ["/o/r.git/info/refs?service=GIT-RECEIVE-PACK", "GET"],
        ["/o/r.git/", "PROPFIND"],
        ["/o/r.git/objects/", "MKCOL"],
      ]
    ) {
      const res = await t.call(target, {
        method,
        body: method === "POST" ? PUSH.slice() : undefined,
      });
      assert.equal(res.status, 403, `${method} ${target}`);
      await res.body?.cancel();
    }
    const fetchRefs = await t.call("/o/r.git/info/refs?service=git-upload-pack");
    assert.equal(fetchRefs.status, 200);
    await fetchRefs.body?.cancel();
    assert.deepEqual(seen.map((s) => new URL(s.url).pathname), ["/o/r.git/info/refs"]);
  });
});

Deno.test("push = approve: approved, the push reaches the upstream whole with the credential", async () => {
  await withUpstream(async (origin, seen) => {
    const t = gateWith(route(origin, { push: "approve" }));
    const answer = t.call("/o/r.git/git-receive-pack", {
      method: "POST",
      body: PUSH.slice(),
      headers: { [ROUTE_HEADERS.requester]: "client=127.0.0.1:5555\x1b[2J" },
    });
    const queued = await t.queued();
    assert.equal(queued.push.repository, "/o/r.git");
    assert.equal(queued.push.reportedBy, "client=127.0.0.1:5555?[2J");
    assert.match(
      renderRequest(queued, t.gate.clock),
      /Asked by: client=127\.0\.0\.1:5555\?\[2J \(as the routes proxy reports it\)/,
    );
    assert.deepEqual(queued.push.refs, [
      `  refs/heads/main: ${"a".repeat(12)} → ${"b".repeat(12)} (update)`,
    ]);
    assert.equal(seen.length, 0);
    await t.admin(`/pending/${queued.id}/approve`, "POST");
    const res = await answer;
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "upstream ok\n");
    assert.deepEqual(seen[0].body, PUSH);
    assert.equal(seen[0].headers.authorization, `Bearer ${SECRET}`);
    const lines = t.gate.audit.entries.filter((e) => e.endpoint === "/routes");
    assert.equal(lines.at(-1)?.result, "granted");
  });
});

Deno.test("push = approve: denied, git gets its report-status rejection; nothing goes upstream", async () => {
  await withUpstream(async (origin, seen) => {
    const t = gateWith(route(origin, { push: "approve" }));
    const answer = t.call("/o/r.git/git-receive-pack", { method: "POST", body: PUSH.slice() });
    const queued = await t.queued();
    await t.admin(`/pending/${queued.id}/deny`, "POST");
    const res = await answer;
    assert.equal(res.status, 200);
    assert.equal(res.headers.get(ROUTE_HEADERS.error), "route_push_denied");
    assert.equal(res.headers.get("content-type"), "application/x-git-receive-pack-result");
    assert.match(await res.text(), /ng refs\/heads\/main push denied on the host/);
    assert.equal(seen.length, 0);
    const lines = t.gate.audit.entries.filter((e) => e.endpoint === "/routes");
    assert.equal(lines.at(-1)?.result, "denied");
    assert.equal(lines.at(-1)?.error, "route_push_denied");
    // A malformed push is refused before anyone is asked.
    const bad = await t.call("/o/r.git/git-receive-pack", { method: "POST", body: "zzzzjunk" });
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /bad pkt-line length/);
    assert.equal((await (await t.admin("/pending")).json()).pending.length, 0);
  });
});

/** A gate transport that hands each request to `app` (the gate's routes app), recording it. */
function inProcessTransport(
  app: (req: Request) => Response | Promise<Response>,
  sent: { path: string; headers: Record<string, string> }[],
): GateTransport {
  return {
    where: "the gate in this test",
    hint: "none",
    send(request) {
      sent.push({ path: request.path, headers: { ...request.headers } });
      return Promise.resolve(app(
        new Request(`http://gate${request.path}`, {
          method: request.method,
          headers: request.headers,
          body: request.body,
          signal: request.signal,
          // @ts-ignore: streamed request bodies
          duplex: "half",
        }),
      ));
    },
    close() {},
  };
}

/** A raw HTTP GET from bash, so the caller is a process of its own. */
function bashGet(port: number, path: string): string {
  return `exec 3<>/dev/tcp/127.0.0.1/${port}; printf 'GET ${path} HTTP/1.1\\r\\nHost: 127.0.0.1:${port}\\r\\nConnection: close\\r\\n\\r\\n' >&3; cat <&3`;
}

Deno.test("with-prod's routes listener: the wrapped tree reaches a prod route; outsiders get 403", async () => {
  await withUpstream(async (origin, seen) => {
    const t = gateWith(route(origin, { name: "admin", level: "prod" }));
    const id = await t.session();
    const sent: { path: string; headers: Record<string, string> }[] = [];
    const transport = inProcessTransport((req) => t.routes.fetch(req), sent);
    const logs: string[] = [];
    const listener = startTempRoutesProxy({
      transport,
      session: id,
      ancestor: Deno.pid,
      proc: realProcFS,
      log: (l) => logs.push(l),
    });
    const dir = await Deno.makeTempDir();
    try {
      // A child of this process (the wrapped command's tree): served, the session rides along.
      const inside = await new Deno.Command("bash", {
        args: ["-c", bashGet(listener.port, "/admin/v1/x?q=1")],
        stdout: "piped",
      }).output();
      const text = new TextDecoder().decode(inside.stdout);
      assert.match(text, /^HTTP\/1\.1 200/);
      assert.match(text, /upstream ok/);
      assert.equal(sent[0].path, "/routes/admin");
      assert.equal(sent[0].headers[ROUTE_HEADERS.session], id);
      assert.equal(sent[0].headers[ROUTE_HEADERS.target], "/v1/x?q=1");
      assert.equal(seen.length, 1);
      assert.ok(!logs.join("\n").includes(id), "the session id is never logged");

      // A reparented process (outside the tree): 403 before anything reaches the gate.
      const out = `${dir}/out`;
      await Deno.writeTextFile(
        `${dir}/get.sh`,
        `${bashGet(listener.port, "/admin/v1/x")} > ${out}.tmp; mv ${out}.tmp ${out}\n`,
      );
      await new Deno.Command("bash", { args: ["-c", `(setsid bash ${dir}/get.sh &); exit 0`] })
        .output();
      let answer: string | undefined;
      for (let n = 0; n < 400 && answer === undefined; n++) {
        await new Promise((r) => setTimeout(r, 25));
        answer = await Deno.readTextFile(out).catch(() => undefined);
      }
      assert.match(answer ?? "(no answer)", /^HTTP\/1\.1 403/);
      assert.equal(sent.length, 1, "the outsider's request never reached the gate");
      assert.ok(logs.some((l) => /refused a routes request: process \d+ is outside/.test(l)));

      // The container's long-lived routes listener carries no session: the prod route refuses.
      const container = createRoutesProxyApp({
        transport: inProcessTransport((req) => t.routes.fetch(req), sent),
        hostAllowed: () => true,
      });
      const refused = await container.request("http://127.0.0.1:1/admin/v1/x", {
        headers: { host: "127.0.0.1:1" },
      });
      assert.equal(refused.status, 403);
      assert.match(await refused.text(), /served only inside an approved with-prod session/);
      assert.equal(seen.length, 1);
    } finally {
      await listener.stop();
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("push = approve: the gate shutting down while a push waits rejects it, nothing upstream", async () => {
  await withUpstream(async (origin, seen) => {
    const t = gateWith(route(origin, { push: "approve" }));
    const answer = t.call("/o/r.git/git-receive-pack", { method: "POST", body: PUSH.slice() });
    await t.queued();
    await t.gate.layer.shutdown();
    const res = await answer;
    assert.equal(res.status, 200);
    assert.match(await res.text(), /ng refs\/heads\/main the gate is shutting down/);
    assert.equal(seen.length, 0);
    const line = t.gate.audit.entries.find((e) => e.endpoint === "route git git-receive-pack");
    assert.equal(line?.result, "error");
  });
});
