/**
 * Defect 1 of issue 7: Google faults must never wedge the gate. Each test injects a fault in the
 * emulator, sees the one failed request it may cost, and proves the very next request succeeds,
 * through the real GoogleTokenService, google-auth-library and sockets. Deadlines are short
 * (400 ms) so a wedge shows in well under a second; every wait is bounded by them.
 */
import assert from "node:assert/strict";
import { HttpError } from "../../src/errors.ts";
import type { ApiName } from "../../src/emulator/mod.ts";
import { DEV_TOKEN_CACHE_BOUNDS, type GoogleTokenService } from "../../src/gate/google_tokens.ts";
import { ADC_TARGET, CLOUD, failure, KEY_SA, world } from "./google_world.ts";

const DEADLINE_MS = 400;
/** Slack over the deadline for a loaded 2-core machine; a wedge costs a whole extra deadline. */
const SLACK_MS = 350;

/** Asserts the message the container would get holds no internal URL, address or host path. */
function assertNothingInternal(err: HttpError, baseUrl: string, dir: string) {
  for (const leak of [baseUrl, "127.0.0.1", dir, "adc.json", "http://"]) {
    assert.ok(!err.message.includes(leak), `"${leak}" leaked: ${err.message}`);
  }
}

Deno.test("hang on the OAuth token endpoint during an ADC refresh: one 504 at the deadline, the next request succeeds", () =>
  world(async ({ emulator, service, dir }) => {
    const tokens = await service(emulator.authorizedUserAdc(), DEADLINE_MS);
    emulator.faults.hangNext("token");
    const { err, ms } = await failure(tokens.devToken([CLOUD], 600));
    assert.ok(err instanceof HttpError, String(err));
    assert.equal(err.status, 504);
    assert.equal(err.code, "google_timeout");
    assert.match(err.message, /Google did not answer in time while minting a dev token/);
    assert.ok(ms < DEADLINE_MS + SLACK_MS, `failed after ${ms} ms`);
    assertNothingInternal(err, emulator.baseUrl, dir);
    // Before the fix, this joined the hung refresh and failed at the deadline too, for minutes.
    const t0 = performance.now();
    const next = await tokens.devToken([CLOUD], 600);
    assert.match(next.accessToken, /^ya29\./);
    assert.ok(performance.now() - t0 < DEADLINE_MS, "recovered without waiting a deadline");
    // The hung exchange was cancelled: the gate closed the connection the emulator held.
    for (const until = Date.now() + 2_000; emulator.heldConnections() > 0 && Date.now() < until;) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(emulator.heldConnections(), 0, "the hung connection was closed by the gate");
  }));

Deno.test("hang on the refresh under every entry point: identity, project number, ID and prod token recover", () =>
  world(async ({ emulator, service }) => {
    const calls: [string, (t: GoogleTokenService) => Promise<unknown>][] = [
      ["identity", (t) => t.identityEmail()],
      ["project number", (t) => t.projectNumber()],
      ["ID token", (t) => t.idToken("https://svc.example", true)],
      ["prod token", (t) => t.prodToken([CLOUD], 300)],
    ];
    for (const [name, callOn] of calls) {
      // A fresh service: its first call refreshes the ADC.
      const tokens = await service(emulator.authorizedUserAdc(), DEADLINE_MS);
      const call = () => callOn(tokens);
      emulator.faults.hangNext("token");
      const { err } = await failure(call());
      assert.equal(err.status, 504, `${name}: ${err.message}`);
      await call(); // the very next request succeeds
    }
  }));

Deno.test("impersonated_service_account ADC (UserRefreshClient wrapped by Impersonated): a hung refresh does not wedge prod tokens", () =>
  world(async ({ emulator, service }) => {
    const tokens = await service(emulator.impersonatedAdc(ADC_TARGET), DEADLINE_MS);
    emulator.faults.hangNext("token");
    assert.equal((await failure(tokens.prodToken([CLOUD], 300))).err.status, 504);
    assert.match((await tokens.prodToken([CLOUD], 300)).accessToken, /^ya29\./);
    emulator.faults.hangNext("generateAccessToken");
    assert.equal((await failure(tokens.devToken([CLOUD], 600))).err.status, 504);
    assert.match((await tokens.devToken([CLOUD], 600)).accessToken, /^ya29\./);
  }));

Deno.test("a connection reset on the refresh or on generateAccessToken is retried once within the deadline", () =>
  world(async ({ emulator, service }) => {
    const tokens = await service(emulator.authorizedUserAdc(), DEADLINE_MS);
    emulator.faults.resetNext("token");
    emulator.faults.resetNext("generateAccessToken");
    const t = await tokens.devToken([CLOUD], 600);
    assert.match(t.accessToken, /^ya29\./);
    const resets = emulator.requests().filter((e) => e.fault === "reset").map((e) => e.api);
    assert.deepEqual(resets, ["token", "generateAccessToken"]);
  }));

Deno.test("resets that outlast the retry cost one failed request (502, no address or URL), then recovery", () =>
  world(async ({ emulator, service, dir }) => {
    const tokens = await service(emulator.authorizedUserAdc(), DEADLINE_MS);
    await tokens.devToken([CLOUD], 600);
    // Deno's fetch itself retries once on a pooled connection that closes; then ours retries.
    emulator.faults.resetNext("generateAccessToken", 4);
    const { err, ms } = await failure(tokens.devToken(["https://x.example/scope"], 600));
    assert.equal(err.status, 502);
    assert.equal(err.code, "google_unreachable");
    assert.match(err.message, /Could not reach Google while minting a dev token/);
    assert.ok(ms < DEADLINE_MS + SLACK_MS, `failed after ${ms} ms`);
    assertNothingInternal(err, emulator.baseUrl, dir);
    emulator.faults.clear();
    assert.match((await tokens.devToken(["https://x.example/scope"], 600)).accessToken, /^ya29\./);
  }));

