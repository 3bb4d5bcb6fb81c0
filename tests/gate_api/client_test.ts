/**
 * The one gate client over a scripted transport: the deadline covers head and body and cancels the
 * exchange, the caller's abort is its own, unreachable gates are named with the transport's fix,
 * `{error, code}` answers keep their status (and a plain Retry-After), malformed answers are 502s,
 * and a token answer is dated from its arrival.
 */
import assert from "node:assert/strict";
import { HttpError } from "../../src/errors.ts";
import { DeadlineError } from "../../src/http/deadline_fetch.ts";
import { GateApi, jsonObject, MAX_ANSWER_BYTES, tokenOf } from "../../src/gate_api/client.ts";
import {
  type GateRequest,
  type GateTransport,
  GateUnreachableError,
} from "../../src/gate_api/transport.ts";

/** A transport whose answers are scripted; it records each request and whether it was aborted. */
function scripted(answer: (req: GateRequest) => Promise<Response> | Response) {
  const seen: GateRequest[] = [];
  let closed = false;
  const transport: GateTransport = {
    where: "the gate at /test.sock",
    hint: "start the test gate",
    send(req) {
      seen.push(req);
      return Promise.resolve(answer(req));
    },
    close() {
      closed = true;
    },
  };
  return { transport, seen, closed: () => closed };
}

/** A body that sends `first` then never ends, until the request's signal aborts it. */
function stallingBody(signal: AbortSignal, first = "{") {
  return new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode(first));
      signal.addEventListener("abort", () => c.error(signal.reason), { once: true });
    },
  });
}

Deno.test("a body that stalls after the head hits the deadline, and the exchange is aborted", async () => {
  const t = scripted((req) => new Response(stallingBody(req.signal)));
  const api = new GateApi(t.transport);
  const err = await api.call("/token", { timeoutMs: 50, what: "asking for a token" }).then(
    () => undefined,
    (e) => e,
  );
  assert.ok(err instanceof DeadlineError);
  assert.equal(err.message, "timed out after 50 ms while asking for a token");
  assert.equal(t.seen[0].signal.aborted, true);
});

Deno.test("the caller's abort is rethrown as is, and aborts the exchange", async () => {
  const t = scripted((req) => new Response(stallingBody(req.signal)));
  const api = new GateApi(t.transport);
  const stop = new AbortController();
  const pending = api.call("/health", { timeoutMs: 5_000, what: "x", signal: stop.signal });
  stop.abort(new Error("client gone"));
  const err = await pending.then(() => undefined, (e) => e);
  assert.ok(!(err instanceof DeadlineError) && !(err instanceof GateUnreachableError));
  assert.equal(t.seen[0].signal.aborted, true);
});

Deno.test("an unreachable gate is named with the transport's where and hint", async () => {
  const t = scripted(() => {
    throw new GateUnreachableError("connection refused");
  });
  const api = new GateApi(t.transport);
  const err = await api.call("/token?session=secret-id", { timeoutMs: 1_000, what: "refreshing" })
    .then(() => undefined, (e) => e);
  assert.ok(err instanceof GateUnreachableError);
  assert.equal(err.reason, "connection refused");
  assert.equal(
    err.message,
    "cannot reach the gate at /test.sock (connection refused) while refreshing; " +
      "start the test gate",
  );
  assert.doesNotMatch(err.message, /secret-id/);
  api.close();
  assert.equal(t.closed(), true);
});

Deno.test("a connection lost mid-body is unreachable, not a crash", async () => {
  const t = scripted(() =>
    new Response(
      new ReadableStream({
        start(c) {
          c.error(new Error("reset"));
        },
      }),
    )
  );
  const err = await new GateApi(t.transport).call("/health", { timeoutMs: 1_000, what: "x" })
    .then(() => undefined, (e) => e);
  assert.ok(err instanceof GateUnreachableError);
  assert.equal(err.reason, "connection lost");
});

