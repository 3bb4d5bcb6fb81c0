/**
 * Issue 11, "Safety rules" and "Bad input", through the real chain (routes_port → gate → fake
 * upstream over HTTPS with the test CA), driven by curl and fetch. Each case checks the answer AND
 * the fake upstream's own request log (what must never reach it did not), and the leak grep.
 */
import assert from "node:assert/strict";
import { type RouteChain, startRouteChain } from "./fakes/route_chain.ts";
import { curl, type CurlResult } from "./fakes/curl.ts";
import { waitFor, within } from "./fakes/wait.ts";

/** The gate's answer when it refused: a 4xx/5xx that names no host path. */
function assertRefused(rc: RouteChain, r: CurlResult, statuses: number[], what: string) {
  rc.seen.push(r.head, r.body);
  assert.ok(statuses.includes(r.status), `${what}: got ${r.status} ${r.body}`);
  assert.ok(!r.body.includes(rc.dir), `${what}: a host path in the answer`);
}

Deno.test("routes safety: unknown route, traversal, encoded slashes, //host and absolute-form never reach an upstream", async () => {
  await using rc = await startRouteChain();
  const before = rc.api.log.length + rc.git.log.length + rc.registry.log.length;
  const base = rc.routesUrl;
  assertRefused(rc, await curl(`${base}/nosuchroute/x`), [404], "unknown route");
  for (
    const path of [
      "/anthropic/../npm/x",
      "/anthropic/v1/../../npm/x",
      "/anthropic/%2e%2e/npm/x",
      "/anthropic/v1%2f..%2f..%2fnpm",
      "/anthropic/v1%2F..%2Fx",
      "/anthropic//evil.example/x",
      "/..%2fanthropic/v1/messages",
      "/%2e%2e/anthropic/x",
      "//evil.example/anthropic/x",
    ]
  ) {
    assertRefused(rc, await curl(`${base}${path}`), [400, 403, 404], path);
  }
  const absolute = await curl(base, ["--request-target", "http://evil.example/anthropic/x"]);
  assertRefused(rc, absolute, [400, 403, 404], "absolute-form target");
  const after = rc.api.log.length + rc.git.log.length + rc.registry.log.length;
  assert.equal(after, before, "no refused request reached an upstream");
  assert.deepEqual(await rc.leaks(), []);
});

Deno.test("routes safety: the client's own credential headers are dropped; an upstream reflecting the credential does not get it back to the client", async () => {
  await using rc = await startRouteChain();
  const r = await curl(`${rc.route("anthropic")}/echo`, [
    "-H",
    "Authorization: Bearer client-supplied-token",
    "-H",
    "x-api-key: client-supplied-key",
    "-H",
    "Proxy-Authorization: Basic Y2xpZW50OmtleQ==",
    "-H",
    "Cookie: session=client-cookie",
  ]);
  // The body is the upstream's own words (it echoes what it got): only the head is the gate's.
  rc.seen.push(r.head);
  const upstream = rc.api.log.find((e) => e.target === "/echo");
  assert.ok(upstream, "the call reached the upstream");
  assert.equal(upstream.headers["x-api-key"], rc.secrets.anthropic);
  assert.equal(upstream.headers.authorization, undefined);
  assert.equal(upstream.headers["proxy-authorization"], undefined);
  assert.ok(!JSON.stringify(upstream.headers).includes("client-supplied"));
  // The reflected credential never reaches the client (header dropped or value redacted).
  assert.ok(!r.head.includes(rc.secrets.anthropic), "credential in a response header");
  assert.deepEqual(await rc.leaks(), []);
});

