/**
 * The routes listener against a fake gate on a real Unix socket: what it passes on, what it
 * refuses itself, and that both bodies stream (a chunk crosses before the next is sent).
 */
import assert from "node:assert/strict";
import { ROUTE_HEADERS } from "../../src/gate_api/routes_wire.ts";
import { rawExchange, RoutesProxyFixture } from "./proxy_fixture.ts";

const enc = new TextEncoder();

function assertIncludes(text: string, part: string): void {
  assert.ok(text.includes(part), `expected ${JSON.stringify(part)} in ${JSON.stringify(text)}`);
}
const dec = new TextDecoder();

/** Resolves with `p`, or rejects after `ms` (every wait in these tests is bounded). */
function within<T>(p: Promise<T>, ms = 5_000, what = "the wait"): Promise<T> {
  let id: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    id = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(id));
}

Deno.test("a routed call reaches the gate as /routes/<name> with the raw target, no client credential and no hop-by-hop field", async () => {
  const f = await RoutesProxyFixture.start();
  try {
    f.handler = () =>
      new Response("answer", {
        status: 201,
        headers: { "x-upstream": "yes", "location": "/v1/next?a=1", "keep-alive": "timeout=5" },
      });
    const res = await fetch(f.url("/anthropic/v1/messages?beta=true&x=a%2Fb"), {
      headers: {
        "authorization": "Bearer container-secret",
        "x-api-key": "placeholder",
        "connection": "x-drop-me",
        "x-drop-me": "1",
        "anthropic-version": "2023-06-01",
        [ROUTE_HEADERS.session]: "forged",
      },
      redirect: "manual",
    });
    assert.equal(res.status, 201);
    assert.equal(await res.text(), "answer");
    assert.equal(res.headers.get("x-upstream"), "yes");
    assert.equal(res.headers.get("location"), "/anthropic/v1/next?a=1");
    assert.equal(res.headers.get("keep-alive"), null);
    assert.equal(f.seen.length, 1);
    const seen = f.seen[0];
    assert.equal(seen.path, "/routes/anthropic");
    assert.equal(seen.headers.get(ROUTE_HEADERS.target), "/v1/messages?beta=true&x=a%2Fb");
    assert.equal(seen.headers.get("authorization"), null);
    assert.equal(seen.headers.get("x-api-key"), null);
    assert.equal(seen.headers.get("x-drop-me"), null);
    assert.equal(seen.headers.get(ROUTE_HEADERS.session), null);
    assert.equal(seen.headers.get("anthropic-version"), "2023-06-01");
    assert.match(seen.headers.get(ROUTE_HEADERS.requester) ?? "", /^client=127\.0\.0\.1:\d+$/);
  } finally {
    await f.close();
  }
});

Deno.test("the target goes to the gate byte for byte: '..' and encoded slashes are not resolved here", async () => {
  const f = await RoutesProxyFixture.start();
  try {
    const raw = await rawExchange(
      f.port,
      `GET /github/repos/../%2e%2e/x%2Fy HTTP/1.1\r\nHost: 127.0.0.1:${f.port}\r\nConnection: close\r\n\r\n`,
    );
    assert.match(raw, /^HTTP\/1\.1 200/);
    assert.equal(f.seen[0].headers.get(ROUTE_HEADERS.target), "/repos/../%2e%2e/x%2Fy");
    await (await fetch(f.url("/npm"))).text();
    assert.equal(f.seen[1].headers.get(ROUTE_HEADERS.target), "/");
    await (await fetch(f.url("/npm?q=1"))).text();
    assert.equal(f.seen[2].headers.get(ROUTE_HEADERS.target), "/?q=1");
  } finally {
    await f.close();
  }
});

