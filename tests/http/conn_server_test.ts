/**
 * The connection server the gate's Unix sockets use, driven with raw bytes over a real Unix
 * socket: keep-alive, pipelining, both body framings, every refused form with its status, the
 * bounded waits (a body that stops mid-way is answered 408 and never reaches the handler: issue 7,
 * defect 5's transport half), disconnect aborting the handler, streamed answers, shutdown.
 *
 * Deadlines are real but short (tens of ms) and asserted only as "this happens, and the handler
 * never ran"; every read by the test is itself bounded.
 */
import assert from "node:assert/strict";
import {
  type ConnHandler,
  type ConnServer,
  type ConnServerLimits,
  serveConnections,
} from "../../src/http/conn_server.ts";
import { parseResponse } from "../../src/http/raw_http.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Harness {
  path: string;
  server: ConnServer;
  errors: string[];
}

async function withServer(
  handler: ConnHandler<{ tag: string }>,
  limits: Partial<ConnServerLimits>,
  fn: (h: Harness) => Promise<void>,
) {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/s.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const errors: string[] = [];
  const server = serveConnections(listener, handler, {
    accepted: () => ({ env: { tag: "conn" } }),
    limits,
    onError: (what, err) => errors.push(`${what}: ${err}`),
  });
  try {
    await fn({ path, server, errors });
  } finally {
    await server.close(50);
    await Deno.remove(dir, { recursive: true });
  }
}

/** A raw connection that collects what the server writes until it closes (bounded by `ms`). */
class Raw {
  text = "";
  ended = false;
  readonly done: Promise<void>;
  constructor(readonly conn: Deno.UnixConn, ms = 5000) {
    const timer = setTimeout(() => this.close(), ms);
    this.done = (async () => {
      const buf = new Uint8Array(16384);
      try {
        for (;;) {
          const n = await conn.read(buf);
          if (n === null) break;
          this.text += dec.decode(buf.subarray(0, n));
        }
      } catch { /* closed by us */ }
      this.ended = true;
      clearTimeout(timer);
    })();
  }
  static async open(path: string, ms?: number) {
    return new Raw(await Deno.connect({ transport: "unix", path }), ms);
  }
  async send(text: string | Uint8Array) {
    await this.conn.write(typeof text === "string" ? enc.encode(text) : text);
  }
  close() {
    try {
      this.conn.close();
    } catch { /* already */ }
  }
  /** Waits (bounded) until `check` holds on what arrived. */
  async until(check: (text: string) => boolean, what = "the expected bytes") {
    for (let i = 0; i < 1000 && !check(this.text); i++) {
      if (this.ended) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(check(this.text), `waiting for ${what}; got ${JSON.stringify(this.text)}`);
  }
}

/** Awaits `promise` for at most 5 s. */
async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) =>
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 5000)
  );
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

async function exchange(path: string, request: string, ms = 5000) {
  const raw = await Raw.open(path, ms);
  await raw.send(request);
  await raw.done;
  const r = parseResponse(enc.encode(raw.text), true);
  assert.ok(r, `no response: ${JSON.stringify(raw.text)}`);
  return r;
}

const echo: ConnHandler<{ tag: string }> = async (req, env) =>
  new Response(`${req.method} ${new URL(req.url).pathname} ${env.tag} ${await req.text()}`);