Deno.test("routes bad input: upstream down, upstream never answering, reset mid-stream, body over the limit", async () => {
  await using rc = await startRouteChain({
    extraConfig: ({ dir, caFile, apiOrigin }) => {
      const credential = `credential_file = ${JSON.stringify(`${dir}/secrets/anthropic`)}`;
      return [
        "[routes.down]",
        // A port nothing listens on (the fixture's own CA is still trusted).
        `upstream = "https://127.0.0.1:9"`,
        'auth = "bearer"',
        credential,
        `ca_file = ${JSON.stringify(caFile)}`,
        "",
        "[routes.small]",
        'preset = "anthropic"',
        `upstream = ${JSON.stringify(apiOrigin)}`,
        credential,
        `ca_file = ${JSON.stringify(caFile)}`,
        "max_request_bytes = 1024",
        "",
        "[routes.slow]",
        'preset = "anthropic"',
        `upstream = ${JSON.stringify(apiOrigin)}`,
        credential,
        `ca_file = ${JSON.stringify(caFile)}`,
        "headers_timeout_seconds = 2",
        "",
      ].join("\n");
    },
  });
  assertRefused(rc, await curl(`${rc.route("down")}/x`), [502, 503, 504], "upstream down");

  // Headers timeout (2 s on this route; curl's own bound is 30 s): the gate answers 504 or 502.
  const started = Date.now();
  const hang = await curl(`${rc.route("slow")}/hang`);
  assertRefused(rc, hang, [502, 504], "upstream never answers");
  assert.ok(Date.now() - started < 30_000);

  // Reset mid-stream: the client sees the stream fail, not a clean end.
  const reset = await fetch(`${rc.route("anthropic")}/reset`);
  const reader = reset.body!.getReader();
  const first = await reader.read();
  assert.match(new TextDecoder().decode(first.value), /event: ping/);
  rc.api.resetStreams();
  await assert.rejects(async () => {
    while (!(await reader.read()).done) { /* drain until the error */ }
  });

  // Over the route's request-body limit: 413, and nothing reaches the upstream.
  const big = await curl(`${rc.route("small")}/upload`, [
    "--data-binary",
    "x".repeat(4096),
    "-H",
    "content-type: application/octet-stream",
  ]);
  assertRefused(rc, big, [413], "request body over the limit");
  assert.ok(!rc.api.log.some((e) => e.target === "/upload"), "the big body never went upstream");
  assert.deepEqual(await rc.leaks(), []);
});

