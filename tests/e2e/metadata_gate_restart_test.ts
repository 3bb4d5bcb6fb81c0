/**
 * The proxy outlives the gate: killed or stopped, the gate's absence is bridged by cached tokens
 * and answered with a clear error where nothing is cached; a restarted gate is used again
 * without restarting the proxy.
 */
import assert from "node:assert/strict";
import { CLOUD_PLATFORM, metadataGet, type Stack, startStack } from "../metadata/stack.ts";

const TOKEN = "/computeMetadata/v1/instance/service-accounts/default/token";

async function token(stack: Stack, scopes?: string): Promise<Response> {
  return await metadataGet(stack, scopes ? `${TOKEN}?scopes=${encodeURIComponent(scopes)}` : TOKEN);
}

/** A scope set nothing has asked for yet, so the proxy has no token cached for it. */
function uncachedScopes(round: number): string {
  return `${CLOUD_PLATFORM},https://www.googleapis.com/auth/round-${round}`;
}

async function expectGateDown(
  stack: Stack,
  cached: string,
  reason: RegExp,
  round: number,
): Promise<void> {
  const started = performance.now();
  const res = await token(stack);
  assert.equal(res.status, 200, "the cached token is still served");
  assert.equal((await res.json()).access_token, cached);
  assert.ok(performance.now() - started < 2500, "served within the clients' 3 s budget");

  const fresh = await token(stack, uncachedScopes(round));
  assert.equal(fresh.status, 503, "nothing cached for these scopes");
  assert.equal(fresh.headers.get("metadata-flavor"), "Google");
  const body = await fresh.json();
  assert.match(body.error, new RegExp(`cannot reach the gate at ${stack.socketPath}`));
  assert.match(body.error, reason);
  assert.match(body.error, /authcalator gate/);

  const me = await metadataGet(stack, "/identity");
  assert.equal(me.status, 503);
  await me.body?.cancel();
}

async function expectRecovered(stack: Stack, cached: string, round: number): Promise<void> {
  const res = await token(stack, uncachedScopes(round));
  assert.equal(res.status, 200, "the restarted gate is reached without restarting the proxy");
  const body = await res.json();
  assert.match(body.access_token, /^ya29\./);
  const me = await metadataGet(stack, "/identity");
  assert.equal(me.status, 200);
  assert.match((await me.json()).email, /@/);
  const again = await token(stack);
  assert.equal((await again.json()).access_token, cached, "the cached default token lives on");
}

Deno.test("e2e: the proxy survives the gate being killed and restarted", async () => {
  await using stack = await startStack();
  const first = await token(stack);
  assert.equal(first.status, 200);
  const cached = (await first.json()).access_token as string;

  // A crash: SIGKILL leaves the socket file behind, so connections are refused.
  const killed = await stack.gate.stop("SIGKILL");
  assert.equal(killed.signal, "SIGKILL");
  await expectGateDown(stack, cached, /connection refused/, 1);
  await stack.startGate();
  await expectRecovered(stack, cached, 1);

  // A clean stop: the gate removes its socket.
  const stopped = await stack.gate.stop("SIGTERM");
  assert.equal(stopped.code, 0);
  await expectGateDown(stack, cached, /no such file or directory/, 2);
  await stack.startGate();
  await expectRecovered(stack, cached, 2);

  assert.match(stack.proxy.output(), /metadata-proxy listening on/);
  assert.equal(stack.proxy.output().match(/listening on/g)?.length, 1, "one proxy all along");
  assert.ok(!stack.proxy.output().includes(cached), "no token in the proxy's output");
});
