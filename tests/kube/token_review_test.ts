/**
 * The gate's TokenReview verifier against the Kubernetes API stand-in over real HTTPS (a test CA):
 * genuine tokens for the gate's audience and an allowed service account pass and are cached at
 * most a minute and never past their expiry (bounded LRU); every other answer is refused with a
 * clear error; a down, hanging, failing or garbage-answering API is a bounded 503; the token never
 * appears in an error, a log line or the verifier's state.
 */
import assert from "node:assert/strict";
import { HttpError } from "../../src/errors.ts";
import { startKubeApiStandIn } from "../../src/emulator/kube_token_review.ts";
import { checkApiUrl, tokenExpiry, TokenReviewer } from "../../src/kube/token_review.ts";
import { inClusterApiUrl } from "../../src/kube/in_cluster.ts";
import { FakeTimers } from "../gate/confirm/fake_timers.ts";
import { loopbackServer, makeCa } from "../gate/tcp_certs.ts";

const AUDIENCE = "authcalator-gate";
const ALICE = "system:serviceaccount:agents:alice";
const REVIEWER = "reviewer-sa-token-" + "r".repeat(20);

async function setup(
  options: { cacheSize?: number; reviewer?: string; maxInFlight?: number } = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-tokenreview-" });
  const ca = await makeCa(dir);
  const server = await loopbackServer(ca);
  const timers = new FakeTimers();
  const clock = timers.clock;
  const api = startKubeApiStandIn({
    cert: server.cert,
    key: server.key,
    reviewers: { [REVIEWER]: "allowed", "forbidden-reviewer": "forbidden" },
    now: () => Math.floor(clock.now() / 1000),
  });
  const reviewerFile = `${dir}/token`;
  await Deno.writeTextFile(reviewerFile, (options.reviewer ?? REVIEWER) + "\n");
  const logs: string[] = [];
  const reviewer = new TokenReviewer({
    apiUrl: api.url,
    caPem: ca.cert,
    reviewerTokenFile: reviewerFile,
    audience: AUDIENCE,
    allowed: [ALICE],
    deadlineMs: 2_000,
    cacheSize: options.cacheSize,
    maxInFlight: options.maxInFlight,
    clock,
    timers,
    log: (m) => logs.push(m),
  });
  return {
    api,
    reviewer,
    reviewerFile,
    timers,
    clock,
    logs,
    issued: [] as string[],
    issue(ns: string, name: string, o?: { audiences?: string[]; expiresInSeconds?: number }) {
      const token = api.issue(ns, name, o);
      this.issued.push(token);
      return token;
    },
    async [Symbol.asyncDispose]() {
      reviewer.close();
      await api.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const never = new AbortController().signal;

/** Runs `verify` and returns the HttpError it throws. */
async function refusal(p: Promise<unknown>): Promise<HttpError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof HttpError, `an HttpError, got ${err}`);
    return err;
  }
  throw new Error("expected a refusal");
}

/** Nothing the verifier said (errors, log detail, log lines) contains any token. */
function assertNoToken(t: { logs: string[]; issued: string[] }, ...errors: HttpError[]) {
  const said = [...t.logs, ...errors.flatMap((e) => [e.message, e.logDetail ?? ""])].join("\n");
  for (const token of [...t.issued, REVIEWER]) {
    assert.ok(!said.includes(token), "a token leaked into an error or a log line");
    assert.ok(!said.includes(token.split(".")[2] ?? token), "a token's signature leaked");
  }
}

Deno.test("an allowed service account's token for the gate's audience is its identity, cached", async () => {
  await using t = await setup();
  const token = t.issue("agents", "alice", { audiences: [AUDIENCE] });
  assert.equal(await t.reviewer.verify(token, never), ALICE);
  assert.equal(await t.reviewer.verify(token, never), ALICE);
  assert.equal(t.api.reviews, 1, "the second answer came from the cache");
  // At most a minute: after it, the API is asked again (and a revoked token is then refused).
  await t.timers.advance(60_001);
  t.api.revoke(token);
  const err = await refusal(t.reviewer.verify(token, never));
  assert.equal(err.status, 401);
  assert.equal(t.api.reviews, 2);
  assertNoToken(t, err);
});

Deno.test("a positive answer is never reused past the token's own expiry", async () => {
  await using t = await setup();
  const token = t.issue("agents", "alice", { audiences: [AUDIENCE], expiresInSeconds: 10 });
  assert.equal(await t.reviewer.verify(token, never), ALICE);
  await t.timers.advance(9_000);
  assert.equal(await t.reviewer.verify(token, never), ALICE);
  assert.equal(t.api.reviews, 1);
  await t.timers.advance(1_500);
  const err = await refusal(t.reviewer.verify(token, never));
  assert.equal(err.status, 401, "expired: the API is asked again and refuses");
  assert.equal(t.api.reviews, 2);
  assert.match(t.logs.join("\n"), /has expired/);
  assertNoToken(t, err);
});

