import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.ts";
import { type Acquisition, MAX_CONCURRENT, RateLimiter } from "../../src/gate/rate_limit.ts";

function slotOf(a: Acquisition) {
  assert.ok(a.ok, a.ok ? "" : a.reason);
  return a.slot;
}

Deno.test("one confirmation at a time per requester; the slot frees as soon as it is released", () => {
  const limiter = new RateLimiter(new ManualClock());
  const slot = slotOf(limiter.acquire());
  assert.deepEqual(limiter.acquire(), {
    ok: false,
    reason: "A prod confirmation from an unverified requester is already pending",
  });
  slot.release("granted");
  slotOf(limiter.acquire());
});

Deno.test("slots are per requester: one process cannot hold another's (defect 7.2)", () => {
  const limiter = new RateLimiter(new ManualClock());
  const attacker = slotOf(limiter.acquire("pid:666"));
  assert.deepEqual(limiter.acquire("pid:666"), {
    ok: false,
    reason: "A prod confirmation from this process is already pending",
  });
  const engineer = slotOf(limiter.acquire("pid:4242"));
  assert.equal(limiter.outstanding, 2);
  engineer.release("granted");
  attacker.release("error");
  assert.equal(limiter.busy, false);
});

Deno.test(`at most ${MAX_CONCURRENT} confirmations are outstanding across requesters`, () => {
  const limiter = new RateLimiter(new ManualClock());
  const slots = Array.from(
    { length: MAX_CONCURRENT },
    (_, i) => slotOf(limiter.acquire(`pid:${i}`)),
  );
  assert.deepEqual(limiter.acquire("pid:99"), {
    ok: false,
    reason: `Too many prod confirmations pending (max ${MAX_CONCURRENT}); ` +
      "see 'authcalator pending' on the host",
  });
  slots[0].release("granted");
  slotOf(limiter.acquire("pid:99"));
});

Deno.test("a denial starts a 1 s cooldown; granted and error do not", () => {
  const clock = new ManualClock();
  const limiter = new RateLimiter(clock);
  slotOf(limiter.acquire()).release("denied");
  assert.deepEqual(limiter.acquire(), {
    ok: false,
    reason: "Prod access denied recently; retry in 1s",
  });
  clock.advance(999);
  assert.equal(limiter.acquire().ok, false);
  clock.advance(1);
  slotOf(limiter.acquire()).release("error");
  slotOf(limiter.acquire()).release("granted");
  slotOf(limiter.acquire()).release("granted");
});

Deno.test("releasing twice cannot free a later holder's slot or extend a cooldown", () => {
  const clock = new ManualClock();
  const limiter = new RateLimiter(clock);
  const first = slotOf(limiter.acquire());
  first.release("granted");
  const second = slotOf(limiter.acquire());
  first.release("denied");
  assert.equal(limiter.busy, true);
  second.release("granted");
  slotOf(limiter.acquire()).release("granted");
});

Deno.test("the 21st acquisition within a sliding minute is refused, counting every outcome", () => {
  const clock = new ManualClock();
  const limiter = new RateLimiter(clock);
  const outcomes = ["granted", "error"] as const;
  for (let i = 0; i < 20; i++) {
    slotOf(limiter.acquire()).release(outcomes[i % 2]);
    clock.advance(1000);
  }
  // t = 20 s: 20 attempts in the last minute.
  assert.deepEqual(limiter.acquire(), {
    ok: false,
    reason: "Rate limit exceeded: max 20 prod attempts per 1 minutes",
  });
  clock.advance(39_999); // t = 59.999 s: the first attempt (t = 0) is still inside the window
  assert.equal(limiter.acquire().ok, false);
  clock.advance(1); // t = 60 s: it falls out
  slotOf(limiter.acquire()).release("granted");
  assert.equal(limiter.acquire().ok, false);
});

Deno.test("check order: single-flight before cooldown before window", () => {
  const clock = new ManualClock();
  const limiter = new RateLimiter(clock);
  for (let i = 0; i < 19; i++) slotOf(limiter.acquire()).release("granted");
  slotOf(limiter.acquire()).release("denied");
  const r = limiter.acquire();
  assert.ok(!r.ok && r.reason.startsWith("Prod access denied recently"));
  clock.advance(1000);
  const w = limiter.acquire();
  assert.ok(!w.ok && w.reason.startsWith("Rate limit exceeded"));
});
