import assert from "node:assert/strict";
import { HttpError } from "../../src/errors.ts";
import { describeCommand } from "../../src/gate/command_display.ts";
import {
  newPendingId,
  PENDING_ID,
  PendingQueue,
  REMEMBERED_OUTCOMES,
} from "../../src/gate/pending.ts";
import { describeRequester } from "../../src/gate/requester.ts";
import { FakeTimers, flush } from "./confirm/fake_timers.ts";

function setup() {
  const timers = new FakeTimers();
  const lines: string[] = [];
  const queue = new PendingQueue({ clock: timers.clock, timers, log: (l) => lines.push(l) });
  return { timers, lines, queue };
}

Deno.test("approve resolves the request and removes it", async () => {
  const { queue, lines } = setup();
  const command = describeCommand(["gcloud", "projects", "list"]);
  const { id, outcome } = queue.enqueue({ email: "me@example.com", command });
  assert.match(id, PENDING_ID);
  assert.equal(queue.list().length, 1);
  const json = queue.get(id)!;
  assert.equal(json.email, "me@example.com");
  assert.deepEqual(json.command, command);
  assert.equal(json.createdAt, "2026-01-01T00:00:00.000Z");
  assert.equal(json.expiresAt, "2026-01-01T00:02:00.000Z");
  assert.equal(
    lines[0],
    `gate: pending approval ${id} — me@example.com (gcloud projects list) — expires in 120s`,
  );
  assert.match(lines[1], new RegExp(`authcalator pending ${id}.*authcalator approve ${id}`));
  assert.equal(queue.approve(id), true);
  assert.equal(await outcome, "approved");
  assert.equal(queue.approve(id), false);
  assert.equal(queue.get(id), undefined);
});

Deno.test("deny resolves as denied", async () => {
  const { queue } = setup();
  const { id, outcome } = queue.enqueue({ email: "e@x.com" });
  assert.equal(queue.deny(id), true);
  assert.equal(await outcome, "denied");
});

Deno.test("a request is auto-denied at 120 s and cannot be approved after", async () => {
  const { queue, timers, lines } = setup();
  const { id, outcome } = queue.enqueue({ email: "e@x.com" });
  let settled = false;
  outcome.then(() => settled = true);
  await timers.advance(119_999);
  assert.equal(settled, false);
  assert.ok(queue.get(id));
  await timers.advance(1);
  assert.equal(await outcome, "expired");
  assert.equal(queue.approve(id), false);
  assert.equal(timers.armed, 0);
  assert.match(lines.at(-1)!, /expired; prod access denied/);
});

Deno.test("expiry is checked against the clock even if the timer is late", async () => {
  const { queue, timers } = setup();
  const { id, outcome } = queue.enqueue({ email: "e@x.com" });
  timers.clock.advance(120_000); // clock moves, timer has not fired yet
  assert.equal(queue.approve(id), false);
  assert.equal(await outcome, "expired");
});

Deno.test("the client's X-Pending-Id is used; malformed is 400, duplicate is 409", () => {
  const { queue } = setup();
  const id = newPendingId();
  assert.equal(queue.enqueue({ email: "e", id }).id, id);
  assert.throws(() => queue.enqueue({ email: "e", id }), (e: unknown) => {
    return e instanceof HttpError && e.status === 409;
  });
  for (const bad of ["ABCDEF" + "0".repeat(26), "0".repeat(31), "g".repeat(32), ""]) {
    assert.throws(() => queue.enqueue({ email: "e", id: bad }), (e: unknown) => {
      return e instanceof HttpError && e.status === 400;
    });
  }
  assert.equal(queue.size, 1);
});

Deno.test("a client that goes away cancels its queued request", async () => {
  const { queue, timers } = setup();
  const controller = new AbortController();
  const { id, outcome } = queue.enqueue({ email: "e", signal: controller.signal });
  controller.abort();
  assert.equal(await outcome, "cancelled");
  assert.equal(queue.get(id), undefined);
  assert.equal(timers.armed, 0);
});

Deno.test("denyAll denies everything (shutdown)", async () => {
  const { queue } = setup();
  const a = queue.enqueue({ email: "a" });
  const b = queue.enqueue({ email: "b" });
  queue.denyAll();
  assert.deepEqual(await Promise.all([a.outcome, b.outcome]), ["shutdown", "shutdown"]);
  assert.equal(queue.list().length, 0);
});

Deno.test("email and PAM policy are sanitised before display", async () => {
  const { queue, lines } = setup();
  const { id } = queue.enqueue({ email: "a\u001b[2Jb@x.com", pamPolicy: "p\u202Eq" });
  const json = queue.get(id)!;
  assert.equal(json.email, "a\u241B[2Jb@x.com");
  assert.equal(json.pamPolicy, "p\uFFFDq");
  assert.ok(!lines[0].includes("\u001b"));
  queue.denyAll();
  await flush();
});

Deno.test("the queue remembers how recent requests ended, boundedly", async () => {
  const { queue, timers } = setup();
  const controller = new AbortController();
  const gone = queue.enqueue({ email: "e@x.com", signal: controller.signal });
  controller.abort();
  assert.equal(await gone.outcome, "cancelled");
  assert.equal(queue.get(gone.id), undefined, "removed at once");
  assert.equal(queue.approve(gone.id), false, "never approvable");
  assert.equal(queue.outcomeOf(gone.id), "cancelled");
  const late = queue.enqueue({ email: "e@x.com" });
  await timers.advance(120_000);
  assert.equal(queue.outcomeOf(late.id), "expired");
  const ok = queue.enqueue({ email: "e@x.com" });
  queue.approve(ok.id);
  assert.equal(queue.outcomeOf(ok.id), "approved");
  assert.equal(queue.outcomeOf(newPendingId()), undefined);
  for (let i = 0; i < REMEMBERED_OUTCOMES; i++) queue.deny(queue.enqueue({ email: "e" }).id);
  assert.equal(queue.outcomeOf(gone.id), undefined, "the oldest are forgotten");
  assert.equal(queue.outcomeOf(ok.id), undefined);
});

Deno.test("the pairing code and the requester are shown and logged", () => {
  const { queue, lines } = setup();
  const requester = describeRequester(
    { verified: true, uid: 1000, pid: 9, exe: "/usr/bin/python3", argv: ["python3", "x.py"] },
    ["gcloud", "info"],
  );
  const { id } = queue.enqueue({ email: "e@x.com", pairingCode: "K7Q-2MX", requester });
  assert.equal(queue.get(id)!.pairingCode, "K7Q-2MX");
  assert.equal(queue.get(id)!.requester!.pid, 9);
  assert.equal(
    lines[0],
    `gate: pending approval ${id} [code K7Q-2MX] — e@x.com — from uid 1000, pid 9, ` +
      "/usr/bin/python3 — COMMAND MISMATCH — expires in 120s",
  );
});