Deno.test("the cache is a bounded LRU", async () => {
  await using t = await setup({ cacheSize: 2 });
  const tokens = [1, 2, 3].map(() => t.issue("agents", "alice", { audiences: [AUDIENCE] }));
  for (const token of tokens) await t.reviewer.verify(token, never);
  assert.equal(t.reviewer.cached, 2);
  await t.reviewer.verify(tokens[0], never);
  assert.equal(t.api.reviews, 4, "the least recently used answer was dropped");
});

Deno.test("refused: another audience, unknown or expired token, a service account not allowed", async () => {
  await using t = await setup();
  const kubeAudience = t.issue("agents", "alice"); // the API server's default audience
  const other = await refusal(t.reviewer.verify(kubeAudience, never));
  assert.equal(other.status, 401);
  assert.equal(other.code, "bearer_token_refused");
  assert.match(t.logs.join("\n"), /is invalid for the target audiences/);

  const unknown = await refusal(t.reviewer.verify("eyJhbGciOiJSUzI1NiJ9.e30.forged", never));
  assert.equal(unknown.status, 401);

  const bob = t.issue("agents", "bob", { audiences: [AUDIENCE] });
  const forbidden = await refusal(t.reviewer.verify(bob, never));
  assert.equal(forbidden.status, 403);
  assert.equal(forbidden.code, "bearer_identity_not_allowed");
  assert.match(forbidden.message, /system:serviceaccount:agents:bob is not allowed/);
  assert.equal(t.reviewer.cached, 0, "refusals are not cached");
  assertNoToken(t, other, unknown, forbidden);
});

Deno.test("the gate's own credentials refused (401, 403): 503 whose log detail names the fix", async () => {
  for (
    const [reviewer, status, fix] of [
      ["not-a-known-reviewer", 401, /not accepted by the API server/],
      ["forbidden-reviewer", 403, /system:auth-delegator/],
    ] as const
  ) {
    await using t = await setup({ reviewer });
    const token = t.issue("agents", "alice", { audiences: [AUDIENCE] });
    const err = await refusal(t.reviewer.verify(token, never));
    assert.equal(err.status, 503);
    assert.equal(err.code, "bearer_verifier_unavailable");
    assert.match(err.logDetail ?? "", new RegExp(`answered ${status}`));
    assert.match(err.logDetail ?? "", fix);
    assert.ok(!(err.logDetail ?? "").includes(reviewer));
    assertNoToken(t, err);
  }
});

Deno.test("a missing or empty reviewer token file is a 503 naming the file in the log only", async () => {
  await using t = await setup();
  const token = t.issue("agents", "alice", { audiences: [AUDIENCE] });
  await Deno.writeTextFile(t.reviewerFile, "\n");
  const empty = await refusal(t.reviewer.verify(token, never));
  assert.equal(empty.status, 503);
  assert.match(empty.logDetail ?? "", /is empty/);
  await Deno.remove(t.reviewerFile);
  const missing = await refusal(t.reviewer.verify(token, never));
  assert.equal(missing.status, 503);
  assert.ok(!missing.message.includes(t.reviewerFile), "no host path in what the client sees");
  assert.equal(t.api.reviews, 0);
});

