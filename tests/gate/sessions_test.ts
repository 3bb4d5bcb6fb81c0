import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.ts";
import { SESSION_ID, SessionStore } from "../../src/gate/sessions.ts";

const input = {
  email: "e@x.com",
  scopes: ["s"],
  tokenTtlSeconds: 600,
  sessionTtlSeconds: 300,
};

Deno.test("sessions validate until their TTL; the boundary is expired", async () => {
  const clock = new ManualClock();
  const store = new SessionStore(clock);
  const { id, session } = await store.create(input);
  assert.match(id, SESSION_ID);
  assert.equal(session.expiresAt - session.createdAt, 300_000);
  assert.deepEqual(await store.validate(id), session);
  clock.advance(299_999);
  assert.ok(await store.validate(id));
  clock.advance(1);
  assert.equal(await store.validate(id), undefined);
  assert.equal(store.size, 0);
});

Deno.test("ids are unique and unguessable; malformed ids never match", async () => {
  const store = new SessionStore(new ManualClock());
  const a = await store.create(input);
  const b = await store.create(input);
  assert.notEqual(a.id, b.id);
  for (const bad of ["", a.id.toUpperCase(), a.id.slice(1), a.id + "0"]) {
    assert.equal(await store.validate(bad), undefined);
  }
});

Deno.test("revoke removes one session; revoking twice or an unknown id is false", async () => {
  const store = new SessionStore(new ManualClock());
  const a = await store.create(input);
  const b = await store.create(input);
  assert.equal(await store.revoke(a.id), true);
  assert.equal(await store.revoke(a.id), false);
  assert.equal(await store.validate(a.id), undefined);
  assert.ok(await store.validate(b.id));
  assert.equal(await store.revoke("0".repeat(64)), false);
});

Deno.test("revokeAll ends every session; creation prunes expired ones", async () => {
  const clock = new ManualClock();
  const store = new SessionStore(clock);
  await store.create(input);
  clock.advance(300_000);
  const fresh = await store.create(input);
  assert.equal(store.size, 1);
  assert.equal(store.revokeAll(), 1);
  assert.equal(await store.validate(fresh.id), undefined);
});
