import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.ts";
import { TokenStore } from "../../src/emulator/token_store.ts";

const FIELDS = {
  principal: "engineer@example.com",
  subject: "1",
  clientId: "client",
  scopes: ["s"],
  source: "refresh_token" as const,
};

Deno.test("tokens are opaque ya29 strings, unique, and live until their expiry", () => {
  const clock = new ManualClock();
  const store = new TokenStore(clock);
  const a = store.issue(FIELDS, 60);
  const b = store.issue(FIELDS, 60);
  assert.match(a.token, /^ya29\.[A-Za-z0-9_-]{100,}$/);
  assert.notEqual(a.token, b.token);
  assert.equal(a.record.expiresAt, clock.now() + 60_000);
  clock.advance(59_999);
  assert.equal(store.lookup(a.token)?.principal, "engineer@example.com");
  clock.advance(1);
  assert.equal(store.lookup(a.token), undefined, "expired exactly at expiresAt");
  assert.equal(store.size, 0);
  assert.equal(store.lookup("ya29.unknown"), undefined);
});

Deno.test("records are copies: changing the caller's scope array changes nothing", () => {
  const store = new TokenStore(new ManualClock());
  const scopes = ["a"];
  const { token } = store.issue({ ...FIELDS, scopes }, 60);
  scopes.push("b");
  assert.deepEqual(store.lookup(token)?.scopes, ["a"]);
});

Deno.test("revokeWhere drops only the matching tokens", () => {
  const store = new TokenStore(new ManualClock());
  const user = store.issue(FIELDS, 60).token;
  const sa = store.issue({ ...FIELDS, source: "iamcredentials" }, 60).token;
  assert.equal(store.revokeWhere((r) => r.source === "refresh_token"), 1);
  assert.equal(store.lookup(user), undefined);
  assert.ok(store.lookup(sa));
});