Deno.test("the listener refuses a foreign Host, an absolute-form target and a malformed route name without asking the gate", async () => {
  const f = await RoutesProxyFixture.start();
  try {
    for (
      const host of [
        `evil.example:${f.port}`,
        "127.0.0.1",
        `127.0.0.1:${f.port + 1}`,
        `metadata.google.internal:${f.port}`,
      ]
    ) {
      const raw = await rawExchange(
        f.port,
        `GET /github/user HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
      assert.match(raw, /^HTTP\/1\.1 403/, host);
      assertIncludes(raw, "loopback");
    }
    const absolute = await rawExchange(
      f.port,
      `GET http://api.github.com/user HTTP/1.1\r\nHost: 127.0.0.1:${f.port}\r\nConnection: close\r\n\r\n`,
    );
    assert.match(absolute, /^HTTP\/1\.1 400/);
    assertIncludes(absolute, "absolute-form");
    for (
      const path of ["/", "/Upper/x", "/%2e%2e/x", "/../x", "/a%2Fb/x", "/" + "a".repeat(40) + "/x"]
    ) {
      const raw = await rawExchange(
        f.port,
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${f.port}\r\nConnection: close\r\n\r\n`,
      );
      assert.match(raw, /^HTTP\/1\.1 404/, path);
      assertIncludes(raw, "no route named");
    }
    assert.equal(f.seen.length, 0);
    // localhost and [::1]-style names with the port are accepted.
    const ok = await rawExchange(
      f.port,
      `GET /github/user HTTP/1.1\r\nHost: localhost:${f.port}\r\nConnection: close\r\n\r\n`,
    );
    assert.match(ok, /^HTTP\/1\.1 200/);
  } finally {
    await f.close();
  }
});

Deno.test("the gate's own refusal (unknown route) comes back unchanged", async () => {
  const f = await RoutesProxyFixture.start();
  try {
    f.handler = () =>
      Response.json({ error: "no route named nope", code: "route_unknown" }, {
        status: 404,
        headers: { [ROUTE_HEADERS.error]: "route_unknown" },
      });
    const res = await fetch(f.url("/nope/x"));
    assert.equal(res.status, 404);
    assert.equal(res.headers.get(ROUTE_HEADERS.error), "route_unknown");
    assert.equal((await res.json()).code, "route_unknown");
  } finally {
    await f.close();
  }
});

Deno.test("a gate that is down is a 502 naming the fix, never the socket path", async () => {
  const f = await RoutesProxyFixture.start({ gate: false });
  try {
    const res = await fetch(f.url("/openai/v1/models"));
    assert.equal(res.status, 502);
    const text = await res.text();
    assertIncludes(text, "gate is unreachable");
    assert.ok(!text.includes(f.dir), text);
  } finally {
    await f.close();
  }
});

Deno.test("both bodies stream: the gate answers the first request chunk before the second is sent, and each event arrives as sent", async () => {
  const f = await RoutesProxyFixture.start();
  try {
    f.handler = (req) => {
      // Echo each request chunk back as a server-sent event the moment it arrives.
      const reader = req.body!.getReader();
      const body = new ReadableStream<Uint8Array>({
        async pull(c) {
          const step = await reader.read();
          if (step.done) return c.close();
          c.enqueue(enc.encode(`data: ${dec.decode(step.value)}\n\n`));
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    };
    let push!: ReadableStreamDefaultController<Uint8Array>;
    const upload = new ReadableStream<Uint8Array>({ start: (c) => void (push = c) });
    push.enqueue(enc.encode("one"));
    const res = await within(
      fetch(f.url("/anthropic/v1/messages"), { method: "POST", body: upload }),
      5_000,
      "the answer head",
    );
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    const reader = res.body!.getReader();
    const first = await within(reader.read(), 5_000, "the first event");
    assert.equal(dec.decode(first.value), "data: one\n\n");
    push.enqueue(enc.encode("two"));
    const second = await within(reader.read(), 5_000, "the second event");
    assert.equal(dec.decode(second.value), "data: two\n\n");
    push.close();
    assert.equal((await within(reader.read())).done, true);
  } finally {
    await f.close();
  }
});

Deno.test("every method passes with its body; HEAD comes back without one; a request without Host is refused", async () => {
  const f = await RoutesProxyFixture.start();
  try {
    f.handler = async (req) =>
      new Response(req.method === "HEAD" ? null : `${req.method} ${await req.text()}`, {
        headers: { "x-len": "7" },
      });
    for (const method of ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"]) {
      const res = await fetch(f.url("/npm/-/pkg"), { method, body: "payload" });
      assert.equal(await res.text(), `${method} payload`, method);
    }
    const head = await fetch(f.url("/npm/pkg"), { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("x-len"), "7");
    assert.equal(await head.text(), "");
    assert.deepEqual(f.seen.map((s) => s.method), [
      "POST",
      "PUT",
      "PATCH",
      "DELETE",
      "OPTIONS",
      "HEAD",
    ]);
    const noHost = await rawExchange(f.port, "GET /npm/pkg HTTP/1.0\r\n\r\n");
    assert.match(noHost, /^HTTP\/1\.[01] 403/);
    assert.equal(f.seen.length, 6);
  } finally {
    await f.close();
  }
});
