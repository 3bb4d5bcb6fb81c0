/** The bounded body read every prod request goes through before it is queued. */
import assert from "node:assert/strict";
import { BodyError, readBoundedBody } from "../../src/gate/request_body.ts";
import { FakeTimers } from "./confirm/fake_timers.ts";

function streamOf(chunks: string[], then: "close" | "hang" | "error") {
  const encoder = new TextEncoder();
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (const chunk of chunks) c.enqueue(encoder.encode(chunk));
      if (then === "close") c.close();
      if (then === "error") c.error(new Error("connection reset"));
    },
    cancel() {
      cancelled = true;
    },
  });
  return { body, cancelled: () => cancelled };
}

const request = (body: ReadableStream<Uint8Array> | null, headers: Record<string, string> = {}) =>
  new Request("http://gate/session", { method: "POST", body, headers });

Deno.test("a whole small body is read; no body is empty", async () => {
  const timers = new FakeTimers();
  const s = streamOf(["a", "bc"], "close");
  assert.equal(new TextDecoder().decode(await readBoundedBody(request(s.body), { timers })), "abc");
  assert.equal((await readBoundedBody(request(null), { timers })).byteLength, 0);
  assert.equal(timers.armed, 0, "the deadline is cancelled once the body is in");
});

Deno.test("too large, declared or sent, is 413 and the read is cancelled", async () => {
  const timers = new FakeTimers();
  await assert.rejects(
    () => readBoundedBody(request(null, { "content-length": "4097" }), { timers }),
    (e: unknown) => e instanceof BodyError && e.status === 413 && e.kind === "large",
  );
  const s = streamOf(["x".repeat(3000), "y".repeat(3000)], "hang");
  await assert.rejects(
    () => readBoundedBody(request(s.body), { timers }),
    (e: unknown) =>
      e instanceof BodyError && e.status === 413 &&
      e.message === "Request body too large (max 4096 bytes)",
  );
  assert.equal(s.cancelled(), true);
  assert.equal(timers.armed, 0);
});

Deno.test("a body that stops arriving is cancelled at the deadline: 408", async () => {
  const timers = new FakeTimers();
  const s = streamOf(["abc"], "hang");
  const read = readBoundedBody(request(s.body), { timers, timeoutMs: 2000 });
  let settled = false;
  read.catch(() => settled = true);
  await timers.advance(1999);
  assert.equal(settled, false);
  await timers.advance(1);
  await assert.rejects(
    () => read,
    (e: unknown) =>
      e instanceof BodyError && e.status === 408 && e.kind === "slow" &&
      e.code === "request_body_incomplete",
  );
  assert.equal(s.cancelled(), true, "the read is cancelled, not merely raced");
});

Deno.test("a body that breaks off is the client gone", async () => {
  const timers = new FakeTimers();
  const s = streamOf(["abc"], "error");
  await assert.rejects(
    () => readBoundedBody(request(s.body), { timers }),
    (e: unknown) => e instanceof BodyError && e.kind === "gone",
  );
  assert.equal(timers.armed, 0);
});
