/**
 * The fuzz tests' findings and the issue's HTTP-level defects, each pinned as a deterministic
 * conversation with the real gate and proxy processes, so a regression fails every run rather
 * than only under the seeds that happen to draw it:
 * - a `Host` the URL parser refuses (`a:b:c`, `[::1`) was a bare 500 from the proxy (fuzz find);
 * - `Forwarded` and `X-Real-IP` are refused like `X-Forwarded-For` (issue 7, defect 10);
 * - `?pam_policy=` is a clear refusal, not a 500 (defect 9);
 * - a `POST /session` whose body never completes is dropped, never queued (defect 5);
 * - a queued prod request whose client left can never be approved (defect 5);
 * - the gate ends a connection whose head or body never completes (slowloris, mid-body stop);
 * - a flood of idle connections is refused cleanly and service resumes when it ends;
 * - Content-Length with Transfer-Encoding is refused, so no second request is smuggled in.
 */
import assert from "node:assert/strict";
import { exchange } from "./raw_exchange.ts";
import { redactSecrets } from "./secret_scan.ts";
import { startWorld, TOKEN_PATH, type World } from "./world.ts";

/** A prod request body that never completes must be answered (or dropped) within this. */
const BODY_BOUND_MS = 10_000;
/** The gate's deadline for a request's head, and for its body (src/http/conn_server.ts). */
const GATE_READ_DEADLINE_MS = 10_000;
/** Idle connections opened at once: more than the gate serves concurrently (256). */
const FLOOD_CONNECTIONS = 300;
/** A departed client's queued request must leave the queue within this. */
const ORPHAN_DROP_MS = 10_000;

