/**
 * The gate SIGKILLed and restarted under a bounded load of proxy requests (issue 7: "the gate
 * killed and restarted under load"). While the gate is gone the proxy must not crash, warm
 * tokens keep being served, every other answer is a clean, bounded error that names the gate,
 * and service resumes by itself once a new gate listens on the same socket.
 */
import assert from "node:assert/strict";
import { iterationScale } from "./prng.ts";
import { redactSecrets } from "./secret_scan.ts";
import { startWorld, TOKEN_PATH, type World } from "./world.ts";

/** Every answer, success or error, within this: far under any deadline; slack for a busy CI. */
const ANSWER_BOUND_MS = 8_000;
/** After the new gate listens, a cold request must succeed within this. */
const RESUME_BOUND_MS = 15_000;
const WORKERS = 6;
/** Upper bound on the load, whatever happens: the test never spins unbounded. */
const MAX_REQUESTS = 3_000;

interface Outcome {
  kind: "warm" | "cold" | "identity";
  status: number;
  ms: number;
  text: string;
  /** Whether the gate was known to be down when the request started. */
  gateDown: boolean;
}

const WARM_SCOPES = [
  "https://www.googleapis.com/auth/cloud-platform",
  "https://www.googleapis.com/auth/cloud-platform,https://www.googleapis.com/auth/userinfo.email",
];

let cold = 0;
function path(kind: Outcome["kind"], i: number): string {
  if (kind === "identity") {
    return "/computeMetadata/v1/instance/service-accounts/default/identity?audience=https://x.example";
  }
  const scopes = kind === "warm"
    ? WARM_SCOPES[i % WARM_SCOPES.length]
    : `https://www.googleapis.com/auth/cloud-platform,https://www.googleapis.com/auth/c${++cold}`;
  return `${TOKEN_PATH}?scopes=${encodeURIComponent(scopes)}`;
}

async function request(world: World, kind: Outcome["kind"], i: number, gateDown: boolean) {
  const started = performance.now();
  try {
    const res = await fetch(`http://127.0.0.1:${world.proxyPort}${path(kind, i)}`, {
      headers: { "Metadata-Flavor": "Google" },
      signal: AbortSignal.timeout(ANSWER_BOUND_MS * 3),
    });
    const text = await res.text();
    world.noteBody(`proxy answer (${kind})`, text);
    return { kind, status: res.status, ms: performance.now() - started, text, gateDown };
  } catch (err) {
    return { kind, status: 0, ms: performance.now() - started, text: String(err), gateDown };
  }
}

Deno.test("reliability: the gate SIGKILLed and restarted under load: no proxy crash, warm tokens served, clean bounded errors, service resumes", async () => {
  await using world = await startWorld();
  const warm = new Map<string, string>();
  for (const [i, scopes] of WARM_SCOPES.entries()) {
    const res = await request(world, "warm", i, false);
    assert.equal(res.status, 200, redactSecrets(res.text));
    warm.set(scopes, JSON.parse(res.text).access_token);
  }

  const outcomes: Outcome[] = [];
  let gateDown = false;
  let stop = false;
  let sent = 0;
  const load = Array.from({ length: WORKERS }, async (_, w) => {
    for (let i = 0; !stop && sent < MAX_REQUESTS; i++) {
      sent++;
      const kind = (["warm", "warm", "cold", "identity"] as const)[(i + w) % 4];
      outcomes.push(await request(world, kind, i + w, gateDown));
      await new Promise((r) => setTimeout(r, 5));
    }
  });

  const cycles = iterationScale();
  const resumes: number[] = [];
  try {
    for (let cycle = 0; cycle < cycles; cycle++) {
      await new Promise((r) => setTimeout(r, 500));
      gateDown = true;
      const killed = await world.gate.stop("SIGKILL");
      assert.equal(killed.signal, "SIGKILL");
      await new Promise((r) => setTimeout(r, 1_000)); // load against a dead gate
      await world.restartGate();
      gateDown = false;
      // Service resumes without restarting the proxy: a cold request succeeds, bounded.
      const since = performance.now();
      while (true) {
        const res = await request(world, "cold", 0, false);
        if (res.status === 200) break;
        assert.ok(
          performance.now() - since < RESUME_BOUND_MS,
          `never resumed: ${redactSecrets(res.text)}`,
        );
        await new Promise((r) => setTimeout(r, 50));
      }
      resumes.push(performance.now() - since);
    }
  } finally {
    stop = true;
    await Promise.all(load);
  }

  const problems: string[] = [];
  for (const o of outcomes) {
    const what = `${o.kind} ${o.gateDown ? "(gate down)" : ""}: ${o.status} after ${
      Math.round(o.ms)
    } ms: ${redactSecrets(o.text).slice(0, 200)}`;
    if (o.ms > ANSWER_BOUND_MS) problems.push(`over ${ANSWER_BOUND_MS} ms: ${what}`);
    if (o.kind === "warm") {
      if (o.status !== 200) problems.push(`a warm token was not served: ${what}`);
      else if (![...warm.values()].includes(JSON.parse(o.text).access_token)) {
        problems.push(`a warm request got a token other than the cached one: ${what}`);
      }
      continue;
    }
    if (o.status === 200) continue;
    if (![502, 503, 504].includes(o.status)) {
      problems.push(`not a clean error: ${what}`);
      continue;
    }
    let error = "";
    try {
      error = JSON.parse(o.text).error ?? "";
    } catch { /* checked below */ }
    if (!/gate/.test(error)) problems.push(`an error that does not name the gate: ${what}`);
  }
  const down = outcomes.filter((o) => o.gateDown);
  assert.ok(down.length > 0, "some requests ran while the gate was down");
  assert.ok(
    down.some((o) => o.kind !== "warm" && o.status !== 200),
    "cold requests failed (cleanly) while the gate was down",
  );
  assert.deepEqual(problems.slice(0, 20), [], `${problems.length} problem(s)`);

  assert.equal(
    world.proxy.output().match(/listening on/g)?.length,
    1,
    "one proxy process all along",
  );
  const after = await request(world, "warm", 0, false);
  assert.equal(after.status, 200, "the proxy is alive and serving");
  assert.ok(resumes.every((ms) => ms < RESUME_BOUND_MS));
  world.assertNoCrashes();
  await world.assertNoLeaks();
});