Deno.test("a body that stalls after the headers (slow body) ends at the deadline and does not wedge", () =>
  world(async ({ emulator, service }) => {
    const tokens = await service(emulator.authorizedUserAdc(), DEADLINE_MS);
    emulator.faults.stallBody("token");
    const { err, ms } = await failure(tokens.devToken([CLOUD], 600));
    assert.equal(err.status, 504);
    assert.ok(ms < DEADLINE_MS + SLACK_MS, `failed after ${ms} ms`);
    assert.match((await tokens.devToken([CLOUD], 600)).accessToken, /^ya29\./);
  }));

Deno.test("concurrent callers of a hung refresh all fail at the deadline; the next wave succeeds", () =>
  world(async ({ emulator, service }) => {
    const tokens = await service(emulator.authorizedUserAdc(), DEADLINE_MS);
    emulator.faults.hangNext("token");
    const wave = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => tokens.devToken([`https://s${i}.example/x`], 600)),
    );
    assert.ok(wave.every((r) => r.status === "rejected"));
    const statuses = new Set(
      wave.map((r) => ((r as PromiseRejectedResult).reason as HttpError).status),
    );
    assert.ok([...statuses].every((s) => s === 504 || s === 502), [...statuses].join(","));
    const next = await Promise.all(
      Array.from({ length: 10 }, (_, i) => tokens.devToken([`https://s${i}.example/x`], 600)),
    );
    assert.equal(next.length, 10);
  }));

Deno.test("the dev-token cache is bounded: a flood of distinct scope sets keeps at most 256 tokens", () =>
  world(async ({ emulator, service }) => {
    const tokens = await service(emulator.authorizedUserAdc(), 5_000);
    const first = await tokens.devToken(["https://s0.example/x"], 600);
    for (let i = 1; i <= DEV_TOKEN_CACHE_BOUNDS.maxEntries; i++) {
      await tokens.devToken([`https://s${i}.example/x`], 600);
    }
    // The least recently used entry (the first) was evicted: asking again mints anew.
    const before = emulator.calls("generateAccessToken");
    const again = await tokens.devToken(["https://s0.example/x"], 600);
    assert.equal(emulator.calls("generateAccessToken"), before + 1);
    assert.notEqual(again.accessToken, first.accessToken);
  }));

Deno.test("a hang on tokeninfo, Resource Manager or generateIdToken is one 504 at the deadline, then recovery", () =>
  world(async ({ emulator, service }) => {
    const tokens = await service(emulator.authorizedUserAdc(), DEADLINE_MS);
    await tokens.devToken([CLOUD], 600); // the ADC refresh is done and cached
    const calls: [ApiName, () => Promise<unknown>][] = [
      ["tokeninfo", () => tokens.identityEmail()],
      ["getProject", () => tokens.projectNumber()],
      ["generateIdToken", () => tokens.idToken("https://svc.example", true)],
    ];
    for (const [api, call] of calls) {
      emulator.faults.hangNext(api);
      const { err, ms } = await failure(call());
      assert.equal(err.status, 504, `${api}: ${err.message}`);
      assert.ok(ms < DEADLINE_MS + SLACK_MS, `${api}: failed after ${ms} ms`);
      await call();
    }
    for (const until = Date.now() + 2_000; emulator.heldConnections() > 0 && Date.now() < until;) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(emulator.heldConnections(), 0, "every hung connection was closed by the gate");
  }));

Deno.test("service_account key ADC: a hung or reset JWT exchange costs one request at most", () =>
  world(async ({ emulator, service }) => {
    const tokens = await service(await emulator.serviceAccountKey(KEY_SA), DEADLINE_MS);
    emulator.faults.hangNext("token");
    const { err, ms } = await failure(tokens.devToken([CLOUD], 600));
    assert.equal(err.status, 504, err.message);
    assert.ok(ms < DEADLINE_MS + SLACK_MS, `failed after ${ms} ms`);
    emulator.faults.resetNext("token");
    assert.match((await tokens.devToken([CLOUD], 600)).accessToken, /^ya29\./);
    assert.match((await tokens.prodToken([CLOUD], 300)).accessToken, /^ya29\./);
  }));

Deno.test("a body that trickles steadily does not extend the deadline: one 504, then recovery", () =>
  world(async ({ emulator, service }) => {
    const tokens = await service(emulator.authorizedUserAdc(), DEADLINE_MS);
    await tokens.devToken([CLOUD], 600);
    // ~100+ bytes at one per 20 ms: seconds in all, though a byte is never 20 ms away.
    emulator.faults.slowBodyNext("generateAccessToken", 1, 20);
    const { err, ms } = await failure(tokens.devToken(["https://slow.example/x"], 600));
    assert.equal(err.status, 504, err.message);
    assert.ok(ms < DEADLINE_MS + SLACK_MS, `failed after ${ms} ms`);
    assert.match((await tokens.devToken(["https://slow.example/x"], 600)).accessToken, /^ya29\./);
  }));