async function admin(
  world: World,
  method: string,
  route: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const client = Deno.createHttpClient({
    proxy: { transport: "unix", path: world.adminSocketPath },
  });
  try {
    const res = await fetch(`http://localhost${route}`, {
      method,
      client,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : {} };
  } finally {
    client.close();
  }
}

async function pendingIds(world: World): Promise<string[]> {
  const { body } = await admin(world, "GET", "/pending");
  return ((body.pending ?? []) as { id: string }[]).map((p) => p.id);
}

async function until<T>(what: string, boundMs: number, probe: () => Promise<T | undefined>) {
  const deadline = Date.now() + boundMs;
  while (true) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`${what} within ${boundMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("reliability: HTTP edge cases found by fuzzing and named in issue 7", async (t) => {
  await using world = await startWorld();
  const proxyGet = (headers: string[]) =>
    exchange(world.proxyTarget, [
      {
        send: [
          `GET /computeMetadata/v1/project/project-id HTTP/1.1`,
          "Metadata-Flavor: Google",
          ...headers,
          "Connection: close",
          "",
          "",
        ].join("\r\n"),
      },
    ], 10_000);

  // Started now and checked later: each waits out a gate deadline while the other steps run.
  const slowHead = exchange(
    world.gateTarget,
    [{ send: "GET /health HTTP/1.1\r\nHost: localhost\r\n" }],
    30_000,
  );
  const slowBody = exchange(world.gateTarget, [{
    send: "GET /health HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nabc",
  }], 30_000);

  await t.step("the proxy refuses a Host the URL parser cannot read (not a 500)", async () => {
    for (const host of ["a:b:c", "[::1", "exa mple"]) {
      const x = await proxyGet([`Host: ${host}`]);
      assert.equal(x.responses.length, 1, `Host ${host}: ${x.unparsed}`);
      const [r] = x.responses;
      assert.ok(
        [400, 403].includes(r.status),
        `Host ${host} answered ${r.status}: ${redactSecrets(r.body)}`,
      );
      world.noteBody("proxy edge answer", r.body);
    }
  });

  await t.step("the proxy refuses every forwarding header (defect 10)", async () => {
    for (
      const header of [
        "X-Forwarded-For: 10.0.0.1",
        "Forwarded: for=10.0.0.1",
        "X-Real-IP: 10.0.0.1",
        'forwarded: for="[::1]"',
        "x-real-ip: 127.0.0.1",
      ]
    ) {
      const x = await proxyGet([`Host: 127.0.0.1:${world.proxyPort}`, header]);
      assert.equal(
        x.responses[0]?.status,
        403,
        `${header}: ${redactSecrets(x.responses[0]?.body ?? "")}`,
      );
    }
    const ok = await proxyGet([`Host: 127.0.0.1:${world.proxyPort}`]);
    assert.equal(ok.responses[0]?.status, 200, "without one, the same request is served");
    assert.equal(ok.responses[0].body, "demo-project");
  });

  await t.step("?pam_policy= is refused with a reason, not a 500 (defect 9)", async () => {
    for (const query of ["level=prod&pam_policy=", "level=prod&pam_policy=x"]) {
      const x = await exchange(world.gateTarget, [
        // Connection: close, never a half-close: the gate reads EOF as the client leaving.
        { send: `GET /token?${query} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n` },
      ], 10_000);
      assert.equal(x.ending, "eof", `${query}: answered at once, never queued`);
      const [r] = x.responses;
      assert.ok(
        r && r.status !== 500 && r.status >= 400,
        `${query}: ${r?.status} ${redactSecrets(r?.body ?? "")}`,
      );
      assert.match(JSON.parse(r.body).error, /pam/i);
      world.noteBody("gate edge answer", r.body);
    }
    assert.deepEqual(await pendingIds(world), []);
  });

  await t.step(
    "a POST /session whose body never completes is dropped, never queued (defect 5)",
    async () => {
      const started = performance.now();
      const conversation = exchange(world.gateTarget, [
        {
          send: "POST /session HTTP/1.1\r\nHost: localhost\r\nX-Wrapped-Command: " +
            '["gcloud","projects","list"]\r\nContent-Length: 1000\r\n\r\nabc',
        },
      ], BODY_BOUND_MS + 5_000);
      // While the body is outstanding nothing may be queued for a human.
      for (let i = 0; i < 10; i++) {
        assert.deepEqual(await pendingIds(world), [], "queued before its body arrived");
        await new Promise((r) => setTimeout(r, 100));
      }
      const x = await conversation;
      assert.notEqual(x.ending, "timeout", "the gate ends a request whose body never completes");
      assert.ok(performance.now() - started < BODY_BOUND_MS + 2_000);
      if (x.responses.length) {
        const [r] = x.responses;
        assert.ok([400, 408, 413].includes(r.status), `${r.status} ${redactSecrets(r.body)}`);
        world.noteBody("gate edge answer", r.body);
      }
      assert.deepEqual(await pendingIds(world), []);
    },
  );

  await t.step(
    "a queued prod request whose client left can never be approved (defect 5)",
    async () => {
      const conn = await Deno.connect({ transport: "unix", path: world.socketPath });
      await conn.write(
        new TextEncoder().encode(
          "GET /token?level=prod HTTP/1.1\r\nHost: localhost\r\nX-Wrapped-Command: " +
            '["terraform","apply"]\r\n\r\n',
        ),
      );
      const [id] = await until("the prod request was not queued", 10_000, async () => {
        const ids = await pendingIds(world);
        return ids.length ? ids : undefined;
      });
      conn.close(); // the requester goes away
      await until("the departed client's request was not dropped", ORPHAN_DROP_MS, async () => {
        return (await pendingIds(world)).length === 0 ? true : undefined;
      });
      const approve = await admin(world, "POST", `/pending/${id}/approve`);
      assert.ok([404, 410].includes(approve.status), `approve answered ${approve.status}`);
      const audit = (await world.auditText()).split("\n").filter((l) => l.includes(id));
      assert.ok(!audit.some((l) => JSON.parse(l).result === "granted"), audit.join("\n"));
    },
  );

  await t.step(
    "the gate refuses Content-Length with Transfer-Encoding (no smuggled request)",
    async () => {
      const x = await exchange(world.gateTarget, [{
        send: "POST /session HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\n" +
          "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
          "GET /token HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
      }], 10_000);
      assert.notEqual(x.ending, "timeout");
      assert.deepEqual(x.responses.map((r) => r.status), [400], "one refusal, nothing smuggled");
      assert.deepEqual(await pendingIds(world), []);
    },
  );

  await t.step(
    "a connection flood on the gate is refused cleanly and ends with the flood",
    async () => {
      // More idle connections than the gate serves at once (256): the rest are refused with a
      // parseable 503, nothing crashes, and service is back the moment the flood ends.
      const flood: Deno.Conn[] = [];
      try {
        for (let i = 0; i < FLOOD_CONNECTIONS; i++) {
          flood.push(await Deno.connect({ transport: "unix", path: world.socketPath }));
        }
        const during = await exchange(world.gateTarget, [
          { send: "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" },
        ], 10_000);
        assert.notEqual(during.ending, "timeout");
        assert.equal(during.unparsed, "");
        assert.ok(
          [200, 503].includes(during.responses[0]?.status),
          `during the flood: ${during.responses[0]?.status} ${
            redactSecrets(during.responses[0]?.body ?? "")
          }`,
        );
      } finally {
        for (const c of flood) c.close();
      }
      await until("the gate did not serve again after the flood", 10_000, async () => {
        const x = await exchange(world.gateTarget, [
          { send: "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" },
        ], 5_000);
        return x.responses[0]?.status === 200 ? true : undefined;
      });
    },
  );

  await t.step(
    "the gate ends a connection whose head or body never completes (408, bounded)",
    async () => {
      const [head, body] = await Promise.all([slowHead, slowBody]);
      for (const [what, x] of [["head", head], ["body", body]] as const) {
        assert.notEqual(x.ending, "timeout", `${what}: still open after 30 s`);
        assert.ok(x.elapsedMs < GATE_READ_DEADLINE_MS + 5_000, `${what}: ${x.elapsedMs} ms`);
        assert.equal(
          x.responses[0]?.status,
          408,
          `${what}: ${redactSecrets(x.responses[0]?.body ?? "")}`,
        );
      }
    },
  );

  await t.step("the gate and proxy still serve", async () => {
    const res = await fetch(`http://127.0.0.1:${world.proxyPort}${TOKEN_PATH}`, {
      headers: { "Metadata-Flavor": "Google" },
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    world.noteBody("proxy token", text);
    assert.equal(res.status, 200, text);
  });
  world.assertNoCrashes();
  await world.assertNoLeaks();
});
