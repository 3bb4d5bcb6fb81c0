import assert from "node:assert/strict";
import { SessionTokens } from "../../src/with_prod/session_tokens.ts";
import type { ExpiringToken } from "../../src/token_cache.ts";
import { FakeTimers } from "../gate/confirm/fake_timers.ts";

function setup(options: { failWrites?: boolean } = {}) {
  const timers = new FakeTimers();
  const clock = timers.clock;
  const written: string[] = [];
  const logs: string[] = [];
  let n = 0;
  let failWrites = options.failWrites ?? false;
  const tokens = new SessionTokens({
    initial: { accessToken: "ya29.t0", expiresAt: clock.now() + 3600_000 },
    fetch: () =>
      Promise.resolve({ accessToken: `ya29.t${++n}`, expiresAt: clock.now() + 3600_000 }),
    persist: (t: ExpiringToken) => {
      if (failWrites) return Promise.reject(new Error("disk full"));
      written.push(t.accessToken);
      return Promise.resolve();
    },
    clock,
    timers,
    log: (l) => logs.push(l),
  });
  return { timers, clock, tokens, written, logs, setFail: (v: boolean) => failWrites = v };
}

Deno.test("the initial token is served until its refresh point", async () => {
  const t = setup();
  assert.equal((await t.tokens.token()).accessToken, "ya29.t0");
  t.clock.advance(3300_000 - 1);
  assert.equal((await t.tokens.token()).accessToken, "ya29.t0");
  t.tokens.stop();
});

Deno.test("the background timer refreshes the file ahead of expiry", async () => {
  const t = setup();
  await t.timers.advance(3300_000);
  assert.deepEqual(t.written, ["ya29.t1"]);
  assert.equal((await t.tokens.token()).accessToken, "ya29.t1");
  await t.timers.advance(3300_000);
  assert.deepEqual(t.written, ["ya29.t1", "ya29.t2"]);
  t.tokens.stop();
  await t.timers.advance(3600_000);
  assert.deepEqual(t.written, ["ya29.t1", "ya29.t2"]);
});

Deno.test("a failed file write is not committed; the next call retries both", async () => {
  const t = setup({ failWrites: true });
  t.clock.advance(3300_000);
  await assert.rejects(() => t.tokens.token(), /disk full/);
  t.setFail(false);
  assert.equal((await t.tokens.token()).accessToken, "ya29.t2");
  assert.deepEqual(t.written, ["ya29.t2"]);
  t.tokens.stop();
});

Deno.test("a failed background refresh is logged and retried", async () => {
  const t = setup({ failWrites: true });
  await t.timers.advance(3300_000);
  assert.match(t.logs[0], /background token refresh failed: disk full/);
  t.setFail(false);
  await t.timers.advance(30_000);
  assert.equal(t.written.length, 1);
  t.tokens.stop();
});
