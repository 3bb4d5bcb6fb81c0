/**
 * The gate's Google transport (src/google/transport.ts) on its edges, with injected fetches:
 * one retry only before any answer and only for a replayable body, abort and deadline reasons,
 * bodyless statuses, and gaxios' own retries off (against the real emulator).
 */
import assert from "node:assert/strict";
import { GoogleTransport, TransportAbortedError } from "../../src/google/transport.ts";
import { DeadlineError } from "../../src/http/deadline_fetch.ts";
import { GoogleAnswerError } from "../../src/google/google_answers.ts";
import { startEmulator } from "../../src/emulator/mod.ts";

const now = () => Date.now();

/** A fetch that fails with a connection error `failures` times, then answers `answer()`. */
function flaky(failures: number, answer = () => new Response("{}", { status: 200 })) {
  let calls = 0;
  const fetchFn = ((_input: unknown, _init?: RequestInit) => {
    calls++;
    if (calls <= failures) return Promise.reject(new TypeError("connection reset"));
    return Promise.resolve(answer());
  }) as typeof fetch;
  return { fetchFn, calls: () => calls };
}

Deno.test("one retry after a connection failure, none after a second, none for a stream body", async () => {
  const once = flaky(1);
  const t1 = new GoogleTransport({ timeoutMs: 1_000, now, fetchFn: once.fetchFn });
  assert.equal((await t1.fetch("http://x/", { method: "POST", body: "a=b" })).status, 200);
  assert.equal(once.calls(), 2);

  const twice = flaky(2);
  const t2 = new GoogleTransport({ timeoutMs: 1_000, now, fetchFn: twice.fetchFn });
  await assert.rejects(t2.fetch("http://x/", { method: "POST", body: "a=b" }), TypeError);
  assert.equal(twice.calls(), 2);

  const stream = flaky(1);
  const t3 = new GoogleTransport({ timeoutMs: 1_000, now, fetchFn: stream.fetchFn });
  const body = new ReadableStream({ start: (c) => c.close() });
  await assert.rejects(t3.fetch("http://x/", { method: "POST", body }), TypeError);
  assert.equal(stream.calls(), 1, "a stream cannot be sent twice");
});

Deno.test("a body that fails after the headers is not retried", async () => {
  let calls = 0;
  const fetchFn = (() => {
    calls++;
    const body = new ReadableStream({ pull: (c) => c.error(new TypeError("body cut")) });
    return Promise.resolve(new Response(body, { status: 200 }));
  }) as typeof fetch;
  const t = new GoogleTransport({ timeoutMs: 1_000, now, fetchFn });
  await assert.rejects(t.fetch("http://x/"), TypeError);
  assert.equal(calls, 1);
});

Deno.test("abort() cancels exchanges in flight and later ones with its reason", async () => {
  const hanging = ((_input: unknown, init?: RequestInit) =>
    new Promise<Response>((_, reject) => {
      init?.signal?.addEventListener("abort", () => reject(init.signal!.reason), { once: true });
    })) as typeof fetch;
  const t = new GoogleTransport({ timeoutMs: 10_000, now, fetchFn: hanging });
  const inFlight = t.fetch("http://x/");
  t.abort();
  await assert.rejects(inFlight, TransportAbortedError);
  await assert.rejects(t.fetch("http://x/"), TransportAbortedError);
  assert.equal(t.signal.aborted, true);
});

Deno.test("the per-exchange deadline rejects with DeadlineError and covers the body", async () => {
  const headersOnly = ((_input: unknown, init?: RequestInit) => {
    const body = new ReadableStream({
      start(c) {
        c.enqueue(new Uint8Array([123]));
        init?.signal?.addEventListener("abort", () => c.error(init.signal!.reason), {
          once: true,
        });
      },
    });
    return Promise.resolve(new Response(body, { status: 200 }));
  }) as typeof fetch;
  const t = new GoogleTransport({ timeoutMs: 100, now, fetchFn: headersOnly });
  await assert.rejects(t.fetch("http://x/"), DeadlineError);
});

Deno.test("bodyless statuses are answered without a body", async () => {
  const fetchFn = (() => Promise.resolve(new Response(null, { status: 204 }))) as typeof fetch;
  const t = new GoogleTransport({ timeoutMs: 1_000, now, fetchFn });
  const res = await t.fetch("http://x/");
  assert.equal(res.status, 204);
  assert.equal(res.body, null);
});

Deno.test("gaxios' own retries are off: a 503 is one call to Google", async () => {
  await using emu = await startEmulator();
  emu.faults.failNext("certs", 3, 503);
  const t = new GoogleTransport({ timeoutMs: 2_000, now });
  await assert.rejects(
    t.gaxios.request({ url: `${emu.baseUrl}/oauth2/v3/certs`, retry: true }),
    (e: Error & { status?: number }) => e.status === 503,
  );
  assert.equal(emu.calls("certs"), 1);
});

Deno.test("an answer larger than 1 MiB is refused, not buffered", async () => {
  let pulled = 0;
  const fetchFn = (() => {
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled++;
        c.enqueue(new Uint8Array(64 * 1024));
      },
    });
    return Promise.resolve(new Response(body, { status: 200 }));
  }) as typeof fetch;
  const t = new GoogleTransport({ timeoutMs: 5_000, now, fetchFn });
  await assert.rejects(
    t.fetch("http://x/"),
    (e: Error) => e instanceof GoogleAnswerError && /larger than 1048576 bytes/.test(e.message),
  );
  assert.ok(pulled <= 20, `read ${pulled} chunks`);
});
