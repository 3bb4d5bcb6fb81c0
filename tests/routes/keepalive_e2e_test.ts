/**
 * Routed calls back to back: requests with bodies (sized and chunked, as the container proxy
 * sends them) on the reused proxy → gate connection each reach the upstream whole. Reproduces the
 * defect real git and the OpenAI SDK hit (a clone's second POST answered 400 "malformed request
 * line": the gate's connection reader left the end of a chunked body behind).
 */
import assert from "node:assert/strict";
import { startRouteChain } from "./fakes/route_chain.ts";

/** Requests in a row (bounded; a race in the connection reader shows within a few dozen). */
const ROUNDS = 30;

Deno.test("routes keep-alive: requests with bodies back to back on reused connections all reach the upstream whole", async () => {
  await using rc = await startRouteChain();
  for (let i = 0; i < ROUNDS; i++) {
    const body = "y".repeat(100 + (i % 8) * 1000);
    const res = await fetch(`${rc.route("anthropic")}/upload`, { method: "POST", body });
    const text = await res.text();
    rc.seen.push(text);
    assert.equal(res.status, 200, `request ${i}: ${text}`);
    assert.equal(text, `received ${body.length}\n`);
  }
  assert.equal(rc.api.log.filter((e) => e.target === "/upload").length, ROUNDS);
  // The same on the gate's socket itself, the body chunked, two requests on one connection.
  for (const framing of [[], ["-H", "transfer-encoding: chunked"]].flatMap((f) => [f, f, f, f])) {
    const one = [
      "--silent",
      "--max-time",
      "20",
      "--unix-socket",
      rc.chain.socketPath,
      "-H",
      "x-route-target: /upload",
      ...framing,
      "--data-binary",
      "hello",
      "http://gate/routes/anthropic",
    ];
    const out = await new Deno.Command("curl", {
      args: [...one, "--next", ...one],
      stdin: "null",
      signal: AbortSignal.timeout(30_000),
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    rc.seen.push(text);
    assert.equal(text, "received 5\nreceived 5\n", `framing ${framing.join(" ") || "length"}`);
  }
  assert.deepEqual(await rc.leaks(), []);
});
