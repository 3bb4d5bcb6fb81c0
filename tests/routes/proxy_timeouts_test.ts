/**
 * The routes listener's waits, driven by manual timers: the answer head is bounded, a stream that
 * stalls is cut after the idle time (and one that keeps moving is not), and a client that leaves
 * mid-stream cancels the gate exchange, so the gate (and through it the upstream) stops.
 */
import assert from "node:assert/strict";
import { FakeTimers } from "../gate/confirm/fake_timers.ts";
import { RoutesProxyFixture } from "./proxy_fixture.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Resolves with `p`, or rejects after `ms` (every wait here is bounded). */
function within<T>(p: Promise<T>, ms = 5_000, what = "the wait"): Promise<T> {
  let id: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    id = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(id));
}

/** A promise with its resolver. */
function signal<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

Deno.test("no answer head within the bound is a 504, and the gate's request is aborted", async () => {
  const timers = new FakeTimers();
  const f = await RoutesProxyFixture.start({
    deps: { timers, clock: timers.clock, headTimeoutMs: 30_000 },
  });
  const arrived = signal();
  const aborted = signal();
  try {
    f.handler = (req) => {
      arrived.resolve();
      // Answers only once the listener gives up (so the fake gate can shut down).
      return new Promise<Response>((resolve) => {
        req.signal.addEventListener("abort", () => {
          aborted.resolve();
          resolve(new Response("too late"));
        }, { once: true });
      });
    };
    const pending = fetch(f.url("/openai/v1/chat/completions"), { method: "POST", body: "{}" });
    await within(arrived.promise, 5_000, "the request reaching the gate");
    await timers.advance(29_999);
    assert.equal(f.seen.length, 1);
    await timers.advance(1);
    const res = await within(pending, 5_000, "the 504");
    assert.equal(res.status, 504);
    assert.match(await res.text(), /sent no answer for route openai within 30 s/);
    await within(aborted.promise, 5_000, "the gate seeing the abort");
  } finally {
    await f.close();
  }
});

Deno.test("a response that stalls is cut after the idle time; one that moves is not", async () => {
  const timers = new FakeTimers();
  const f = await RoutesProxyFixture.start({
    deps: { timers, clock: timers.clock, idleTimeoutMs: 60_000 },
  });
  const cancelled = signal<unknown>();
  let push!: ReadableStreamDefaultController<Uint8Array>;
  try {
    f.handler = () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start: (c) => void (push = c),
          cancel: (reason) => cancelled.resolve(reason),
        }),
        { headers: { "content-type": "text/event-stream" } },
      );
    const res = await within(
      fetch(f.url("/anthropic/v1/messages"), { method: "POST", body: "{}" }),
    );
    const reader = res.body!.getReader();
    // Moving: a chunk every 50 s never trips a 60 s idle rule, however long the stream runs.
    for (let i = 0; i < 4; i++) {
      push.enqueue(enc.encode(`data: ${i}\n\n`));
      assert.equal(dec.decode((await within(reader.read())).value), `data: ${i}\n\n`);
      await timers.advance(50_000);
    }
    // Stalled: 60 s without a byte.
    await timers.advance(10_000);
    await assert.rejects(within(reader.read(), 5_000, "the cut"));
    await within(cancelled.promise, 5_000, "the gate's stream being cancelled");
    assert.equal(timers.armed, 0);
    assert.deepEqual(f.logs, ["route anthropic: the response body moved no bytes for 60 s; cut"]);
  } finally {
    await f.close();
  }
});

Deno.test("a client that leaves mid-stream cancels the gate exchange", async () => {
  const f = await RoutesProxyFixture.start();
  const cancelled = signal<unknown>();
  try {
    f.handler = () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start: (c) => c.enqueue(enc.encode("data: first\n\n")),
          cancel: (reason) => cancelled.resolve(reason),
        }),
        { headers: { "content-type": "text/event-stream" } },
      );
    const client = new AbortController();
    const res = await within(fetch(f.url("/anthropic/v1/messages"), { signal: client.signal }));
    const reader = res.body!.getReader();
    assert.equal(dec.decode((await within(reader.read())).value), "data: first\n\n");
    client.abort();
    await within(cancelled.promise, 5_000, "the gate's stream being cancelled");
  } finally {
    await f.close();
  }
});

Deno.test("an upload that stalls is cut after the idle time and the gate's read fails", async () => {
  const timers = new FakeTimers();
  const f = await RoutesProxyFixture.start({
    deps: { timers, clock: timers.clock, idleTimeoutMs: 60_000 },
  });
  const got = signal<string>();
  const failed = signal();
  try {
    f.handler = async (req) => {
      const reader = req.body!.getReader();
      got.resolve(dec.decode((await reader.read()).value));
      try {
        while (!(await reader.read()).done) { /* drain */ }
      } catch {
        failed.resolve();
      }
      return new Response("late");
    };
    let push!: ReadableStreamDefaultController<Uint8Array>;
    const upload = new ReadableStream<Uint8Array>({ start: (c) => void (push = c) });
    push.enqueue(enc.encode("part one"));
    const pending = fetch(f.url("/npm/-/v1/upload"), { method: "PUT", body: upload })
      .then(async (r) => ({ status: r.status, text: await r.text() }), (e) => e);
    assert.equal(await within(got.promise, 5_000, "the first part"), "part one");
    await timers.advance(60_000);
    await within(failed.promise, 5_000, "the gate seeing the upload fail");
    await within(pending, 5_000, "the client's answer");
    push.close();
  } finally {
    await f.close();
  }
});
