/** The bounded token cache: LRU eviction, recency on hits, bounded fetches, bad options. */
import assert from "node:assert/strict";
import { ManualClock } from "../src/clock.ts";
import { HttpError } from "../src/errors.ts";
import { DEFAULT_MAX_TOKEN_ENTRIES, type ExpiringToken, TokenCache } from "../src/token_cache.ts";

const HOUR = 3600_000;

function minted(clock: ManualClock, name: string): () => Promise<ExpiringToken> {
  return () => Promise.resolve({ accessToken: `ya29.${name}`, expiresAt: clock.now() + HOUR });
}

/** Whether `key` is cached (a get that would have to fetch answers "fetched"). */
async function cached(cache: TokenCache, clock: ManualClock, key: string): Promise<boolean> {
  let fetched = false;
  await cache.get(key, () => {
    fetched = true;
    return minted(clock, key)();
  });
  return !fetched;
}

Deno.test("defect 7: 3,000 distinct scope sets leave the cache at its default bound", async () => {
  const clock = new ManualClock();
  const cache = new TokenCache(clock);
  for (let i = 0; i < 3000; i++) {
    const key = `https://www.googleapis.com/auth/scope-${i}`;
    await cache.get(key, minted(clock, key));
    assert.ok(cache.size <= DEFAULT_MAX_TOKEN_ENTRIES);
  }
  assert.equal(cache.size, DEFAULT_MAX_TOKEN_ENTRIES);
  assert.equal(cache.fetching, 0);
  // The newest are kept, the oldest were evicted.
  assert.ok(cache.fresh("https://www.googleapis.com/auth/scope-2999"));
  assert.equal(cache.fresh("https://www.googleapis.com/auth/scope-0"), undefined);
});

Deno.test("an explicit bound holds, and the least recently stored key goes first", async () => {
  const clock = new ManualClock();
  const cache = new TokenCache(clock, { maxEntries: 3 });
  for (const key of ["a", "b", "c", "d"]) await cache.get(key, minted(clock, key));
  assert.equal(cache.size, 3);
  assert.equal(cache.peek("a"), undefined);
  for (const key of ["b", "c", "d"]) assert.ok(cache.peek(key), key);
});

Deno.test("a hit refreshes recency: get, fresh and peek each count as a use", async () => {
  for (const use of ["get", "fresh", "peek"] as const) {
    const clock = new ManualClock();
    const cache = new TokenCache(clock, { maxEntries: 3 });
    for (const key of ["a", "b", "c"]) await cache.get(key, minted(clock, key));
    if (use === "get") assert.ok(await cached(cache, clock, "a"));
    else assert.ok(cache[use]("a"));
    await cache.get("d", minted(clock, "d")); // evicts b, the least recently used now
    assert.equal(cache.size, 3);
    assert.ok(cache.peek("a"), `${use}: a was used and must stay`);
    assert.equal(cache.peek("b"), undefined, `${use}: b is the oldest and goes`);
    assert.ok(cache.peek("c") && cache.peek("d"), use);
  }
});

Deno.test("LRU order follows every use, including repeated hits on the newest key", async () => {
  const clock = new ManualClock();
  const cache = new TokenCache(clock, { maxEntries: 2 });
  await cache.get("a", minted(clock, "a"));
  await cache.get("b", minted(clock, "b"));
  assert.ok(cache.fresh("a"));
  assert.ok(cache.fresh("a")); // already the newest: order unchanged
  assert.ok(cache.fresh("b"));
  await cache.get("c", minted(clock, "c")); // a is now the oldest
  assert.equal(cache.peek("a"), undefined);
  assert.ok(cache.peek("b") && cache.peek("c"));
  cache.clear();
  assert.equal(cache.size, 0);
  await cache.get("a", minted(clock, "a2"));
  assert.equal(cache.fresh("a")?.accessToken, "ya29.a2");
});

Deno.test("distinct keys being fetched at once are bounded: past it a clear 503, no fetch", async () => {
  const clock = new ManualClock();
  const cache = new TokenCache(clock, { maxFetches: 2 });
  const releases: (() => void)[] = [];
  let fetches = 0;
  const slow = (name: string) => () => {
    fetches++;
    return new Promise<ExpiringToken>((resolve) =>
      releases.push(() => resolve({ accessToken: name, expiresAt: clock.now() + HOUR }))
    );
  };
  const a = cache.get("a", slow("a"));
  const a2 = cache.get("a", slow("a-again")); // joins a's fetch: not a second slot
  const b = cache.get("b", slow("b"));
  assert.equal(cache.fetching, 2);
  await assert.rejects(cache.get("c", slow("c")), (err) => {
    assert.ok(err instanceof HttpError);
    assert.equal(err.status, 503);
    assert.match(err.message, /too many different tokens are being fetched at once \(2\)/);
    return true;
  });
  assert.equal(fetches, 2);
  for (const release of releases) release();
  assert.equal((await a).accessToken, "a");
  assert.equal((await a2).accessToken, "a");
  assert.equal((await b).accessToken, "b");
  assert.equal(cache.fetching, 0);
  assert.equal((await cache.get("c", minted(clock, "c"))).accessToken, "ya29.c");
});

Deno.test("a failed fetch frees its slot and caches nothing", async () => {
  const clock = new ManualClock();
  const cache = new TokenCache(clock, { maxFetches: 1 });
  await assert.rejects(cache.get("a", () => Promise.reject(new Error("boom"))), /boom/);
  assert.equal(cache.fetching, 0);
  assert.equal(cache.size, 0);
  assert.equal((await cache.get("a", minted(clock, "a"))).accessToken, "ya29.a");
});

Deno.test("a slow fetch keeps its token until its refresh margin before its own expiry", async () => {
  const clock = new ManualClock();
  const cache = new TokenCache(clock);
  // The fetch takes 50 min of (fake) time and returns a token valid 60 min from its arrival.
  await cache.get("a", () => {
    clock.advance(50 * 60_000);
    return Promise.resolve({ accessToken: "late", expiresAt: clock.now() + HOUR });
  });
  clock.advance(50 * 60_000);
  assert.ok(cache.fresh("a"), "10 min before expiry: still before the 5-min refresh margin");
  clock.advance(6 * 60_000);
  assert.equal(cache.fresh("a"), undefined);
});

Deno.test("bad bounds are refused with a clear error", () => {
  const clock = new ManualClock();
  for (const bad of [0, -1, 1.5, Number.NaN, Infinity]) {
    assert.throws(
      () => new TokenCache(clock, { maxEntries: bad }),
      (err) =>
        err instanceof RangeError && /maxEntries must be a positive integer/.test(err.message),
    );
    assert.throws(
      () => new TokenCache(clock, { maxFetches: bad }),
      /maxFetches must be a positive integer/,
    );
  }
});
