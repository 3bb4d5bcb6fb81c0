/**
 * Real `git push` through the routes chain's own pieces, in one process: A2's container routes
 * app on a loopback port → (in-process transport) → the gate's routes app with the route policy
 * and the real prod layer → the fake git host (Debian's `git http-backend` over HTTPS with a test
 * CA). Proves what git itself prints: a push a human denies ends in
 * `! [remote rejected] main -> main (push denied on the host)` with the reason as `remote:` lines,
 * and nothing reaches the host; an approved push lands upstream with the route's credential.
 */
import assert from "node:assert/strict";
import { createRoutesApp, type ServedRoute } from "../../src/gate/routes_app.ts";
import type { GateTransport } from "../../src/gate_api/transport.ts";
import { createRoutesProxyApp } from "../../src/routes_proxy/app.ts";
import { routesHostAllowed } from "../../src/routes_proxy/target.ts";
import { createRoutePolicy } from "../../src/routes/route_policy.ts";
import type { RouteConfig } from "../../src/routes/route_config.ts";
import { testGate } from "../gate/gate_fixture.ts";
import { flush } from "../gate/confirm/fake_timers.ts";
import { basicAuthorization } from "./fakes/encoding.ts";
import { gitEnv, makeBareRepo, serveGit } from "./fakes/git_server.ts";
import { issueTestCa } from "./fakes/upstream.ts";

const TOKEN = `ghs_${crypto.randomUUID().replaceAll("-", "")}`;

