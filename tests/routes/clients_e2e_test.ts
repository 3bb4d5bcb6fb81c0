/**
 * Issue 11, "Real clients, real upstreams": real git, npm and the model SDKs reach the fake
 * upstreams ONLY through the chain (metadata-proxy routes_port → gate → upstream over HTTPS with
 * the test CA), holding no credential themselves. The fakes' own request logs prove the credential
 * arrived upstream; a grep of the gate's and proxy's output, the audit log, the clients' output and
 * every response proves it appeared nowhere else.
 */
import assert from "node:assert/strict";
import { roleEnv, spawnRole } from "../../src/testing/chain.ts";
import { startRouteChain } from "./fakes/route_chain.ts";
import { git, gitEnv } from "./fakes/git_server.ts";
import { basicAuthorization } from "./fakes/encoding.ts";
import { runNpmInstall } from "./fakes/npm_client.ts";
import { SECRET_PKG_VALUE } from "./fakes/npm_registry.ts";
import { ANSWER, ANSWER_WORDS } from "./fakes/sse_server.ts";
import { anthropicStream, openaiStream } from "./fakes/sdk_clients.ts";
import { waitFor, within } from "./fakes/wait.ts";

/** What a client that insists on a key is given: a placeholder, never the credential. */
const PLACEHOLDER_KEY = "placeholder-injected-by-the-gate";

/** Runs git capturing its output into `seen` (throws with it when git fails). */
async function gitSeen(seen: string[], args: string[], env: Record<string, string>) {
  try {
    const out = await git(args, env);
    seen.push(out);
    return out;
  } catch (error) {
    seen.push(String(error));
    throw error;
  }
}

Deno.test("routes e2e: real git clone and fetch through the route; push refused with 403 and why; the token only upstream", async () => {
  await using rc = await startRouteChain();
  const env = gitEnv(rc.dir);
  const url = `${rc.route("git")}/project.git`;
  await gitSeen(rc.seen, ["clone", "--quiet", url, `${rc.dir}/clone`], env);
  assert.equal(await Deno.readTextFile(`${rc.dir}/clone/README`), "first version\n");

  // A new upstream commit, then fetch through the route.
  await git(["-C", `${rc.dir}/clone`, "config", "user.name", "Agent"], env);
  await git(["clone", "--quiet", `${rc.dir}/repos/project.git`, `${rc.dir}/upstream-work`], env);
  await Deno.writeTextFile(`${rc.dir}/upstream-work/README`, "upstream change\n");
  await git(["-C", `${rc.dir}/upstream-work`, "commit", "--quiet", "-am", "upstream"], env);
  await git(["-C", `${rc.dir}/upstream-work`, "push", "--quiet", "origin", "main"], env);
  await gitSeen(rc.seen, ["-C", `${rc.dir}/clone`, "fetch", "--quiet", "origin"], env);
  const fetched = await git(["-C", `${rc.dir}/clone`, "show", "origin/main:README"], env);
  assert.equal(fetched, "upstream change\n");

  // Push: refused by the gate before the upstream is asked.
  await git(["-C", `${rc.dir}/clone`, "reset", "--quiet", "--hard", "origin/main"], env);
  await Deno.writeTextFile(`${rc.dir}/clone/README`, "agent change\n");
  await git(["-C", `${rc.dir}/clone`, "commit", "--quiet", "-am", "agent"], env);
  await assert.rejects(
    () => gitSeen(rc.seen, ["-C", `${rc.dir}/clone`, "push", "origin", "main"], env),
    /403/,
  );
  assert.equal(rc.git.receivePacks(), 0);
  assert.ok(!rc.git.log.some((r) => r.target.includes("git-receive-pack")), "push never upstream");
  // The refusal says why and what to do.
  const refusal = await fetch(`${url}/info/refs?service=git-receive-pack`);
  const message = await refusal.text();
  rc.seen.push(message, JSON.stringify([...refusal.headers]));
  assert.equal(refusal.status, 403);
  assert.match(message, /push/i);

  const expected = basicAuthorization("x-access-token", rc.secrets.git);
  const fetches = rc.git.log.filter((r) => r.target.includes("git-upload-pack"));
  assert.ok(fetches.length >= 2, "clone and fetch reached the upstream");
  for (const r of fetches) assert.equal(r.headers.authorization, expected, r.target);
  // One audit line per routed call, the refused push among them (written when each call ends).
  const audited = async () => (await rc.audit()).filter((e) => e.route === "git");
  await waitForAsync(async () => (await audited()).some((e) => e.status === 403), 10_000);
  const lines = await audited();
  assert.ok(lines.some((e) => e.status === 200 && Number(e.bytes_down) > 0), JSON.stringify(lines));
  assert.deepEqual(await rc.leaks(), []);
});