Deno.test("a hanging API is cut at the deadline and the call is cancelled", async () => {
  await using t = await setup();
  t.api.fault = "hang";
  const token = t.issue("agents", "alice", { audiences: [AUDIENCE] });
  const pending = refusal(t.reviewer.verify(token, never));
  // Wait (bounded) until the review reached the API, then let the deadline fire.
  for (let i = 0; i < 1000 && t.api.reviews === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(t.timers.armed, 1, "the deadline is armed");
  await t.timers.advance(2_000);
  const err = await pending;
  assert.equal(err.status, 503);
  assert.match(err.message, /did not answer within 2000 ms/);
  assert.equal(t.timers.armed, 0);
  assertNoToken(t, err);
});

Deno.test("a requester that goes away cancels its review", async () => {
  await using t = await setup();
  t.api.fault = "hang";
  const token = t.issue("agents", "alice", { audiences: [AUDIENCE] });
  const gone = new AbortController();
  const pending = refusal(t.reviewer.verify(token, gone.signal));
  for (let i = 0; i < 1000 && t.api.reviews === 0; i++) await new Promise((r) => setTimeout(r, 5));
  gone.abort();
  const err = await pending;
  assert.equal(err.code, "client_gone");
  assert.equal(t.timers.armed, 0, "the deadline timer is cancelled with it");
});

Deno.test("garbage, a 500 and a down API are 503s with a clear message", async () => {
  await using t = await setup();
  const token = t.issue("agents", "alice", { audiences: [AUDIENCE] });
  t.api.fault = "garbage";
  const garbage = await refusal(t.reviewer.verify(token, never));
  assert.equal(garbage.status, 503);
  assert.match(garbage.message, /not a TokenReview/);
  t.api.fault = "error500";
  const failed = await refusal(t.reviewer.verify(token, never));
  assert.equal(failed.status, 503);
  assert.match(failed.message, /HTTP 500/);
  await t.api.close();
  const down = await refusal(t.reviewer.verify(token, never));
  assert.equal(down.status, 503);
  assert.match(down.message, /unreachable/);
  assertNoToken(t, garbage, failed, down);
});

Deno.test("an API server with a certificate from another CA is unreachable, not trusted", async () => {
  await using t = await setup();
  const dir = await Deno.makeTempDir();
  const otherCa = await makeCa(dir, "another CA");
  const wrongTrust = new TokenReviewer({
    apiUrl: t.api.url,
    caPem: otherCa.cert,
    reviewerTokenFile: t.reviewerFile,
    audience: AUDIENCE,
    allowed: [ALICE],
  });
  try {
    const token = t.issue("agents", "alice", { audiences: [AUDIENCE] });
    const err = await refusal(wrongTrust.verify(token, never));
    assert.equal(err.status, 503);
    assert.equal(t.api.reviews, 0, "the reviewer token never reached an untrusted server");
  } finally {
    wrongTrust.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad options are refused with what is wrong", () => {
  const base = {
    apiUrl: "https://10.0.0.1:443",
    caPem: "",
    reviewerTokenFile: "/t",
    audience: AUDIENCE,
    allowed: [ALICE],
  };
  assert.throws(() => new TokenReviewer({ ...base, allowed: ["alice"] }), /system:serviceaccount/);
  assert.throws(
    () => new TokenReviewer({ ...base, allowed: ["system:serviceaccount:Agents:alice"] }),
    /system:serviceaccount/,
  );
  assert.throws(() => new TokenReviewer({ ...base, audience: " " }), /audience is required/);
  assert.throws(() => checkApiUrl("http://10.0.0.1"), /must be an https URL/);
  assert.throws(() => checkApiUrl("https://u:p@10.0.0.1"), /credentials/);
  assert.throws(() => checkApiUrl("not a url"), /not a URL/);
  assert.equal(checkApiUrl("https://kube.example:6443/"), "https://kube.example:6443");
  assert.equal(inClusterApiUrl({}), undefined);
  assert.equal(
    inClusterApiUrl({ KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" }),
    "https://10.96.0.1:443",
  );
  assert.equal(inClusterApiUrl({ KUBERNETES_SERVICE_HOST: "fd00::1" }), "https://[fd00::1]:443");
  assert.equal(tokenExpiry("a.b"), undefined);
  assert.equal(tokenExpiry(`x.${btoa(JSON.stringify({ exp: 42 }))}.y`), 42);
  assert.equal(tokenExpiry(`x.${btoa(JSON.stringify({ exp: "soon" }))}.y`), undefined);
});

Deno.test("reviews in flight are bounded: past the bound a request is refused at once", async () => {
  await using t = await setup({ maxInFlight: 2 });
  t.api.fault = "hang";
  const gone = new AbortController();
  const held = [1, 2].map(() =>
    refusal(
      t.reviewer.verify(t.issue("agents", "alice", { audiences: [AUDIENCE] }), gone.signal),
    )
  );
  for (let i = 0; i < 1000 && t.api.reviews < 2; i++) await new Promise((r) => setTimeout(r, 5));
  const third = await refusal(
    t.reviewer.verify(t.issue("agents", "alice", { audiences: [AUDIENCE] }), never),
  );
  assert.equal(third.status, 503);
  assert.equal(third.headers["retry-after"], "1");
  assert.equal(t.api.reviews, 2, "the third never reached the API");
  gone.abort();
  await Promise.all(held);
  t.api.fault = "none";
  const token = t.issue("agents", "alice", { audiences: [AUDIENCE] });
  assert.equal(await t.reviewer.verify(token, never), ALICE, "the slots are free again");
});
