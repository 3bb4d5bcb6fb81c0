/**
 * git push through a route, end to end over loopback: a Hono app standing where the gate's route
 * forwarder stands runs guardGitPush with the gate's real prod layer (pending queue, admin app,
 * audit), then forwards to a fake upstream that records what reached it. Proves: a refused push
 * never reaches the upstream and says why; an approved push reaches it byte for byte (command
 * section and packfile, streamed); a denied, expired or malformed push never does; the human sees
 * the repository and each ref; real `git push` prints the refusal as `remote:` lines.
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import {
  COMMAND_SECTION_DEADLINE_MS,
  guardGitPush,
  type PushPolicy,
} from "../../src/routes/git_push.ts";
import { renderRequest } from "../../src/commands/pending.ts";
import { ADMIN_PATHS } from "../../src/gate_api/wire.ts";
import { PENDING_TTL_MS } from "../../src/gate/pending.ts";
import { testGate } from "../gate/gate_fixture.ts";
import { flush } from "../gate/confirm/fake_timers.ts";
import { join, pkt } from "./push_pkt.ts";

const enc = new TextEncoder();
const A = "a".repeat(40);
const B = "b".repeat(40);
const ZERO = "0".repeat(40);
const CAPS = "report-status side-band-64k agent=git/2.39.5";

interface Seen {
  method: string;
  path: string;
  body: Uint8Array;
}

/** A loopback upstream that records each request it gets. */
function fakeUpstream() {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    seen.push({
      method: req.method,
      path: url.pathname + url.search,
      body: new Uint8Array(await req.arrayBuffer()),
    });
    return new Response("upstream ok\n");
  });
  return { seen, server, origin: `http://127.0.0.1:${server.addr.port}` };
}

/** The gate's prod layer plus a route app applying `policy` before forwarding to `origin`. */
function routeApp(origin: string, policy: PushPolicy | undefined) {
  const gate = testGate();
  const app = new Hono();
  app.all("/github/*", async (c) => {
    const url = new URL(c.req.url);
    const path = url.pathname.slice("/github".length);
    const verdict = await guardGitPush(c.req.raw, path, url.search, {
      route: "github",
      policy,
      confirm: (push, signal) => gate.layer.confirmGitPush(c, "main", push, signal),
      timers: gate.timers,
      signal: c.req.raw.signal,
      log: (l) => gate.logs.push(l),
    });
    if (verdict.action === "answer") return verdict.response;
    const req = verdict.request;
    return await fetch(origin + path + url.search, {
      method: req.method,
      headers: { "content-type": req.headers.get("content-type") ?? "" },
      body: req.body,
      // @ts-ignore: streamed request body
      duplex: "half",
    });
  });
  return { gate, app };
}

const PACK = enc.encode("PACK\0\0\0\x02\0\0\0\0" + "x".repeat(200_000));
const PUSH_BODY = join(
  pkt(`${A} ${B} refs/heads/main\0${CAPS}\n`),
  pkt(`${ZERO} ${B} refs/tags/v1\n`),
  enc.encode("0000"),
  PACK,
);

/** A body delivered in small chunks, as a client streams it. */
function chunked(bytes: Uint8Array, size = 7_000): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
}

function pushRequest(body: BodyInit = chunked(PUSH_BODY), headers: HeadersInit = {}) {
  return new Request("http://route/github/o/r.git/git-receive-pack", {
    method: "POST",
    headers: { "content-type": "application/x-git-receive-pack-request", ...headers },
    body,
    // @ts-ignore: streamed request body
    duplex: "half",
  });
}