Deno.test("keep-alive: two requests on one connection, each answered", () =>
  withServer(echo, {}, async ({ path }) => {
    const raw = await Raw.open(path);
    await raw.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    await raw.until((t) => t.includes("GET /a conn"));
    await raw.send("POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    await raw.until((t) => t.includes("POST /b conn hello"));
    assert.ok(!raw.ended);
    raw.close();
    await raw.done;
  }));

Deno.test("pipelined requests are answered in order; a chunked body is decoded", () =>
  withServer(echo, {}, async ({ path }) => {
    const r = await Raw.open(path);
    await r.send(
      "POST /1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\n" +
        "GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    await r.done;
    const first = r.text.indexOf("POST /1 conn abcde");
    const second = r.text.indexOf("GET /2 conn");
    assert.ok(first > 0 && second > first, r.text);
  }));

Deno.test("absolute-form targets (clients treating the socket as a proxy) are reduced to the path", () =>
  withServer(echo, {}, async ({ path }) => {
    const r = await exchange(
      path,
      "GET http://localhost/x?y=1 HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert.equal(r.body, "GET /x conn ");
    const s = await exchange(path, "GET //evil.example/p HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert.equal(s.body, "GET //evil.example/p conn ");
  }));

Deno.test("fetch through Deno's unix-socket client works against it (keep-alive, bodies)", () =>
  withServer(echo, {}, async ({ path }) => {
    const client = Deno.createHttpClient({ proxy: { transport: "unix", path } });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`http://localhost/f${i}`, { client, method: "POST", body: "b" });
        assert.equal(await res.text(), `POST /f${i} conn b`);
      }
    } finally {
      client.close();
    }
  }));

const refused: [string, string, number][] = [
  ["a bad request line", "GARBAGE\r\n\r\n", 400],
  ["a request target that is not a path", "GET * HTTP/1.1\r\n\r\n", 400],
  ["a method that is not a token", "G(T / HTTP/1.1\r\n\r\n", 400],
  ["HTTP/2 in the request line", "GET / HTTP/2.0\r\n\r\n", 505],
  ["a header without a name", "GET / HTTP/1.1\r\n: x\r\n\r\n", 400],
  ["whitespace before the colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400],
  ["obsolete line folding", "GET / HTTP/1.1\r\nX-A: 1\r\n  2\r\n\r\n", 400],
  [
    "Content-Length with Transfer-Encoding",
    "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    400,
  ],
  [
    "conflicting Content-Length",
    "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    400,
  ],
  ["a malformed Content-Length", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400],
  [
    "a transfer coding other than chunked",
    "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
    501,
  ],
  ["a malformed chunk size", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400],
  [
    "a chunk not followed by CRLF",
    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
    400,
  ],
  ["a declared body over the cap", "POST / HTTP/1.1\r\nContent-Length: 2000\r\n\r\n", 413],
  [
    "a chunked body over the cap",
    `POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n${"a".repeat(1024)}\r\n400\r\n${
      "a".repeat(1024)
    }\r\n0\r\n\r\n`,
    413,
  ],
  [
    "chunk extensions that inflate the raw body past its cap",
    `POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n${
      `1;${"e".repeat(900)}\r\na\r\n`.repeat(20)
    }`,
    413,
  ],
  ["too many header fields", `GET / HTTP/1.1\r\n${"X-A: 1\r\n".repeat(30)}\r\n`, 431],
  ["an oversized head", `GET / HTTP/1.1\r\nX-A: ${"a".repeat(5000)}\r\n\r\n`, 431],
  ["an oversized head that never ends", `GET / HTTP/1.1\r\nX-A: ${"a".repeat(5000)}`, 431],
];

for (const [what, request, status] of refused) {
  Deno.test(`refused with ${status}: ${what}, and the handler never runs`, async () => {
    let ran = false;
    await withServer(
      () => {
        ran = true;
        return new Response("no");
      },
      { maxBodyBytes: 1500, maxHeaderBytes: 4096, maxHeaderCount: 20 },
      async ({ path }) => {
        const r = await exchange(path, request);
        assert.equal(r.status, status, r.body);
        assert.equal(r.headers.get("connection"), "close");
        assert.match(r.body, /"error":/);
      },
    );
    assert.equal(ran, false);
  });
}

Deno.test("a head that is not UTF-8 is refused with 400", () =>
  withServer(echo, {}, async ({ path }) => {
    const raw = await Raw.open(path);
    await raw.send(
      new Uint8Array([...enc.encode("GET /\xff"), 0xff, ...enc.encode(" HTTP/1.1\r\n\r\n")]),
    );
    await raw.done;
    assert.match(raw.text, /^HTTP\/1\.1 400 /);
  }));

Deno.test("a client that stops mid-body gets 408 and its request never reaches the handler (7.5)", async () => {
  let ran = false;
  await withServer(
    () => {
      ran = true;
      return new Response("queued");
    },
    { bodyTimeoutMs: 60 },
    async ({ path, server }) => {
      const raw = await Raw.open(path);
      await raw.send("POST /session HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc");
      await raw.done;
      assert.match(raw.text, /^HTTP\/1\.1 408 /);
      assert.ok(raw.text.includes("body timed out"));
      for (let i = 0; i < 200 && server.connections > 0; i++) {
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.equal(server.connections, 0, "the connection is not leaked");
    },
  );
  assert.equal(ran, false);
});

Deno.test("a client that leaves mid-body is dropped without reaching the handler", async () => {
  let ran = false;
  await withServer(
    () => {
      ran = true;
      return new Response("queued");
    },
    {},
    async ({ path, server }) => {
      const raw = await Raw.open(path);
      await raw.send("POST /session HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc");
      raw.close();
      await raw.done;
      for (let i = 0; i < 200 && server.connections > 0; i++) {
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.equal(server.connections, 0);
    },
  );
  assert.equal(ran, false);
});

Deno.test("a head that stalls gets 408; an idle connection is closed quietly", () =>
  withServer(echo, { headerTimeoutMs: 60, idleTimeoutMs: 60 }, async ({ path }) => {
    const stalled = await Raw.open(path);
    await stalled.send("GET / HTTP/1.1\r\nHost: x\r\n");
    await stalled.done;
    assert.match(stalled.text, /^HTTP\/1\.1 408 /);
    const idle = await Raw.open(path);
    await idle.done;
    assert.equal(idle.text, "");
  }));

Deno.test("Expect: 100-continue is honoured before the body is read", () =>
  withServer(echo, {}, async ({ path }) => {
    const raw = await Raw.open(path);
    await raw.send("POST /e HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
    await raw.until((t) => t.startsWith("HTTP/1.1 100 Continue\r\n\r\n"));
    await raw.send("ok");
    await raw.until((t) => t.includes("POST /e conn ok"));
    raw.close();
    await raw.done;
  }));

Deno.test("HEAD, 204 and HTTP/1.0 get the framing they need", () =>
  withServer(
    (req) =>
      new URL(req.url).pathname === "/none"
        ? new Response(null, { status: 204 })
        : new Response("body text"),
    {},
    async ({ path }) => {
      const head = await Raw.open(path);
      await head.send("HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n");
      await head.done;
      assert.ok(head.text.endsWith("\r\n\r\n") && !head.text.includes("body text"), head.text);
      const none = await exchange(path, "GET /none HTTP/1.1\r\nConnection: close\r\n\r\n");
      assert.equal(none.status, 204);
      assert.equal(none.headers.get("content-length"), undefined);
      const old = await exchange(path, "GET / HTTP/1.0\r\n\r\n");
      assert.equal(old.body, "body text");
      assert.equal(old.headers.get("transfer-encoding"), undefined);
    },
  ));

Deno.test("the handler's signal aborts when the client disconnects", async () => {
  let aborted: (reason: unknown) => void = () => {};
  const sawAbort = new Promise((r) => (aborted = r));
  await withServer(
    (req) =>
      new Promise<Response>((resolve) => {
        req.signal.addEventListener("abort", () => {
          aborted(req.signal.reason);
          resolve(new Response("late"));
        });
      }),
    {},
    async ({ path }) => {
      const raw = await Raw.open(path);
      await raw.send("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
      await new Promise((r) => setTimeout(r, 20));
      raw.close();
      const reason = await Promise.race([
        sawAbort,
        new Promise((r) => setTimeout(() => r("no abort within 5 s"), 5000)),
      ]);
      assert.match(String(reason), /disconnected/);
    },
  );
});

Deno.test("a half-closed client still gets its answer, and the handler saw the abort", () =>
  withServer(
    async (req) => {
      await new Promise((r) => setTimeout(r, 20));
      return new Response(`aborted=${req.signal.aborted}`);
    },
    {},
    async ({ path }) => {
      const raw = await Raw.open(path);
      await raw.send("GET /h HTTP/1.1\r\nHost: x\r\n\r\n");
      await raw.conn.closeWrite();
      await raw.done;
      assert.match(raw.text, /^HTTP\/1\.1 200 /);
      assert.ok(raw.text.includes("aborted=true"), raw.text);
    },
  ));

Deno.test("a streamed answer reaches the client as produced; a gone client cancels the stream", async () => {
  let cancelled: (v: unknown) => void = () => {};
  const sawCancel = new Promise((r) => (cancelled = r));
  let push: (s: string) => void = () => {};
  await withServer(
    () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(c) {
            push = (s) => c.enqueue(enc.encode(s));
            push('{"heartbeat":1}\n');
          },
          cancel: (reason) => cancelled(reason ?? "cancelled"),
        }),
        { headers: { "content-type": "application/x-ndjson" } },
      ),
    {},
    async ({ path }) => {
      const raw = await Raw.open(path);
      await raw.send("POST /held HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
      await raw.until((t) => t.includes('{"heartbeat":1}'), "the first heartbeat");
      assert.match(raw.text, /transfer-encoding: chunked/);
      push('{"heartbeat":2}\n');
      await raw.until((t) => t.includes('{"heartbeat":2}'), "the second heartbeat");
      raw.close();
      await raw.done;
      // The next heartbeat finds the client gone and the stream is cancelled.
      for (let i = 0; i < 100; i++) {
        push(`{"heartbeat":${i + 3}}\n`);
        const done = await Promise.race([
          sawCancel.then(() => true),
          new Promise((r) => setTimeout(() => r(false), 10)),
        ]);
        if (done) break;
      }
      const outcome = await Promise.race([
        sawCancel.then(() => "cancelled"),
        new Promise((r) => setTimeout(() => r("not cancelled"), 100)),
      ]);
      assert.equal(outcome, "cancelled");
    },
  );
});

Deno.test("a gone client's stream that ignores the abort is cut at the write deadline", async () => {
  let cancelled = false;
  await withServer(
    () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(c) {
            c.enqueue(new TextEncoder().encode("first\n")); // then nothing, ever
          },
          cancel() {
            cancelled = true;
          },
        }),
      ),
    { writeTimeoutMs: 50 },
    async ({ path, server }) => {
      const raw = await Raw.open(path);
      await raw.send("GET /held HTTP/1.1\r\n\r\n");
      await raw.until((t) => t.includes("first"));
      raw.close();
      await raw.done;
      for (let i = 0; i < 400 && server.connections > 0; i++) {
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.equal(server.connections, 0, "the connection is not leaked");
      assert.ok(cancelled, "the stream was cancelled");
    },
  );
});

Deno.test("shutdown is bounded even when a handler ignores its abort signal", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/s.sock`;
  let started: (v: unknown) => void = () => {};
  const handlerStarted = new Promise((r) => (started = r));
  const server = serveConnections<{ tag: string }>(
    Deno.listen({ transport: "unix", path }),
    () => {
      started(true);
      return new Promise<Response>(() => {}); // never settles
    },
    { accepted: () => ({ env: { tag: "" } }) },
  );
  try {
    const raw = await Raw.open(path);
    await raw.send("GET /stuck HTTP/1.1\r\n\r\n");
    await within(handlerStarted, "the handler to start");
    await within(server.close(30), "the bounded shutdown");
    await raw.done;
    assert.equal(raw.text, "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a handler that throws answers 500 and the server goes on", () =>
  withServer(
    (req) => {
      if (new URL(req.url).pathname === "/boom") throw new Error("secret detail");
      return new Response("fine");
    },
    {},
    async ({ path, errors }) => {
      const r = await exchange(path, "GET /boom HTTP/1.1\r\nConnection: close\r\n\r\n");
      assert.equal(r.status, 500);
      assert.ok(!r.body.includes("secret detail"));
      assert.equal(errors.length, 1);
      const ok = await exchange(path, "GET /ok HTTP/1.1\r\nConnection: close\r\n\r\n");
      assert.equal(ok.body, "fine");
    },
  ));

Deno.test("connections beyond the limit are answered 503", () =>
  withServer(echo, { maxConnections: 2 }, async ({ path, server }) => {
    const a = await Raw.open(path);
    const b = await Raw.open(path);
    for (let i = 0; i < 200 && server.connections < 2; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const r = await exchange(path, "GET / HTTP/1.1\r\n\r\n");
    assert.equal(r.status, 503);
    a.close();
    b.close();
    await Promise.all([a.done, b.done]);
  }));

Deno.test("close: idle connections go at once, in-flight ones get the grace, then are aborted", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/s.sock`;
  let abortSeen = false;
  let started: (v: unknown) => void = () => {};
  const handlerStarted = new Promise((r) => (started = r));
  const server = serveConnections<{ tag: string }>(
    Deno.listen({ transport: "unix", path }),
    (req) =>
      new Promise<Response>((resolve) => {
        started(true);
        req.signal.addEventListener("abort", () => {
          abortSeen = true;
          resolve(new Response("aborted"));
        });
      }),
    { accepted: () => ({ env: { tag: "" } }) },
  );
  try {
    const idle = await Raw.open(path);
    const busy = await Raw.open(path);
    await busy.send("GET /hold HTTP/1.1\r\n\r\n");
    await within(handlerStarted, "the handler to start");
    await server.close(50);
    await Promise.all([idle.done, busy.done]);
    assert.equal(idle.text, "");
    assert.ok(abortSeen, "the in-flight request was aborted after the grace period");
    assert.equal(server.connections, 0);
    await assert.rejects(Deno.connect({ transport: "unix", path }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("random bytes never crash it: the server still answers afterwards", () =>
  withServer(
    echo,
    { headerTimeoutMs: 200, idleTimeoutMs: 200, bodyTimeoutMs: 200 },
    async ({ path }) => {
      let seed = 7;
      const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
      const pieces = [
        "GET ",
        "POST ",
        "/",
        " HTTP/1.1",
        "\r\n",
        ":",
        "Content-Length: ",
        "9",
        "\r\n\r\n",
        "Transfer-Encoding: chunked",
        "0",
        "ff",
        "\x00",
        "\xff",
        " ",
      ];
      for (let i = 0; i < 60; i++) {
        let text = "";
        for (let j = next() % 12; j >= 0; j--) text += pieces[next() % pieces.length];
        const raw = await Raw.open(path, 1000);
        await raw.send(text).catch(() => {});
        raw.close();
        await raw.done;
      }
      const r = await exchange(path, "GET /still HTTP/1.1\r\nConnection: close\r\n\r\n");
      assert.equal(r.body, "GET /still conn ");
    },
  ));

Deno.test("a body with a valid Content-Length is sent with it, unchunked, and held to it", () => {
  /** A body of `n` bytes in pieces of 3, whatever the Content-Length says. */
  const pieces = (n: number) => {
    let sent = 0;
    return new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= n) return c.close();
        const size = Math.min(3, n - sent);
        sent += size;
        c.enqueue(enc.encode("x".repeat(size)));
      },
    });
  };
  return withServer(
    (req) => {
      const path = new URL(req.url).pathname;
      const actual = path === "/long" ? 12 : path === "/short" ? 7 : 10;
      const declared = path === "/bad" ? "1x" : "10";
      return new Response(pieces(actual), { headers: { "content-length": declared } });
    },
    {},
    async ({ path, errors }) => {
      // Exact: the declared length goes out as is, with no chunk framing, and keep-alive holds.
      const raw = await Raw.open(path);
      await raw.send("GET /exact HTTP/1.1\r\n\r\nGET /exact HTTP/1.1\r\nConnection: close\r\n\r\n");
      await raw.done;
      const answers = raw.text.split("HTTP/1.1 200 OK\r\n").slice(1);
      assert.equal(answers.length, 2, raw.text);
      for (const a of answers) {
        assert.match(a, /content-length: 10\r\n/);
        assert.doesNotMatch(a, /transfer-encoding/);
        assert.ok(a.endsWith("\r\n\r\nxxxxxxxxxx"), a);
      }
      // Longer than declared: the answer is cut short and the connection closed, never reused.
      const long = await Raw.open(path);
      await long.send("GET /long HTTP/1.1\r\n\r\nGET /exact HTTP/1.1\r\n\r\n");
      await long.done;
      assert.match(long.text, /content-length: 10\r\n/);
      assert.ok(long.text.split("\r\n\r\n")[1].length < 10, long.text);
      assert.equal(long.text.split("HTTP/1.1 200").length, 2, "no second answer");
      assert.ok(errors.some((e) => /longer than its Content-Length/.test(e)), errors.join());
      // Shorter than declared: what came is sent, then the connection closes (the client sees
      // a body short of its length), never reused.
      const short = await Raw.open(path);
      await short.send("GET /short HTTP/1.1\r\n\r\nGET /exact HTTP/1.1\r\n\r\n");
      await short.done;
      assert.ok(short.text.endsWith("\r\n\r\nxxxxxxx"), short.text);
      assert.equal(short.text.split("HTTP/1.1 200").length, 2, "no second answer");
      // A malformed Content-Length is not trusted: the body goes out chunked.
      const bad = await exchange(path, "GET /bad HTTP/1.1\r\nConnection: close\r\n\r\n");
      assert.equal(bad.headers.get("transfer-encoding"), "chunked");
      assert.equal(bad.headers.get("content-length"), undefined);
      assert.equal(bad.body, "xxxxxxxxxx");
    },
  );
});
