/**
 * The routes' fake upstreams driven DIRECTLY by the real clients (no gate): the baseline the
 * end-to-end route tests stand on. Proves each fake speaks its protocol well enough for the real
 * client (git clone/fetch/push against `git http-backend`, `npm install` of the private package,
 * both model SDKs streaming), refuses a missing credential, and logs the credential it received.
 */
import assert from "node:assert/strict";
import { issueTestCa } from "./fakes/upstream.ts";
import { git, gitEnv, makeBareRepo, serveGit } from "./fakes/git_server.ts";
import { basicAuthorization } from "./fakes/encoding.ts";
import { PACKAGE_NAME, SECRET_PKG_VALUE, serveRegistry } from "./fakes/npm_registry.ts";
import { ANSWER, ANSWER_WORDS, serveModelApi } from "./fakes/sse_server.ts";
import { anthropicStream, openaiStream } from "./fakes/sdk_clients.ts";
import { runNpmInstall } from "./fakes/npm_client.ts";
import { waitFor, within } from "./fakes/wait.ts";

const GIT_TOKEN = "ghp_fakeGitToken0123456789";

Deno.test("fake git host: real git clone, fetch and push with the credential; refused without it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fakes-git-" });
  const ca = await issueTestCa(dir);
  await Deno.mkdir(`${dir}/repos`);
  await makeBareRepo(`${dir}/repos`, "project", "first version\n");
  const authorization = basicAuthorization("x-access-token", GIT_TOKEN);
  const server = serveGit(ca, { projectRoot: `${dir}/repos`, authorization });
  try {
    const env = gitEnv(dir, { GIT_SSL_CAINFO: ca.caFile });
    const withAuth = ["-c", `http.extraHeader=Authorization: ${authorization}`];
    const url = `${server.origin}/project.git`;

    await assert.rejects(
      () => git(["clone", "--quiet", url, `${dir}/refused`], env),
      /401|could not read Username/,
    );

    await git([...withAuth, "clone", "--quiet", url, `${dir}/clone`], env);
    assert.equal(await Deno.readTextFile(`${dir}/clone/README`), "first version\n");

    await Deno.writeTextFile(`${dir}/clone/README`, "second version\n");
    await git(["-C", `${dir}/clone`, "commit", "--quiet", "-am", "second"], env);
    await git(["-C", `${dir}/clone`, ...withAuth, "push", "--quiet", "origin", "main"], env);
    assert.equal(server.receivePacks(), 1);

    await git([...withAuth, "clone", "--quiet", url, `${dir}/other`], env);
    assert.equal(await Deno.readTextFile(`${dir}/other/README`), "second version\n");
    await git(["-C", `${dir}/clone`, ...withAuth, "fetch", "--quiet", "origin"], env);

    const authed = server.log.filter((r) => r.headers.authorization === authorization);
    assert(authed.length >= 4, "the credential arrived on the authenticated requests");
    assert(server.log.some((r) => r.target.includes("service=git-upload-pack")));
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fake registry: real npm install of the private scoped package with the token; refused without it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fakes-npm-" });
  const ca = await issueTestCa(dir);
  const token = "npm_fakeRegistryToken0123456789";
  let origin = "";
  const registry = await serveRegistry(ca, token, () => origin);
  origin = registry.origin;
  try {
    const refused = await runNpmInstall({
      dir: `${dir}/refused`,
      registry: `${origin}/`,
      caFile: ca.caFile,
    });
    assert(!refused.success, "no token, no package");

    const installed = await runNpmInstall({
      dir: `${dir}/project`,
      registry: `${origin}/`,
      caFile: ca.caFile,
      token,
    });
    assert(installed.success, installed.output);
    assert.equal(installed.value, SECRET_PKG_VALUE);
    assert.equal(registry.tarballs(), 1);
    assert(registry.log.some((r) => r.headers.authorization === `Bearer ${token}`));
    assert(registry.log.some((r) => r.target.includes(PACKAGE_NAME.replace("/", "%2f"))));
  } finally {
    await registry.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fake model API: both SDKs stream the answer; the first delta arrives before the rest is sent", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fakes-sse-" });
  const ca = await issueTestCa(dir);
  const keys = { anthropicKey: "sk-ant-fake0123456789", openaiKey: "sk-openai-fake0123456789" };
  const api = serveModelApi(ca, keys);
  try {
    for (
      const [name, call, key] of [
        ["anthropic", anthropicStream, keys.anthropicKey],
        ["openai", openaiStream, keys.openaiKey],
      ] as const
    ) {
      const reached = api.hold();
      let firstBeforeRelease = "";
      const answer = call({
        baseURL: name === "openai" ? `${api.origin}/v1` : api.origin,
        apiKey: key,
        caPem: ca.caPem,
        onDelta: (text) => firstBeforeRelease ||= text,
      });
      answer.catch(() => {}); // awaited below; a failure must not escape while we wait
      await within(reached, 15_000, "the upstream stream reaching its pause");
      // The stream is paused upstream after one delta: the client must already hold it.
      await waitFor(() => firstBeforeRelease !== "", 10_000);
      assert.equal(firstBeforeRelease, ANSWER_WORDS[0]);
      api.release();
      assert.equal((await answer).join(""), ANSWER, name);
    }
    await assert.rejects(
      () => anthropicStream({ baseURL: api.origin, apiKey: "wrong", caPem: ca.caPem }),
      /401/,
    );
    assert(
      api.log.some((r) =>
        r.headers["x-api-key"] === keys.anthropicKey ||
        r.headers.authorization === `Bearer ${keys.anthropicKey}`
      ),
    );
    assert(api.log.some((r) => r.headers.authorization === `Bearer ${keys.openaiKey}`));
    assert.equal(api.completedStreams(), 2);
  } finally {
    api.release();
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fake model API: /bytes/<n> sends exactly n bytes; /reset tears the stream down after one event", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fakes-bytes-" });
  const ca = await issueTestCa(dir);
  const api = serveModelApi(ca, { anthropicKey: "a", openaiKey: "o" });
  const client = Deno.createHttpClient({ caCerts: [ca.caPem] });
  try {
    const response = await fetch(`${api.origin}/bytes/300000`, { client });
    assert.equal((await response.arrayBuffer()).byteLength, 300_000);
    const reset = await fetch(`${api.origin}/reset`, { client });
    assert.match(reset.headers.get("content-type") ?? "", /text\/event-stream/);
    const reader = reset.body!.getReader();
    assert.match(new TextDecoder().decode((await reader.read()).value), /event: ping/);
    api.resetStreams();
    await assert.rejects(() => reader.read());
  } finally {
    client.close();
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
});
