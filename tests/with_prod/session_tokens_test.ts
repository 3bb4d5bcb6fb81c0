import assert from "node:assert/strict";
import { SessionTokens } from "../../src/with_prod/session_tokens.ts";
import { HttpError } from "../../src/errors.ts";
import { ManualClock } from "../../src/clock.ts";

function setup() {
  const clock = new ManualClock();
  let n = 0;
  let release: (() => void) | undefined;
  let hold = false;
  const tokens = new SessionTokens({
    initial: { accessToken: "ya29.t0", expiresAt: clock.now() + 3600_000 },
    fetch: async () => {
      if (hold) await new Promise<void>((r) => release = r);
      return { accessToken: `ya29.t${++n}`, expiresAt: clock.now() + 3600_000 };
    },
    clock,
  });
  return {
    clock,
    tokens,
    fetches: () => n,
    holdFetch: () => hold = true,
    releaseFetch: () => release?.(),
  };
}

Deno.test("the initial token is served until its refresh point, then refreshed once for all", async () => {
  const t = setup();
  assert.equal((await t.tokens.token()).accessToken, "ya29.t0");
  t.clock.advance(3300_000 - 1);
  assert.equal((await t.tokens.token()).accessToken, "ya29.t0");
  t.clock.advance(1);
  const all = await Promise.all([t.tokens.token(), t.tokens.token(), t.tokens.token()]);
  assert.deepEqual(all.map((x) => x.accessToken), ["ya29.t1", "ya29.t1", "ya29.t1"]);
  assert.equal(t.fetches(), 1);
});

Deno.test("after end() no token is served, not even the cached one: a 401 with the reason", async () => {
  const t = setup();
  await t.tokens.token();
  t.tokens.end("Prod session ended: the gate closed the held session");
  t.tokens.end("a second reason is ignored");
  assert.equal(t.tokens.ended, "Prod session ended: the gate closed the held session");
  await assert.rejects(
    () => t.tokens.token(),
    (e) =>
      e instanceof HttpError && e.status === 401 && /gate closed the held session/.test(e.message),
  );
  assert.equal(t.fetches(), 0, "ending never asks the gate");
});

Deno.test("a refresh that completes after the session ended is not served", async () => {
  const t = setup();
  t.clock.advance(3300_000);
  t.holdFetch();
  const pending = t.tokens.token();
  await new Promise((r) => setTimeout(r, 0));
  t.tokens.end("revoked");
  t.releaseFetch();
  await assert.rejects(() => pending, (e) => e instanceof HttpError && e.status === 401);
});
