import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.ts";
import { tlsExpiryWarnings } from "../../src/gate/health_warnings.ts";
import { FILES } from "../../src/tls/profile.ts";
import { makeTlsDir } from "../tls/fixtures.ts";
import { testGate } from "./gate_fixture.ts";

const DAY_MS = 86_400_000;

Deno.test("/health warns about TLS material expiring within 14 days, without a host path", async () => {
  // Issued 80 days ago: the 90-day server and client certificates have about 10 days left.
  const tls = await makeTlsDir({ now: new Date(Date.now() - 80 * DAY_MS) });
  try {
    const clock = new ManualClock(Date.now());
    const logs: string[] = [];
    const warnings = tlsExpiryWarnings(tls.dir, clock, (l) => logs.push(l));
    const first = await warnings();
    assert.ok(first.some((w) => /TLS server certificate expires in \d+ day/.test(w)), first.join());
    for (const w of first) {
      assert.ok(!w.includes(tls.root), `no host path: ${w}`);
      assert.match(w, /renew it on the gate's host/);
    }

    // Served by /health, as an answer field the container can show.
    const { app, deps } = testGate();
    const quiet = await (await app.request("/health")).json();
    assert.equal(quiet.warnings, undefined, "no warnings field when there is nothing to say");
    deps.healthWarnings = warnings;
    const health = await (await app.request("/health")).json();
    assert.equal(health.status, "ok");
    assert.deepEqual(health.warnings, first);

    // Re-read at most once a minute; a look that fails says so without details.
    await Deno.remove(tls.dir, { recursive: true });
    assert.deepEqual(await warnings(), first, "within the minute the last look is reused");
    clock.advance(60_000);
    await Deno.mkdir(tls.dir, { mode: 0o700 });
    await Deno.writeTextFile(`${tls.dir}/${FILES.server}`, "not a certificate\n", { mode: 0o600 });
    const broken = await warnings();
    assert.deepEqual(broken, [
      "the gate cannot check its TLS material's expiry; see the gate's log",
    ]);
    assert.equal(logs.length, 1);
    assert.match(logs[0], /cannot check the TLS material's expiry/);
  } finally {
    await tls.cleanup();
  }
});

Deno.test("fresh TLS material gives no /health warning", async () => {
  const tls = await makeTlsDir();
  try {
    const warnings = tlsExpiryWarnings(tls.dir, new ManualClock(Date.now()), () => {});
    assert.deepEqual(await warnings(), []);
  } finally {
    await tls.cleanup();
  }
});