/** Waits (bounded) until the pending queue holds a request, and returns it. */
async function queued(gate: ReturnType<typeof testGate>) {
  for (let i = 0; i < 200; i++) {
    const res = await gate.layer.adminApp.request(ADMIN_PATHS.pending);
    const list = (await res.json()).pending;
    if (list.length) return list[0];
    await flush();
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error("nothing was queued");
}

Deno.test("push refused by default: discovery and receive-pack get 403 text git prints; fetch passes", async () => {
  const up = fakeUpstream();
  try {
    const { app } = routeApp(up.origin, undefined);
    const discovery = await app.request("/github/o/r.git/info/refs?service=git-receive-pack");
    assert.equal(discovery.status, 403);
    assert.match(discovery.headers.get("content-type")!, /^text\/plain/);
    const text = await discovery.text();
    assert.match(text, /git push is refused by authcalator: route 'github' does not allow pushes/);
    assert.match(text, /push = "approve" on \[routes\.github\]/);
    const post = await app.request(pushRequest());
    assert.equal(post.status, 403);
    await post.body?.cancel();
    const webdav = await app.request("/github/o/r.git/", { method: "PROPFIND" });
    assert.equal(webdav.status, 403);
    await webdav.body?.cancel();
    const fetchRefs = await app.request("/github/o/r.git/info/refs?service=git-upload-pack");
    assert.equal(await fetchRefs.text(), "upstream ok\n");
    assert.deepEqual(up.seen.map((s) => s.path), ["/o/r.git/info/refs?service=git-upload-pack"]);
  } finally {
    await up.server.shutdown();
  }
});

Deno.test("push = approve: the human sees repo and refs; approved, the exact bytes reach the upstream", async () => {
  const up = fakeUpstream();
  try {
    const { app, gate } = routeApp(up.origin, "approve");
    const discovery = await app.request("/github/o/r.git/info/refs?service=git-receive-pack");
    assert.equal(await discovery.text(), "upstream ok\n", "discovery is forwarded when approvable");
    const answer = app.request(pushRequest());
    const request = await queued(gate);
    assert.equal(up.seen.length, 1, "nothing is forwarded before the human decides");
    assert.deepEqual(request.push, {
      route: "github",
      repository: "/o/r.git",
      refs: [
        `  refs/heads/main: ${"a".repeat(12)} → ${"b".repeat(12)} (update)`,
        `  refs/tags/v1: (none) → ${"b".repeat(12)} (create)`,
      ],
      totalRefs: 2,
    });
    assert.match(request.pairingCode, /\S/);
    const shown = renderRequest(request, gate.clock);
    assert.match(shown, /Push: {5}git push to \/o\/r\.git through route 'github'/);
    assert.match(shown, /refs\/heads\/main: a{12} → b{12} \(update\)/);
    assert.ok(gate.logs.some((l) => /pending approval .*git push to \/o\/r\.git/.test(l)));
    const decided = await gate.layer.adminApp.request(ADMIN_PATHS.decide(request.id, "approve"), {
      method: "POST",
    });
    assert.equal(decided.status, 200);
    const res = await answer;
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "upstream ok\n");
    const pushed = up.seen[1];
    assert.equal(pushed.path, "/o/r.git/git-receive-pack");
    assert.deepEqual(pushed.body, PUSH_BODY, "command section and packfile, byte for byte");
    const granted = gate.audit.entries.filter((e) =>
      e.endpoint === "route github git-receive-pack"
    );
    assert.equal(granted.length, 1);
    assert.equal(granted[0].result, "granted");
    assert.deepEqual(granted[0].command_argv, [
      `refs/heads/main: ${"a".repeat(12)} → ${"b".repeat(12)} (update)`,
      `refs/tags/v1: (none) → ${"b".repeat(12)} (create)`,
    ]);
  } finally {
    await up.server.shutdown();
  }
});

Deno.test("push = approve: denied or expired, git gets report-status ng per ref; upstream never sees it", async () => {
  const up = fakeUpstream();
  try {
    for (const end of ["deny", "expire"] as const) {
      const { app, gate } = routeApp(up.origin, "approve");
      const answer = app.request(pushRequest());
      const request = await queued(gate);
      if (end === "deny") {
        await gate.layer.adminApp.request(ADMIN_PATHS.decide(request.id, "deny"), {
          method: "POST",
        });
      } else {
        await gate.timers.advance(PENDING_TTL_MS);
      }
      const res = await answer;
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "application/x-git-receive-pack-result");
      const body = new TextDecoder().decode(await res.arrayBuffer());
      const why = end === "deny"
        ? "push denied on the host"
        : "nobody approved the push on the host in time";
      assert.ok(body.includes(`ng refs/heads/main ${why}\n`), body);
      assert.ok(body.includes(`ng refs/tags/v1 ${why}\n`), body);
      assert.ok(body.includes("nothing was sent to the upstream"), body);
      const line = gate.audit.entries.find((e) => e.endpoint === "route github git-receive-pack");
      assert.equal(line?.result, end === "deny" ? "denied" : "expired");
    }
    assert.equal(up.seen.length, 0);
  } finally {
    await up.server.shutdown();
  }
});

