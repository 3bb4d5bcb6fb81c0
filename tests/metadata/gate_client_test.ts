import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.ts";
import { HttpError } from "../../src/errors.ts";
import { GateClient, jwtExpiry } from "../../src/metadata/gate_client.ts";
import { FakeGate, json, latch } from "./fake_gate.ts";
import { b64url } from "./fakes.ts";

const CLOUD = "https://www.googleapis.com/auth/cloud-platform";

interface Setup {
  dir: string;
  gate: FakeGate;
  clock: ManualClock;
  client: GateClient;
}

async function withGate(
  fn: (s: Setup) => Promise<void>,
  options: { staleWaitMs?: number; tokenTimeoutMs?: number } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const gate = new FakeGate(`${dir}/g.sock`).start();
  const clock = new ManualClock();
  const client = new GateClient({
    socketPath: gate.socketPath,
    clock,
    staleWaitMs: options.staleWaitMs,
    timeouts: options.tokenTimeoutMs ? { token: options.tokenTimeoutMs } : undefined,
  });
  try {
    await fn({ dir, gate, clock, client });
  } finally {
    client.close();
    await gate.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

function isHttpError(status: number, message?: RegExp) {
  return (err: unknown) =>
    err instanceof HttpError && err.status === status && (!message || message.test(err.message));
}

Deno.test("health answers the gate's status", async () => {
  await withGate(async ({ client }) => {
    assert.deepEqual(await client.health(), { status: "ok", uptime_seconds: 1 });
  });
});

Deno.test("tokens: scopes URL-encoded and comma-joined; cached until the adaptive refresh point", async () => {
  await withGate(async ({ gate, clock, client }) => {
    const scopes = [CLOUD, "https://www.googleapis.com/auth/userinfo.email"];
    const a = await client.token(scopes);
    assert.equal(a.accessToken, "ya29.gate-1");
    assert.equal(a.expiresAt, clock.now() + 3600_000);
    assert.equal(
      gate.seen[0].query,
      `?scopes=${scopes.map(encodeURIComponent).join(",")}`,
    );
    clock.advance(54 * 60_000); // a 1 h token refreshes 5 min before expiry
    assert.equal((await client.token(scopes)).accessToken, "ya29.gate-1");
    assert.equal(gate.count("/token"), 1);
    clock.advance(61_000);
    assert.equal((await client.token(scopes)).accessToken, "ya29.gate-2");
    assert.equal(gate.count("/token"), 2);
    // Another scope set is another cache entry.
    assert.equal((await client.token([CLOUD])).accessToken, "ya29.gate-3");
  });
});

Deno.test("concurrent misses share one gate call", async () => {
  await withGate(async ({ gate, client }) => {
    const gateOpen = latch();
    gate.script.token = async () => {
      await gateOpen.wait;
      return json({ access_token: "ya29.shared", expires_in: 600, token_type: "Bearer" });
    };
    const all = Promise.all(Array.from({ length: 5 }, () => client.token([CLOUD])));
    gateOpen.open();
    const tokens = await all;
    assert.ok(tokens.every((t) => t.accessToken === "ya29.shared"));
    assert.equal(gate.count("/token"), 1);
  });
});

Deno.test("gate gone: cached tokens are served until they expire, then a clear 503; recovery without restart", async () => {
  await withGate(async ({ gate, clock, client }) => {
    const first = await client.token([CLOUD]);
    await gate.stop();
    clock.advance(3500_000); // past the refresh point, before expiry
    assert.equal((await client.token([CLOUD])).accessToken, first.accessToken);
    clock.advance(99_500); // 500 ms left: too little to hand out
    await assert.rejects(client.token([CLOUD]), (err) => {
      assert.ok(err instanceof HttpError);
      assert.equal(err.status, 503);
      assert.match(err.message, /cannot reach the gate at .*g\.sock \(no such file or directory\)/);
      assert.match(err.message, /authcalator gate/);
      assert.ok(!err.message.includes("scopes="), "no URL or query in the message");
      assert.ok(!err.message.includes(first.accessToken));
      return true;
    });
    gate.start();
    assert.equal((await client.token([CLOUD])).accessToken, "ya29.gate-2");
  });
});

Deno.test("a slow refresh does not hold clients while a cached token is still valid", async () => {
  await withGate(async ({ gate, clock, client }) => {
    await client.token([CLOUD]);
    const gateOpen = latch();
    gate.script.token = async () => {
      await gateOpen.wait;
      return json({ access_token: "ya29.late", expires_in: 3600, token_type: "Bearer" });
    };
    clock.advance(3500_000);
    const t = await client.token([CLOUD]);
    assert.equal(t.accessToken, "ya29.gate-1");
    gateOpen.open();
    await new Promise((r) => setTimeout(r, 0));
    // The refresh finished in the background and is now the cached token.
    for (let i = 0; i < 50 && (await client.token([CLOUD])).accessToken !== "ya29.late"; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal((await client.token([CLOUD])).accessToken, "ya29.late");
  }, { staleWaitMs: 30 });
});

Deno.test("every gate call is bounded by its deadline", async () => {
  await withGate(async ({ gate, client }) => {
    const gateOpen = latch();
    gate.script.token = async () => {
      await gateOpen.wait;
      return json({ access_token: "x", expires_in: 1 });
    };
    await assert.rejects(
      client.token([CLOUD]),
      isHttpError(504, /did not answer within 50 ms while asking the gate for an access token/),
    );
    gateOpen.open();
  }, { tokenTimeoutMs: 50 });
});

Deno.test("gate errors keep status, message and code; malformed answers are 502", async () => {
  await withGate(async ({ gate, client }) => {
    gate.script.token = () =>
      json({ error: "ADC needs re-authentication on host h", code: "credentials_expired" }, 500);
    await assert.rejects(client.token([CLOUD]), (err) => {
      assert.ok(err instanceof HttpError);
      assert.deepEqual([err.status, err.message, err.code], [
        500,
        "ADC needs re-authentication on host h",
        "credentials_expired",
      ]);
      return true;
    });
    gate.script.token = () => new Response("<html>oops</html>", { status: 502 });
    await assert.rejects(client.token([CLOUD]), isHttpError(502, /the gate answered 502/));
    gate.script.token = () => json({ access_token: "", expires_in: 3600 });
    await assert.rejects(client.token([CLOUD]), isHttpError(502, /no access_token/));
    gate.script.token = () => json({ access_token: "t", expires_in: 0 });
    await assert.rejects(client.token([CLOUD]), isHttpError(502, /expires_in/));
    gate.script.token = () => json({ access_token: "t" });
    const t = await client.token([CLOUD]);
    assert.equal(t.accessToken, "t", "missing expires_in means 3600 s");
  });
});

Deno.test("a gate's Retry-After (Google rate-limiting it) is relayed; anything but whole seconds is dropped", async () => {
  await withGate(async ({ gate, client }) => {
    const limited = (retryAfter: string) => () =>
      new Response(JSON.stringify({ error: "rate limited", code: "google_rate_limited" }), {
        status: 429,
        headers: { "content-type": "application/json", "retry-after": retryAfter },
      });
    gate.script.token = limited("7");
    await assert.rejects(client.token([CLOUD]), (err) => {
      assert.ok(err instanceof HttpError);
      assert.deepEqual([err.status, err.code, err.headers], [429, "google_rate_limited", {
        "retry-after": "7",
      }]);
      return true;
    });
    for (const bad of ["soon", "-1", "1.5", "Wed, 21 Oct 2015 07:28:00 GMT", "9999999"]) {
      gate.script.token = limited(bad);
      await assert.rejects(client.token([CLOUD]), (err) => {
        assert.ok(err instanceof HttpError && err.status === 429, bad);
        assert.deepEqual(err.headers, {}, `Retry-After ${bad} is not relayed`);
        return true;
      });
    }
  });
});

Deno.test("identity tokens: audience and format passed on, cached until near exp", async () => {
  await withGate(async ({ gate, clock, client }) => {
    const exp = Math.floor(clock.now() / 1000) + 3600;
    let n = 0;
    gate.script.idToken = (q) =>
      json({ id_token: `h.${b64url({ aud: q.get("audience"), exp, n: ++n })}.s` });
    const aud = "https://svc.example/a b?c=d";
    const a = await client.idToken(aud, "full");
    assert.equal(gate.seen.at(-1)!.query, `?audience=${encodeURIComponent(aud)}&format=full`);
    assert.equal(await client.idToken(aud, "full"), a);
    assert.notEqual(await client.idToken(aud, "standard"), a);
    assert.equal(gate.count("/id-token"), 2);
    clock.advance(56 * 60_000);
    assert.notEqual(await client.idToken(aud, "full"), a);
    assert.equal(gate.count("/id-token"), 3);
  });
});

Deno.test("an old gate without /id-token gives a clear 404; a 400 passes through", async () => {
  await withGate(async ({ gate, client }) => {
    gate.script.idToken = () => json({ error: "Not found" }, 404);
    await assert.rejects(
      client.idToken("x", "standard"),
      isHttpError(404, /^identity tokens are not supported by this gate$/),
    );
    gate.script.idToken = () => json({ error: "audience is required" }, 400);
    await assert.rejects(client.idToken("x", "standard"), isHttpError(400, /audience/));
  });
});

Deno.test("project number and universe are asked once; a failure lets the next call retry", async () => {
  await withGate(async ({ gate, client }) => {
    gate.script.projectNumber = () => json({ error: "boom" }, 503);
    await assert.rejects(client.projectNumber(), isHttpError(503, /boom/));
    gate.script.projectNumber = () => json({ project_number: "12x" });
    await assert.rejects(client.projectNumber(), isHttpError(502, /not numeric/));
    gate.script.projectNumber = undefined;
    const [a, b] = await Promise.all([client.projectNumber(), client.projectNumber()]);
    assert.equal(a, "123456789012");
    assert.equal(b, a);
    assert.equal(await client.projectNumber(), a);
    assert.equal(gate.count("/project-number"), 3);
    assert.equal(await client.universeDomain(), "googleapis.com");
    assert.equal(await client.universeDomain(), "googleapis.com");
    assert.equal(gate.count("/universe-domain"), 1);
    assert.equal(await client.identityEmail(), "engineer@example.com");
  });
});

Deno.test("a socket path with nothing listening is a 503 naming the path", async () => {
  const dir = await Deno.makeTempDir();
  const client = new GateClient({ socketPath: `${dir}/none.sock` });
  try {
    await assert.rejects(
      client.health(),
      isHttpError(503, /none\.sock \(no such file or directory\)/),
    );
  } finally {
    client.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jwtExpiry reads exp from base64url payloads and refuses malformed ones", () => {
  assert.equal(jwtExpiry(`a.${b64url({ exp: 10 })}.c`), 10_000);
  assert.equal(jwtExpiry("a.b"), undefined);
  assert.equal(jwtExpiry("a.!!!.c"), undefined);
  assert.equal(jwtExpiry(`a.${b64url({ exp: "10" })}.c`), undefined);
});
