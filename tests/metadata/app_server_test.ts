/** The metadata app on a real Deno.serve listener: what only a real socket shows. */
import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.ts";
import { createMetadataApp } from "../../src/metadata/app.ts";
import { hostAllowed } from "../../src/metadata/host_check.ts";
import { MetadataStore } from "../../src/metadata/store.ts";
import { defaultInstance } from "../../src/metadata/vm_tree.ts";
import { FakeBackend } from "./fakes.ts";
import { eventually, getRequest, rawRequest } from "./raw_http.ts";

const SA = "dev-runner@demo-project.iam.gserviceaccount.com";

async function withServer(
  fn: (port: number, waits: ReturnType<typeof createMetadataApp>["waits"]) => Promise<void>,
): Promise<void> {
  const clock = new ManualClock();
  const store = new MetadataStore({
    projectId: "demo-project",
    serviceAccountEmail: SA,
    scopes: ["https://www.googleapis.com/auth/cloud-platform"],
    instance: defaultInstance("demo-project"),
    projectAttributes: {},
  });
  const stop = new AbortController();
  let port = 0;
  const { handler, waits } = createMetadataApp({
    backend: new FakeBackend(clock),
    store,
    clock,
    stop: stop.signal,
    hostAllowed: (h) => hostAllowed(h, "127.0.0.1", port),
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  port = server.addr.port;
  try {
    await fn(port, waits);
  } finally {
    stop.abort();
    await server.shutdown();
  }
}

Deno.test("A9: Accept-Encoding never compresses or weakens the ETag (Cache-Control: no-transform)", async () => {
  await withServer(async (port) => {
    const path = "/computeMetadata/v1/instance/service-accounts/?recursive=true";
    const headers = { Host: `127.0.0.1:${port}`, "Metadata-Flavor": "Google" };
    const plain = await rawRequest(port, getRequest(path, headers));
    const gz = await rawRequest(
      port,
      getRequest(path, { ...headers, "Accept-Encoding": "gzip, br" }),
    );
    assert.ok(plain.body.length >= 64, "large enough to be compressed by default");
    for (const r of [plain, gz]) {
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("content-encoding"), null);
      assert.equal(
        r.headers.get("content-length"),
        String(new TextEncoder().encode(r.body).length),
      );
      assert.match(r.headers.get("etag")!, /^[0-9a-f]{16}$/);
    }
    assert.equal(gz.headers.get("etag"), plain.headers.get("etag"));
    assert.equal(gz.body, plain.body);
    // Errors too: the 404 page is HTML well over 64 bytes.
    const err = await rawRequest(
      port,
      getRequest("/computeMetadata/v1/nope", { ...headers, "Accept-Encoding": "gzip" }),
    );
    assert.equal(err.status, 404);
    assert.equal(err.headers.get("content-encoding"), null);
    assert.equal(err.headers.get("metadata-flavor"), "Google");
  });
});

Deno.test("raw requests: Host allowlist, missing Host, X-Forwarded-For, double slashes", async () => {
  await withServer(async (port) => {
    const flavor = { "Metadata-Flavor": "Google" };
    const rebinding = await rawRequest(port, getRequest("/", { Host: `evil.example:${port}` }));
    assert.equal(rebinding.status, 403);
    assert.equal(rebinding.headers.get("metadata-flavor"), "Google");
    const noHost = await rawRequest(port, "GET / HTTP/1.0\r\n\r\n");
    assert.equal(noHost.status, 403);
    const xff = await rawRequest(
      port,
      getRequest("/", { Host: "metadata.google.internal", "X-Forwarded-For": "10.0.0.1" }),
    );
    assert.equal(xff.status, 403);
    const slashes = await rawRequest(
      port,
      getRequest("//computeMetadata//v1//project//project-id", { Host: "metadata", ...flavor }),
    );
    assert.equal(slashes.status, 200);
    assert.equal(slashes.body, "demo-project");
    const redirect = await rawRequest(
      port,
      getRequest("/computeMetadata/v1?recursive=true", { Host: "169.254.169.254", ...flavor }),
    );
    assert.equal(redirect.status, 301);
    assert.equal(
      redirect.headers.get("location"),
      "http://169.254.169.254/computeMetadata/v1/?recursive=true",
    );
  });
});

Deno.test("a hanging wait_for_change is released when the client disconnects", async () => {
  await withServer(async (port, waits) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode(getRequest(
      "/computeMetadata/v1/project/project-id?wait_for_change=true&timeout_sec=3600",
      { Host: `127.0.0.1:${port}`, "Metadata-Flavor": "Google" },
    )));
    await eventually(() => waits.active === 1, "the request to hang");
    conn.close();
    await eventually(() => waits.active === 0, "the waiter to be released");
  });
});

Deno.test("the warm-token fast path answers exactly what the full app answers", async () => {
  await withServer(async (port) => {
    const base = "/computeMetadata/v1/instance/service-accounts/default/token";
    const headers = { Host: `127.0.0.1:${port}`, "Metadata-Flavor": "Google" };
    // The first request warms the cache through the full app; `?alt=json` always takes it.
    const cold = await rawRequest(port, getRequest(base, headers));
    const fast = await rawRequest(port, getRequest(base, headers));
    const full = await rawRequest(port, getRequest(`${base}?alt=json`, headers));
    for (const r of [cold, fast]) {
      assert.equal(r.status, full.status);
      assert.equal(r.body, full.body);
      for (
        const name of [
          "content-type",
          "metadata-flavor",
          "server",
          "cache-control",
          "x-frame-options",
          "x-xss-protection",
          "content-length",
        ]
      ) {
        assert.equal(r.headers.get(name), full.headers.get(name), name);
      }
    }
    // The fast path keeps every refusal of the full app.
    const noFlavor = await rawRequest(port, getRequest(base, { Host: `127.0.0.1:${port}` }));
    assert.equal(noFlavor.status, 403);
    const proxied = await rawRequest(
      port,
      getRequest(base, { ...headers, "X-Forwarded-For": "1.2.3.4" }),
    );
    assert.equal(proxied.status, 403);
    const rebound = await rawRequest(port, getRequest(base, { ...headers, Host: "evil.example" }));
    assert.equal(rebound.status, 403);
  });
});