Deno.test("push = approve: malformed, compressed or stalled pushes are refused before any human is asked", async () => {
  const up = fakeUpstream();
  try {
    const { app, gate } = routeApp(up.origin, "approve");
    const bad = await app.request(pushRequest(join(enc.encode("zzzz"), PACK)));
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /authcalator refused the push: .*bad pkt-line length/);
    const truncated = await app.request(
      pushRequest(join(pkt(`${A} ${B} refs/heads/main\0${CAPS}\n`))),
    );
    assert.equal(truncated.status, 400);
    assert.match(await truncated.text(), /ended before its command section did/);
    const gz = await app.request(pushRequest(PUSH_BODY, { "content-encoding": "gzip" }));
    assert.equal(gz.status, 415);
    assert.match(await gz.text(), /compressed git push cannot be shown/);
    // A client that sends half a pkt-line and stops: refused at the deadline, not waited on.
    let cancelled = false;
    const stalled = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(enc.encode("00a0"));
      },
      cancel() {
        cancelled = true;
      },
    });
    const answer = app.request(pushRequest(stalled));
    await flush();
    await gate.timers.advance(COMMAND_SECTION_DEADLINE_MS);
    const late = await answer;
    assert.equal(late.status, 400);
    assert.match(await late.text(), /did not arrive in time/);
    assert.ok(cancelled, "the stalled body is cancelled");
    const left = await gate.layer.adminApp.request(ADMIN_PATHS.pending);
    assert.equal((await left.json()).pending.length, 0);
    assert.equal(up.seen.length, 0);
  } finally {
    await up.server.shutdown();
  }
});

Deno.test("push = approve: a client gone while the human is asked cancels the request; nothing forwarded", async () => {
  const up = fakeUpstream();
  try {
    const { app, gate } = routeApp(up.origin, "approve");
    const gone = new AbortController();
    const req = new Request(pushRequest(), { signal: gone.signal });
    const answer = app.request(req);
    const request = await queued(gate);
    gone.abort();
    const res = await Promise.resolve(answer).catch((err: unknown) => err);
    if (res instanceof Response) await res.body?.cancel();
    assert.equal(gate.layer.adminApp !== undefined, true);
    const after = await gate.layer.adminApp.request(ADMIN_PATHS.pendingOne(request.id));
    assert.equal(after.status, 410, "the queued push left the queue");
    await after.body?.cancel();
    assert.equal(up.seen.length, 0);
  } finally {
    await up.server.shutdown();
  }
});

Deno.test("real git push against a refusing route prints the reason as remote: lines", async () => {
  const up = fakeUpstream();
  const { app } = routeApp(up.origin, undefined);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  const dir = await Deno.makeTempDir();
  try {
    const git = (args: string[]) =>
      new Deno.Command("git", {
        args,
        cwd: dir,
        env: {
          GIT_CONFIG_NOSYSTEM: "1",
          GIT_CONFIG_GLOBAL: "/dev/null",
          GIT_TERMINAL_PROMPT: "0",
          HOME: dir,
        },
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(30_000),
      }).output();
    await git(["init", "-q", "-b", "main", "."]);
    await git([
      "-c",
      "user.name=t",
      "-c",
      "user.email=t@t",
      "commit",
      "-q",
      "--allow-empty",
      "-m",
      "x",
    ]);
    const out = await git([
      "push",
      `http://127.0.0.1:${server.addr.port}/github/o/r.git`,
      "main",
    ]);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.notEqual(out.code, 0);
    assert.match(
      stderr,
      /remote: git push is refused by authcalator: route 'github' does not allow pushes/,
    );
    assert.match(stderr, /remote: To push, run git push on the host/);
    assert.match(stderr, /403/);
    assert.equal(up.seen.length, 0);
  } finally {
    await server.shutdown();
    await up.server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("push = approve: git's probe (a lone flush, before a large push) is forwarded unasked; a flush with more is refused", async () => {
  const up = fakeUpstream();
  try {
    const { app, gate } = routeApp(up.origin, "approve");
    const probe = await app.request(pushRequest(enc.encode("0000")));
    assert.equal(await probe.text(), "upstream ok\n");
    assert.deepEqual(up.seen.map((s) => new TextDecoder().decode(s.body)), ["0000"]);
    const smuggled = await app.request(pushRequest(join(enc.encode("0000"), PACK)));
    assert.equal(smuggled.status, 400);
    assert.match(await smuggled.text(), /names no ref must carry nothing else/);
    assert.equal(up.seen.length, 1);
    const left = await gate.layer.adminApp.request(ADMIN_PATHS.pending);
    assert.equal((await left.json()).pending.length, 0, "nobody was asked");
  } finally {
    await up.server.shutdown();
  }
});