Deno.test("routes e2e: real npm install of the private package via the registry route, no token in .npmrc", async () => {
  await using rc = await startRouteChain();
  const result = await runNpmInstall({ dir: `${rc.dir}/project`, registry: `${rc.route("npm")}/` });
  rc.seen.push(result.output);
  assert.ok(result.success, result.output);
  assert.equal(result.value, SECRET_PKG_VALUE);
  assert.equal(rc.registry.tarballs(), 1);
  for (const r of rc.registry.log) {
    assert.equal(r.headers.authorization, `Bearer ${rc.secrets.npm}`, r.target);
  }
  const npmrc = await Deno.readTextFile(`${rc.dir}/project/.npmrc`);
  assert.ok(!npmrc.includes(rc.secrets.npm));
  assert.deepEqual(await rc.leaks(), []);
});

Deno.test("routes e2e: the Anthropic and OpenAI SDKs stream through the route with a placeholder key; events arrive as sent", async () => {
  await using rc = await startRouteChain();
  for (
    const [name, call, base] of [
      ["anthropic", anthropicStream, rc.route("anthropic")],
      ["openai", openaiStream, rc.route("openai")],
    ] as const
  ) {
    const reached = rc.api.hold();
    let first = "";
    const answer = call({ baseURL: base, apiKey: PLACEHOLDER_KEY, onDelta: (t) => first ||= t });
    // The pause upstream, or the call's own failure (whichever comes first) — bounded.
    await within(
      Promise.race([reached, answer.then(() => assert.fail(`${name}: ended before the pause`))]),
      15_000,
      `${name}: the upstream stream reaching its pause`,
    );
    // The upstream is paused after one delta: it crossed proxy and gate unbuffered.
    await waitFor(() => first !== "", 10_000);
    assert.equal(first, ANSWER_WORDS[0], name);
    rc.api.release();
    const deltas = await answer;
    rc.seen.push(deltas.join(""));
    assert.equal(deltas.join(""), ANSWER, name);
  }
  const anthropicCall = rc.api.log.find((r) => r.target === "/v1/messages");
  assert.equal(anthropicCall?.headers["x-api-key"], rc.secrets.anthropic);
  assert.equal(anthropicCall?.headers.authorization, undefined, "the SDK's placeholder dropped");
  const openaiCall = rc.api.log.find((r) => r.target === "/v1/chat/completions");
  assert.equal(openaiCall?.headers.authorization, `Bearer ${rc.secrets.openai}`);
  for (const r of rc.api.log) {
    assert.ok(!JSON.stringify(r.headers).includes(PLACEHOLDER_KEY), "placeholder never upstream");
  }
  assert.deepEqual(await rc.leaks(), []);
});

Deno.test("routes e2e: push = approve — real git push waits for the human, who sees repo and ref old → new; approved, it lands upstream", async () => {
  await using rc = await startRouteChain();
  const env = gitEnv(rc.dir);
  const url = `${rc.route("git-approve")}/project.git`;
  await gitSeen(rc.seen, ["clone", "--quiet", url, `${rc.dir}/clone`], env);
  const oldSha = (await git(["-C", `${rc.dir}/clone`, "rev-parse", "HEAD"], env)).trim();
  await Deno.writeTextFile(`${rc.dir}/clone/README`, "approved change\n");
  await git(["-C", `${rc.dir}/clone`, "commit", "--quiet", "-am", "approved"], env);
  const newSha = (await git(["-C", `${rc.dir}/clone`, "rev-parse", "HEAD"], env)).trim();

  const push = gitSeen(rc.seen, ["-C", `${rc.dir}/clone`, "push", "origin", "main"], env);
  push.catch(() => {}); // awaited below
  const [, id] = await rc.chain.gate.waitFor(/pending approval ([0-9a-f]{32})/, 60_000);
  assert.equal(rc.git.receivePacks(), 0, "nothing upstream before the human decides");

  const admin = ["--admin-socket-path", rc.chain.adminSocketPath];
  const listed = await runRole(rc, "pending", admin);
  assert.match(listed, /project\.git/);
  assert.match(listed, /refs\/heads\/main/);
  assert.ok(listed.includes(oldSha.slice(0, 7)) && listed.includes(newSha.slice(0, 7)), listed);

  await runRole(rc, "approve", [id, "--yes", ...admin]);
  await push;
  assert.equal(rc.git.receivePacks(), 1);
  const upstreamHead = await git(
    ["--git-dir", `${rc.dir}/repos/project.git`, "rev-parse", "main"],
    env,
  );
  assert.equal(upstreamHead.trim(), newSha);
  const expected = basicAuthorization("x-access-token", rc.secrets.git);
  const receive = rc.git.log.find((r) => r.target.endsWith("/git-receive-pack"));
  assert.equal(receive?.headers.authorization, expected);
  assert.deepEqual(await rc.leaks(), []);
});

/** Polls an async condition every 20 ms, failing after `timeoutMs` (bounded). */
async function waitForAsync(condition: () => Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Runs an admin command on the host (its pinned flags), bounded; returns its stdout. */
async function runRole(
  rc: { dir: string; seen: string[] },
  command: string,
  args: string[],
): Promise<string> {
  const proc = spawnRole(command, args, { env: roleEnv(rc.dir) });
  const status = await proc.exited(30_000);
  const output = proc.output();
  rc.seen.push(output);
  assert.equal(status.code, 0, output);
  return output;
}