Deno.test("json(): the gate's {error, code} keeps its status; Retry-After only when numeric", async () => {
  const answers = [
    Response.json({ error: "slow down", code: "rate" }, {
      status: 429,
      headers: { "retry-after": "7" },
    }),
    Response.json({ error: "nope" }, {
      status: 403,
      headers: { "retry-after": "Fri, 27 Nov 2026 12:00:00 GMT" },
    }),
    new Response("<html>proxy error</html>", { status: 502 }),
    new Response("[1,2]"),
    new Response("not json"),
  ];
  const t = scripted(() => answers.shift()!);
  const api = new GateApi(t.transport);
  const call = () =>
    api.json("/token", { timeoutMs: 1_000, what: "asking" }).then(() => undefined, (e) => e);
  const rate = await call();
  assert.ok(rate instanceof HttpError);
  assert.deepEqual([rate.status, rate.message, rate.code], [429, "slow down", "rate"]);
  assert.deepEqual(rate.headers, { "retry-after": "7" });
  const denied = await call();
  assert.deepEqual([denied.status, denied.message, denied.headers], [403, "nope", {}]);
  const html = await call();
  assert.deepEqual([html.status, html.message], [502, "the gate answered 502 while asking"]);
  for (let i = 0; i < 2; i++) {
    const bad = await call();
    assert.deepEqual(
      [bad.status, bad.message],
      [502, "the gate's answer was not a JSON object while asking"],
    );
  }
});

Deno.test("tokenOf dates expires_in from arrival and refuses bad forms", () => {
  assert.deepEqual(tokenOf({ access_token: "t", expires_in: 10 }, 1_000, "w"), {
    accessToken: "t",
    expiresAt: 11_000,
  });
  assert.equal(tokenOf({ access_token: "t" }, 0, "w").expiresAt, 3_600_000);
  for (
    const body of [{}, { access_token: "" }, { access_token: "t", expires_in: "5" }, {
      access_token: "t",
      expires_in: -1,
    }, { access_token: "t", expires_in: Infinity }]
  ) {
    assert.throws(() => tokenOf(body, 0, "w"), (e) => e instanceof HttpError && e.status === 502);
  }
  assert.equal(jsonObject("null"), undefined);
  assert.deepEqual(jsonObject('{"a":1}'), { a: 1 });
});

Deno.test("open() returns at the head with the body unread; unreachable is named", async () => {
  let pulls = 0;
  const t = scripted(() =>
    new Response(
      new ReadableStream({
        pull(c) {
          pulls++;
          c.enqueue(new TextEncoder().encode("line\n"));
        },
      }, { highWaterMark: 0 }),
    )
  );
  const api = new GateApi(t.transport);
  const stop = new AbortController();
  const res = await api.open("/session", {
    method: "POST",
    what: "opening",
    signal: stop.signal,
    headers: { "x-session-hold": "1" },
  });
  assert.equal(pulls, 0);
  assert.equal(t.seen[0].method, "POST");
  assert.deepEqual(t.seen[0].headers, { "x-session-hold": "1" });
  await res.body!.cancel();
  const down = new GateApi(
    scripted(() => {
      throw new GateUnreachableError("no such file or directory");
    }).transport,
  );
  const err = await down.open("/session", { what: "opening", signal: stop.signal })
    .then(() => undefined, (e) => e);
  assert.match(err.message, /^cannot reach the gate at \/test\.sock \(no such file/);
});

Deno.test("an answer larger than the bound is a 502, read no further than the bound", async () => {
  let sent = 0;
  const t = scripted(() =>
    new Response(
      new ReadableStream<Uint8Array>({
        pull(c) {
          sent += 64 * 1024;
          c.enqueue(new Uint8Array(64 * 1024).fill(0x20));
        },
      }, { highWaterMark: 0 }),
    )
  );
  const api = new GateApi(t.transport);
  const err = await api.call("/token", { timeoutMs: 5_000, what: "asking" })
    .then(() => undefined, (e) => e);
  assert.ok(err instanceof HttpError);
  assert.equal(err.status, 502);
  assert.equal(
    err.message,
    `the gate's answer was larger than ${MAX_ANSWER_BYTES} bytes while asking`,
  );
  assert.ok(sent <= MAX_ANSWER_BYTES + 2 * 64 * 1024, `read ${sent} bytes`);
  // A multi-byte character split across chunks decodes whole.
  const text = "é".repeat(10);
  const bytes = new TextEncoder().encode(text);
  const split = scripted(() =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(bytes.slice(0, 3));
          c.enqueue(bytes.slice(3));
          c.close();
        },
      }),
    )
  );
  assert.equal(
    (await new GateApi(split.transport).call("/x", { timeoutMs: 1_000, what: "w" })).text,
    text,
  );
});
