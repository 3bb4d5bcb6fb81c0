import assert from "node:assert/strict";
import { bareEtag, ChangeFeed, ChangeWaits, etagOf } from "../../src/metadata/change_wait.ts";
import { HttpError } from "../../src/errors.ts";
import { ManualScheduler } from "./fakes.ts";

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

Deno.test("etagOf: 16 lowercase hex, stable, value-sensitive", () => {
  assert.match(etagOf("demo-project"), /^[0-9a-f]{16}$/);
  assert.equal(etagOf("a"), etagOf("a"));
  assert.notEqual(etagOf("a"), etagOf("b"));
  // md5("") = d41d8cd98f00b204e9800998ecf8427e; GCE-style ETags keep the last 16 characters.
  assert.equal(etagOf(""), "cbf29ce484222325"); // FNV-1a 64 offset basis
  assert.equal(etagOf("a"), "af63dc4c8601ec8c"); // published FNV-1a 64 test vector
});

Deno.test("bareEtag undoes quoting and weakening", () => {
  assert.equal(bareEtag('W/"0123456789abcdef"'), "0123456789abcdef");
  assert.equal(bareEtag('"0123456789abcdef"'), "0123456789abcdef");
  assert.equal(bareEtag("0123456789abcdef"), "0123456789abcdef");
});

function setup(max?: number) {
  const feed = new ChangeFeed();
  const scheduler = new ManualScheduler();
  const waits = new ChangeWaits({ feed, scheduler, maxWaiters: max });
  let etag = "aaaaaaaaaaaaaaaa";
  return {
    feed,
    scheduler,
    waits,
    set: (e: string) => {
      etag = e;
      feed.notify();
    },
    current: () => Promise.resolve(etag),
  };
}

Deno.test("a stale last_etag (quoted or not) returns at once without waiting", async () => {
  const s = setup();
  await s.waits.wait({ lastEtag: "NONE", timeoutMs: 60_000, current: s.current });
  await s.waits.wait({ lastEtag: '"bbbbbbbbbbbbbbbb"', timeoutMs: 60_000, current: s.current });
  assert.equal(s.scheduler.pending, 0);
  assert.equal(s.waits.active, 0);
});

Deno.test("a matching weak ETag waits like the bare one", async () => {
  const s = setup();
  let done = false;
  const p = s.waits.wait({ lastEtag: 'W/"aaaaaaaaaaaaaaaa"', timeoutMs: 1000, current: s.current })
    .then(() => (done = true));
  await settle();
  assert.equal(done, false);
  s.set("cccccccccccccccc");
  await p;
  assert.equal(s.waits.active, 0);
});

Deno.test("without last_etag the wait lasts until the next change", async () => {
  const s = setup();
  let done = false;
  const p = s.waits.wait({ timeoutMs: 60_000, current: s.current }).then(() => (done = true));
  await settle();
  s.feed.notify(); // nothing moved
  await settle();
  assert.equal(done, false);
  s.set("dddddddddddddddd");
  await p;
  assert.equal(s.scheduler.pending, 0);
});

Deno.test("a client going away releases its waiter and its timer", async () => {
  const s = setup();
  const client = new AbortController();
  const p = s.waits.wait({ timeoutMs: 60_000, current: s.current, signal: client.signal });
  await settle();
  assert.equal(s.waits.active, 1);
  client.abort();
  await p;
  assert.equal(s.waits.active, 0);
  assert.equal(s.scheduler.pending, 0);
});

Deno.test("an already-aborted request and timeout 0 do not wait", async () => {
  const s = setup();
  await s.waits.wait({ timeoutMs: 60_000, current: s.current, signal: AbortSignal.abort() });
  await s.waits.wait({ timeoutMs: 0, current: s.current });
  assert.equal(s.scheduler.pending, 0);
});

Deno.test("a value that fails to compute after a change ends the wait (the caller answers the error)", async () => {
  const s = setup();
  let fail = false;
  const p = s.waits.wait({
    timeoutMs: 60_000,
    current: () => fail ? Promise.reject(new Error("gate down")) : s.current(),
  });
  await settle();
  fail = true;
  s.feed.notify();
  await p;
  assert.equal(s.waits.active, 0);
});

Deno.test("the cap refuses with 429 and frees the slot afterwards", async () => {
  const s = setup(1);
  const p = s.waits.wait({ timeoutMs: 5, current: s.current });
  await settle();
  await assert.rejects(
    s.waits.wait({ timeoutMs: 5, current: s.current }),
    (e) => e instanceof HttpError && e.status === 429,
  );
  s.scheduler.advance(5);
  await p;
  const q = s.waits.wait({ timeoutMs: 5, current: s.current });
  await settle();
  assert.equal(s.waits.active, 1);
  s.scheduler.advance(5);
  await q;
});
