import assert from "node:assert/strict";
import {
  AcquisitionGuard,
  KILL_GRACE_MS,
  signalExitCode,
  type SignalSource,
  superviseChild,
} from "../../src/with_prod/signals.ts";
import { FakeTimers, flush } from "../gate/confirm/fake_timers.ts";

class FakeSignals implements SignalSource {
  readonly handlers = new Map<Deno.Signal, Set<() => void>>();
  add(s: Deno.Signal, h: () => void) {
    if (!this.handlers.has(s)) this.handlers.set(s, new Set());
    this.handlers.get(s)!.add(h);
  }
  remove(s: Deno.Signal, h: () => void) {
    this.handlers.get(s)?.delete(h);
  }
  send(s: Deno.Signal) {
    for (const h of [...(this.handlers.get(s) ?? [])]) h();
  }
  get count() {
    return [...this.handlers.values()].reduce((n, s) => n + s.size, 0);
  }
}

function fakeChild() {
  const kills: Deno.Signal[] = [];
  let exit!: (code: number) => void;
  const status = new Promise<Deno.CommandStatus>((r) =>
    exit = (code) => r({ success: code === 0, code, signal: null })
  );
  return { kills, exit, child: { kill: (s: Deno.Signal) => kills.push(s), status } };
}

Deno.test("before the child starts, the first signal aborts and is remembered", () => {
  const src = new FakeSignals();
  const guard = new AcquisitionGuard(src);
  src.send("SIGTERM");
  src.send("SIGINT");
  assert.equal(guard.signal.aborted, true);
  assert.equal(guard.received, "SIGTERM");
  assert.equal(signalExitCode("SIGTERM"), 143);
  assert.equal(signalExitCode("SIGINT"), 130);
  guard.dispose();
  assert.equal(src.count, 0);
});

Deno.test("after: the first signal is forwarded, SIGKILL follows after 5 s", async () => {
  const src = new FakeSignals();
  const timers = new FakeTimers();
  const f = fakeChild();
  const code = superviseChild(f.child, src, timers);
  src.send("SIGINT");
  assert.deepEqual(f.kills, ["SIGINT"]);
  await timers.advance(KILL_GRACE_MS - 1);
  assert.deepEqual(f.kills, ["SIGINT"]);
  await timers.advance(1);
  assert.deepEqual(f.kills, ["SIGINT", "SIGKILL"]);
  f.exit(137);
  assert.equal(await code, 137);
  assert.equal(src.count, 0);
});

Deno.test("a second signal skips the grace", async () => {
  const src = new FakeSignals();
  const timers = new FakeTimers();
  const f = fakeChild();
  const code = superviseChild(f.child, src, timers);
  src.send("SIGTERM");
  src.send("SIGINT");
  assert.deepEqual(f.kills, ["SIGTERM", "SIGKILL"]);
  assert.equal(timers.armed, 0);
  f.exit(137);
  assert.equal(await code, 137);
});

Deno.test("a child that exits in the grace cancels the SIGKILL", async () => {
  const src = new FakeSignals();
  const timers = new FakeTimers();
  const f = fakeChild();
  const code = superviseChild(f.child, src, timers);
  src.send("SIGTERM");
  f.exit(42);
  assert.equal(await code, 42);
  await flush();
  assert.equal(timers.armed, 0);
});