Deno.test("routes bad input: a client that disconnects mid-stream cancels the upstream request", async () => {
  await using rc = await startRouteChain();
  const reached = rc.api.hold();
  const controller = new AbortController();
  const response = await fetch(`${rc.route("openai")}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-fake", stream: true, messages: [] }),
    signal: controller.signal,
  });
  assert.equal(response.status, 200);
  await within(reached, 15_000, "the upstream stream reaching its pause");
  const reader = response.body!.getReader();
  await reader.read();
  controller.abort();
  await reader.cancel().catch(() => {});
  await waitFor(() => rc.api.cancelledStreams() === 1, 15_000);
  assert.equal(rc.api.completedStreams(), 0);
  rc.api.release();
  assert.deepEqual(await rc.leaks(), []);
});

Deno.test("routes bad input: a credential source that is missing, empty, loose, failing, hanging or silent is refused per call without naming it", async () => {
  const cases = {
    "missing-file": ({ dir }: { dir: string }) =>
      `credential_file = ${JSON.stringify(`${dir}/secrets/no-such-file`)}`,
    "empty-file": ({ dir }: { dir: string }) =>
      `credential_file = ${JSON.stringify(`${dir}/empty-secret`)}`,
    "loose-file": ({ dir }: { dir: string }) =>
      `credential_file = ${JSON.stringify(`${dir}/loose-secret`)}`,
    "missing-env": () => 'credential_env = "AUTHCALATOR_TEST_NO_SUCH_CREDENTIAL"',
    "failing-command": () => 'credential_command = ["false"]',
    "hanging-command": () => 'credential_command = ["sleep", "60"]\ncredential_timeout_seconds = 1',
    "silent-command": () => 'credential_command = ["true"]',
  } as const;
  await using rc = await startRouteChain({
    extraConfig: (paths) => {
      Deno.writeTextFileSync(`${paths.dir}/empty-secret`, "", { mode: 0o600 });
      Deno.writeTextFileSync(`${paths.dir}/loose-secret`, "sk-loose-secret\n", { mode: 0o644 });
      Deno.chmodSync(`${paths.dir}/loose-secret`, 0o644);
      return Object.entries(cases).map(([name, source]) =>
        [
          `[routes.${name}]`,
          'upstream = "https://127.0.0.1:1"',
          'auth = "bearer"',
          `ca_file = ${JSON.stringify(paths.caFile)}`,
          source(paths),
          "",
        ].join("\n")
      ).join("\n");
    },
  });
  for (const name of Object.keys(cases)) {
    const started = Date.now();
    const r = await curl(`${rc.route(name)}/x`);
    assertRefused(rc, r, [502, 503], name);
    assert.ok(Date.now() - started < 20_000, `${name}: bounded`);
    assert.ok(!r.body.includes("sk-loose-secret"), `${name}: the value in the answer`);
  }
  assert.ok(!rc.chain.gate.output().includes("sk-loose-secret"));
  assert.deepEqual(await rc.leaks(), []);
});

Deno.test("routes safety: an upstream redirect is handed to the client, never followed with the credential; hop-by-hop fields stay on their hop", async () => {
  await using rc = await startRouteChain();
  const elsewhere = `${rc.git.origin}/stolen`;
  const r = await curl(`${rc.route("anthropic")}/redirect?to=${encodeURIComponent(elsewhere)}`, [
    "-H",
    "Connection: keep-alive, x-hop-secret",
    "-H",
    "x-hop-secret: only-for-the-next-hop",
    "-H",
    "Keep-Alive: timeout=5",
    "-H",
    "TE: trailers",
    "-H",
    "Upgrade: websocket",
  ]);
  rc.seen.push(r.head, r.body);
  assert.equal(r.status, 302, r.head);
  assert.ok(!rc.git.log.some((e) => e.target === "/stolen"), "the redirect was followed");
  const upstream = rc.api.log.find((e) => e.target.startsWith("/redirect"));
  assert.ok(upstream, "the call reached the upstream");
  for (const name of ["x-hop-secret", "keep-alive", "te", "upgrade"]) {
    assert.equal(upstream.headers[name], undefined, `${name} crossed a hop`);
  }
  assert.deepEqual(await rc.leaks(), []);
});

Deno.test("routes bad input: a slow stream that keeps moving is never cut; one that stops is cut after the route's idle time, and the upstream request is cancelled", async () => {
  await using rc = await startRouteChain({
    extraConfig: ({ dir, caFile, apiOrigin }) =>
      [
        "[routes.idle]",
        'preset = "anthropic"',
        `upstream = ${JSON.stringify(apiOrigin)}`,
        `credential_file = ${JSON.stringify(`${dir}/secrets/anthropic`)}`,
        `ca_file = ${JSON.stringify(caFile)}`,
        "idle_timeout_seconds = 1",
        "headers_timeout_seconds = 1",
        "",
      ].join("\n"),
  });
  // Slow but moving (an event every 400 ms for 3.2 s): longer than both waits, never cut.
  const paced = await fetch(`${rc.route("idle")}/paced?n=8&ms=400`);
  const events = (await paced.text()).split("\n\n").filter((e) => e.startsWith("data:"));
  assert.equal(events.length, 8, "a stream making progress has no deadline");

  const started = Date.now();
  const response = await fetch(`${rc.route("idle")}/stall`);
  assert.equal(response.status, 200);
  const reader = response.body!.getReader();
  assert.match(new TextDecoder().decode((await reader.read()).value), /event: ping/);
  // The stream then ends in an error (not a clean end) once the idle time has passed, bounded.
  await within(
    assert.rejects(async () => {
      while (!(await reader.read()).done) { /* until the cut */ }
    }),
    20_000,
    "the idle cut",
  ).catch(async (error) => {
    await reader.cancel().catch(() => {});
    throw error;
  });
  assert.ok(Date.now() - started >= 900, "cut before the idle time");
  await waitFor(() => rc.api.cancelledStreams() === 1, 15_000);
  assert.deepEqual(await rc.leaks(), []);
});
