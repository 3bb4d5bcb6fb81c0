/**
 * Issue 7, defects 7 and 10 on the proxy side: the proxy's token cache is bounded whatever scopes
 * clients ask for, a slow gate's token is dated from when its answer arrived, and every proxy
 * header is refused like X-Forwarded-For on both the full app and the warm fast path.
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.ts";
import { PROXY_HEADERS } from "../../src/metadata/admission.ts";
import { createMetadataApp } from "../../src/metadata/app.ts";
import { GateClient } from "../../src/metadata/gate_client.ts";
import { hostAllowed } from "../../src/metadata/host_check.ts";
import { MetadataStore } from "../../src/metadata/store.ts";
import { defaultInstance } from "../../src/metadata/vm_tree.ts";
import { DEFAULT_MAX_TOKEN_ENTRIES } from "../../src/token_cache.ts";
import { FakeGate, json, latch } from "./fake_gate.ts";
import { getRequest, rawRequest } from "./raw_http.ts";

const SA = "dev-runner@demo-project.iam.gserviceaccount.com";
const CLOUD = "https://www.googleapis.com/auth/cloud-platform";
const TOKEN = "/computeMetadata/v1/instance/service-accounts/default/token";

interface Stack {
  gate: FakeGate;
  clock: ManualClock;
  client: GateClient;
  port: number;
  headers: Record<string, string>;
}

/** Fake gate on a Unix socket → real GateClient → metadata app on a real loopback listener. */
async function withStack(
  fn: (s: Stack) => Promise<void>,
  cache?: { maxEntries?: number; maxFetches?: number },
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const gate = new FakeGate(`${dir}/g.sock`).start();
  const clock = new ManualClock();
  const client = new GateClient({ socketPath: gate.socketPath, clock, cache });
  const store = new MetadataStore({
    projectId: "demo-project",
    serviceAccountEmail: SA,
    scopes: [CLOUD],
    instance: defaultInstance("demo-project"),
    projectAttributes: {},
  });
  const stop = new AbortController();
  let port = 0;
  const { handler } = createMetadataApp({
    backend: client,
    store,
    clock,
    stop: stop.signal,
    hostAllowed: (h) => hostAllowed(h, "127.0.0.1", port),
    log: () => {},
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  port = server.addr.port;
  const headers = { Host: `127.0.0.1:${port}`, "Metadata-Flavor": "Google" };
  try {
    await fn({ gate, clock, client, port, headers });
  } finally {
    stop.abort();
    await server.shutdown();
    client.close();
    await gate.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("defect 10: a slow gate's token is served with its full lifetime, not expires_in: 1", async () => {
  await withStack(async ({ gate, clock, port, headers }) => {
    // The gate takes 3599 s (of injected time) to answer a token valid 3600 s from its answer.
    gate.script.token = () => {
      clock.advance(3599_000);
      return json({ access_token: "ya29.slow", expires_in: 3600, token_type: "Bearer" });
    };
    const cold = await rawRequest(port, getRequest(TOKEN, headers));
    assert.equal(cold.status, 200);
    assert.deepEqual(JSON.parse(cold.body), {
      access_token: "ya29.slow",
      expires_in: 3600,
      token_type: "Bearer",
    });
    // The warm path serves the same token, counting down from the answer's arrival.
    clock.advance(10_000);
    const warm = await rawRequest(port, getRequest(TOKEN, headers));
    assert.equal(JSON.parse(warm.body).expires_in, 3590);
    assert.equal(gate.count("/token"), 1);
  });
});

Deno.test("defect 7: 3,000 distinct scope sets through the proxy stay within the cache bound", async () => {
  await withStack(async ({ gate, client }) => {
    for (let i = 0; i < 3000; i++) await client.token([`${CLOUD}.s${i}`]);
    assert.equal(gate.count("/token"), 3000);
    // The most recent DEFAULT_MAX_TOKEN_ENTRIES are served from the cache...
    await client.token([`${CLOUD}.s2999`]);
    await client.token([`${CLOUD}.s${3000 - DEFAULT_MAX_TOKEN_ENTRIES}`]);
    assert.equal(gate.count("/token"), 3000);
    // ...and the one just past the bound was evicted, so it costs a gate call again.
    await client.token([`${CLOUD}.s${2999 - DEFAULT_MAX_TOKEN_ENTRIES}`]);
    assert.equal(gate.count("/token"), 3001);
  });
});

Deno.test("the proxy's cache bound is configurable and a hit keeps a scope set cached", async () => {
  await withStack(async ({ gate, client }) => {
    await client.token([CLOUD]);
    for (let i = 0; i < 20; i++) {
      await client.token([`${CLOUD}.s${i}`]);
      assert.ok(client.cachedToken([CLOUD]), "the default scopes, used every time, stay");
    }
    await client.token([`${CLOUD}.s0`]); // evicted long ago: fetched again
    assert.equal(gate.count("/token"), 22);
  }, { maxEntries: 4 });
});

Deno.test("defect 10: Forwarded and X-Real-IP are refused like X-Forwarded-For, on every path", async () => {
  await withStack(async ({ gate, port, headers }) => {
    const warmUp = await rawRequest(port, getRequest(TOKEN, headers));
    assert.equal(warmUp.status, 200);
    const values: Record<string, string> = {
      "X-Forwarded-For": "10.0.0.1",
      "Forwarded": "for=10.0.0.1;proto=http",
      "X-Real-IP": "10.0.0.1",
    };
    assert.deepEqual(Object.keys(values).sort(), [...PROXY_HEADERS].sort());
    for (const name of PROXY_HEADERS) {
      // The warm fast path (default token), the full app (a query), a value, the bare root.
      for (
        const path of [TOKEN, `${TOKEN}?alt=json`, "/computeMetadata/v1/project/project-id", "/"]
      ) {
        for (const spelling of [name, name.toLowerCase()]) {
          const res = await rawRequest(
            port,
            getRequest(path, { ...headers, [spelling]: values[name] }),
          );
          assert.equal(res.status, 403, `${spelling} on ${path}`);
          assert.equal(res.headers.get("metadata-flavor"), "Google");
          assert.ok(res.body.includes(`Proxied requests (${name}) are not allowed.`), res.body);
          assert.ok(!res.body.includes("ya29."), "no token in a refusal");
        }
      }
    }
    assert.equal(gate.count("/token"), 1);
  });
});

Deno.test("the fast path's refusals are byte-identical to the full app's", async () => {
  await withStack(async ({ port, headers }) => {
    await rawRequest(port, getRequest(TOKEN, headers)); // warm the cache
    const cases: Record<string, string>[] = [
      { Host: `127.0.0.1:${port}` }, // no Metadata-Flavor
      { ...headers, "Metadata-Flavor": "google" },
      { ...headers, Host: "evil.example" },
      { ...headers, Forwarded: "for=1.2.3.4" },
    ];
    for (const h of cases) {
      // `?` alone keeps the path but takes the full app.
      const fast = await rawRequest(port, getRequest(TOKEN, h));
      const full = await rawRequest(port, getRequest(`${TOKEN}?`, h));
      assert.equal(fast.status, 403, JSON.stringify(h));
      assert.equal(fast.status, full.status);
      assert.equal(fast.body, full.body);
      for (const name of ["content-type", "metadata-flavor", "server", "content-length"]) {
        assert.equal(fast.headers.get(name), full.headers.get(name), name);
      }
    }
  });
});

Deno.test("past the bound on concurrent fetches a new scope set gets a clear 503, not a queue", async () => {
  await withStack(async ({ gate, port, headers }) => {
    const gateOpen = latch();
    gate.script.token = async () => {
      await gateOpen.wait;
      return json({ access_token: "ya29.held", expires_in: 3600, token_type: "Bearer" });
    };
    const held = rawRequest(port, getRequest(`${TOKEN}?scopes=${CLOUD}.a`, headers));
    // Wait (bounded) until the first fetch is at the gate, holding the only fetch slot.
    for (let i = 0; i < 200 && gate.count("/token") === 0; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(gate.count("/token"), 1);
    const refused = await rawRequest(port, getRequest(`${TOKEN}?scopes=${CLOUD}.b`, headers));
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("metadata-flavor"), "Google");
    assert.match(JSON.parse(refused.body).error, /too many different tokens are being fetched/);
    assert.equal(gate.count("/token"), 1, "the refused request never reached the gate");
    gateOpen.open();
    assert.equal(JSON.parse((await held).body).access_token, "ya29.held");
    const after = await rawRequest(port, getRequest(`${TOKEN}?scopes=${CLOUD}.b`, headers));
    assert.equal(after.status, 200, "the slot is free again");
  }, { maxFetches: 1 });
});