async function chain() {
  const dir = await Deno.makeTempDir({ prefix: "push-real-git-" });
  const ca = await issueTestCa(dir);
  await Deno.mkdir(`${dir}/repos`);
  await makeBareRepo(`${dir}/repos`, "project", "first version\n");
  const host = serveGit(ca, {
    projectRoot: `${dir}/repos`,
    authorization: basicAuthorization("x-access-token", TOKEN),
  });
  const client = Deno.createHttpClient({ caCerts: [ca.caPem] });
  const gate = testGate();
  const config: RouteConfig = {
    name: "git",
    origin: host.origin,
    basePath: "",
    credential: { kind: "env", name: "X" },
    auth: { kind: "basic", user: "x-access-token" },
    maxRequestBytes: 64 * 1024 * 1024,
    maxResponseBytes: 64 * 1024 * 1024,
    headersTimeoutMs: 15_000,
    idleTimeoutMs: 15_000,
    level: "dev",
    push: "approve",
  } as RouteConfig;
  const served: ServedRoute = {
    config,
    credential: { get: () => Promise.resolve(TOKEN) },
    fetch: (url, init) => fetch(url, { ...init, client }),
  };
  const routes = createRoutesApp({
    routes: new Map([["git", served]]),
    audit: gate.audit,
    clock: gate.clock,
    listener: "main",
    log: (m) => gate.logs.push(m),
    policy: createRoutePolicy({
      listener: "main",
      sessionActive: gate.layer.sessionActive,
      confirmGitPush: gate.layer.confirmGitPush,
      timers: gate.timers,
      log: (m) => gate.logs.push(m),
    }),
  });
  const transport: GateTransport = {
    where: "the gate in this test",
    hint: "none",
    send: (r) =>
      Promise.resolve(routes.fetch(
        new Request(`http://gate${r.path}`, {
          method: r.method,
          headers: r.headers,
          body: r.body,
          signal: r.signal,
          // @ts-ignore: streamed request bodies
          duplex: "half",
        }),
      )),
    close() {},
  };
  let port = 0;
  const proxy = createRoutesProxyApp({
    transport,
    hostAllowed: (h) => routesHostAllowed(h, "127.0.0.1", port),
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req, info) => proxy.fetch(req, { remoteAddr: info.remoteAddr }),
  );
  port = server.addr.port;
  return {
    dir,
    host,
    gate,
    url: `http://127.0.0.1:${port}/git/project.git`,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      client.close();
      await host.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Runs git (bounded), returning its exit code and output instead of throwing. */
async function gitRun(args: string[], env: Record<string, string>) {
  const out = await new Deno.Command("git", {
    args,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/** Waits (bounded) for a queued request on the gate's admin app. */
async function queued(gate: ReturnType<typeof testGate>) {
  for (let i = 0; i < 3000; i++) {
    const list = (await (await gate.layer.adminApp.request("/pending")).json()).pending;
    if (list.length) return list[0];
    await flush();
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`nothing was queued: ${gate.logs.join("\n")}`);
}

Deno.test("real git push: approved, it lands upstream; denied, git prints the rejection per ref", async () => {
  await using c = await chain();
  const env = gitEnv(c.dir);
  const work = `${c.dir}/clone`;
  const clone = await gitRun(["clone", "--quiet", c.url, work], env);
  assert.equal(clone.code, 0, clone.stderr);
  const commit = async (text: string) => {
    await Deno.writeTextFile(`${work}/README`, text);
    assert.equal((await gitRun(["-C", work, "commit", "--quiet", "-am", text], env)).code, 0);
    return (await gitRun(["-C", work, "rev-parse", "HEAD"], env)).stdout.trim();
  };
  /** Starts a push and returns it with the request it queued (failing if git ends first). */
  const pushQueued = async () => {
    const push = gitRun(["-C", work, "push", "origin", "main"], env);
    const early = await Promise.race([push, queued(c.gate).then(() => undefined)]);
    assert.equal(
      early,
      undefined,
      `git ended before its push was queued: ${JSON.stringify(early)}`,
    );
    return { push, request: await queued(c.gate) };
  };

  // Approved: the human sees the ref old → new; the push lands upstream with the credential.
  const oldSha = (await gitRun(["-C", work, "rev-parse", "HEAD"], env)).stdout.trim();
  const newSha = await commit("agent change\n");
  const first = await pushQueued();
  assert.equal(first.request.push.repository, "/project.git");
  assert.deepEqual(first.request.push.refs, [
    `  refs/heads/main: ${oldSha.slice(0, 12)} → ${newSha.slice(0, 12)} (update)`,
  ]);
  assert.equal(c.host.receivePacks(), 0, "nothing upstream before the human decides");
  await c.gate.layer.adminApp.request(`/pending/${first.request.id}/approve`, { method: "POST" });
  const yes = await first.push;
  assert.equal(yes.code, 0, yes.stderr);
  assert.equal(c.host.receivePacks(), 1);
  const head = await gitRun(["--git-dir", `${c.dir}/repos/project.git`, "rev-parse", "main"], env);
  assert.equal(head.stdout.trim(), newSha);
  const sent = c.host.log.find((r) => r.target.endsWith("/git-receive-pack"));
  assert.equal(sent?.headers.authorization, basicAuthorization("x-access-token", TOKEN));

  // Denied: git names the rejected ref and the reason; nothing reaches the host.
  await commit("second change\n");
  const second = await pushQueued();
  await c.gate.layer.adminApp.request(`/pending/${second.request.id}/deny`, { method: "POST" });
  const no = await second.push;
  assert.notEqual(no.code, 0);
  assert.match(no.stderr, /! \[remote rejected\] main -> main \(push denied on the host\)/);
  assert.match(no.stderr, /remote: authcalator: push denied on the host; nothing was sent/);
  assert.equal(c.host.receivePacks(), 1);

  // Right after a denial the gate's cooldown answers without asking anyone, and git says so.
  const third = await gitRun(["-C", work, "push", "origin", "main"], env);
  assert.notEqual(third.code, 0);
  assert.match(third.stderr, /! \[remote rejected\] main -> main \(no approval asked: .*retry in/);
  assert.equal(c.host.receivePacks(), 1);
  for (const out of [yes, no, third]) assert.ok(!(out.stderr + out.stdout).includes(TOKEN));
});

Deno.test("real git push over http.postBuffer: git's probe passes unasked, the push itself is asked about", async () => {
  await using c = await chain();
  const env = gitEnv(c.dir);
  const work = `${c.dir}/clone`;
  assert.equal((await gitRun(["clone", "--quiet", c.url, work], env)).code, 0);
  const big = new Uint8Array(3 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 65536) crypto.getRandomValues(big.subarray(i, i + 65536));
  await Deno.writeFile(`${work}/blob.bin`, big);
  assert.equal((await gitRun(["-C", work, "add", "blob.bin"], env)).code, 0);
  assert.equal((await gitRun(["-C", work, "commit", "--quiet", "-m", "big"], env)).code, 0);
  const push = gitRun(["-C", work, "push", "origin", "main"], env);
  const early = await Promise.race([push, queued(c.gate).then(() => undefined)]);
  assert.equal(early, undefined, `git ended before its push was queued: ${JSON.stringify(early)}`);
  const request = await queued(c.gate);
  assert.match(request.push.refs[0], /refs\/heads\/main: .* \(update\)/);
  await c.gate.layer.adminApp.request(`/pending/${request.id}/approve`, { method: "POST" });
  const done = await push;
  assert.equal(done.code, 0, done.stderr);
  const pushes = c.host.log.filter((r) => r.target.endsWith("/git-receive-pack"));
  assert.equal(pushes.length, 2, "the probe and the push");
  const upstream = await gitRun(
    ["--git-dir", `${c.dir}/repos/project.git`, "cat-file", "-s", "main:blob.bin"],
    env,
  );
  assert.equal(upstream.stdout.trim(), String(big.length));
});
