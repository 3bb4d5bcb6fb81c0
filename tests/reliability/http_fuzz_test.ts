/**
 * Raw-socket fuzzing of both HTTP surfaces, as real processes: the gate's main and admin Unix
 * sockets and the metadata proxy's TCP port. Conversations come from a seeded PRNG (the seed is
 * in every failure; `AUTHCALATOR_FUZZ_SEED=<seed>` replays it) and `AUTHCALATOR_FUZZ_ITERATIONS`
 * scales the batches (`deno task fuzz`). Each answer must be well-formed HTTP, no 5xx may come
 * without a stated cause, no CR/LF from a request may become an answer header, proxied requests
 * (X-Forwarded-For, Forwarded, X-Real-IP) are refused, and a connection whose request was sent
 * whole ends within a bound. After each batch: every process still serves the right answer, and
 * no queued prod request outlives its departed client. Finally: no crash or unexpected error in
 * any process's output, and the secret scan of every line printed and every answer body.
 */
import { type FuzzCase, fuzzCase, type Surface } from "./http_fuzz_cases.ts";
import { iterationScale, Prng, runSeed } from "./prng.ts";
import { redactSecrets } from "./secret_scan.ts";
import { type Exchange, exchange, type Target } from "./raw_exchange.ts";
import { startWorld, TOKEN_PATH, type World } from "./world.ts";

/**
 * A finished request must be answered and its connection ended within this: the gate's head
 * deadline (10 s, for a head it cannot see the end of, e.g. bare-CR line ends) plus margin.
 */
const COMPLETE_BOUND_MS = 15_000;
/** How long a client waits on a request that may legitimately wait for a human, then leaves. */
const HELD_WAIT_MS = 1_500;
/** After its client left, a queued prod request must be gone within this. */
const ORPHAN_DROP_MS = 10_000;
const CASES_PER_BATCH = 24;
const BATCHES = 3;
const CONCURRENCY = 6;

/** What an unexpected exception turns into (the gate's, the proxy's, Deno.serve's default). */
const GENERIC_ERROR = /^\s*(\{"error":"internal error[^"]*"\}|Internal Server Error)\s*$/i;

function target(world: World, surface: Surface): Target {
  return surface === "gate"
    ? world.gateTarget
    : surface === "admin"
    ? world.adminTarget
    : world.proxyTarget;
}

function waitBound(c: FuzzCase): number {
  if (c.kind === "complete") return COMPLETE_BOUND_MS;
  if (c.kind === "held") return HELD_WAIT_MS;
  const pauses = c.steps.reduce((n, s) => n + ("pauseMs" in s ? s.pauseMs : 0), 0);
  return pauses + 200;
}

/** What is wrong with one conversation (empty when nothing is). */
function problems(c: FuzzCase, x: Exchange): string[] {
  const found: string[] = [];
  if (x.unparsed.length && !(c.kind !== "complete" && x.ending === "timeout")) {
    found.push(`unparseable answer bytes: ${JSON.stringify(x.unparsed.slice(0, 200))}`);
  }
  if (c.kind === "complete" && x.ending === "timeout") {
    found.push(`the connection did not end within ${COMPLETE_BOUND_MS} ms of the whole request`);
  }
  x.responses.forEach((r, i) => {
    if (r.status < 100 || r.status > 599) found.push(`status ${r.status}`);
    for (const [name] of r.headers) {
      if (/injected/i.test(name)) {
        found.push(`a request's CR/LF reached the answer's headers: ${name}`);
      }
    }
    if (r.status < 500) return;
    const head = (c.methods[i] ?? "GET") === "HEAD";
    if (head ? r.status === 500 : !r.body.trim() || GENERIC_ERROR.test(r.body)) {
      found.push(`${r.status} without a stated cause: ${JSON.stringify(r.body.slice(0, 200))}`);
    }
  });
  if (c.surface === "proxy" && c.proxyHeader && c.methods.length === 1 && x.responses.length) {
    const status = x.responses[0].status;
    if (![400, 403, 413, 414, 431].includes(status)) {
      found.push(`a proxied request (forwarding header) was answered ${status}, not refused`);
    }
  }
  return found;
}

/** Runs `run` over `items`, at most `limit` at a time. */
async function pool<T>(items: T[], limit: number, run: (item: T) => Promise<void>) {
  let next = 0;
  const workers = Array.from({ length: limit }, async () => {
    while (next < items.length) await run(items[next++]);
  });
  await Promise.all(workers);
}

async function unixGet(path: string, route: string): Promise<{ status: number; text: string }> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path } });
  try {
    const res = await fetch(`http://localhost${route}`, {
      client,
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, text: await res.text() };
  } finally {
    client.close();
  }
}

/** After a batch: every process serves the right answer; no orphaned prod request is queued. */
async function checkServing(world: World): Promise<string[]> {
  const found: string[] = [];
  try {
    const res = await fetch(`http://127.0.0.1:${world.proxyPort}${TOKEN_PATH}`, {
      headers: { "Metadata-Flavor": "Google" },
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    world.noteBody("proxy token (check)", text);
    const body = res.status === 200 ? JSON.parse(text) : {};
    if (res.status !== 200 || !String(body.access_token).startsWith("ya29.")) {
      found.push(`the proxy no longer serves a token: ${res.status} ${text.slice(0, 200)}`);
    } else if (!(typeof body.expires_in === "number" && body.expires_in > 0)) {
      found.push(`the proxy's token answer has expires_in ${body.expires_in}`);
    }
  } catch (err) {
    found.push(`the proxy did not answer a token request: ${err}`);
  }
  for (const [name, path] of [["gate", world.socketPath], ["admin", world.adminSocketPath]]) {
    try {
      const h = await unixGet(path, "/health");
      if (h.status !== 200) found.push(`${name} /health answered ${h.status}: ${h.text}`);
    } catch (err) {
      found.push(`${name} /health failed: ${err}`);
    }
  }
  // Every held client has left by now: nothing they asked for may still wait for a human.
  const deadline = Date.now() + ORPHAN_DROP_MS;
  while (true) {
    let pending: unknown[] = [];
    try {
      const p = await unixGet(world.adminSocketPath, "/pending");
      pending = JSON.parse(p.text).pending ?? [];
    } catch (err) {
      found.push(`admin /pending failed: ${err}`);
      break;
    }
    if (pending.length === 0) break;
    if (Date.now() > deadline) {
      found.push(
        `${pending.length} prod request(s) still queued ${ORPHAN_DROP_MS} ms after their ` +
          "clients left (approving one would grant a session nobody holds)",
      );
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return found;
}

Deno.test("reliability: raw-socket fuzzing of the gate (main, admin) and the metadata proxy", async () => {
  const seed = runSeed();
  const scale = iterationScale();
  const rng = new Prng(seed);
  const replay = `seed ${seed} (replay: AUTHCALATOR_FUZZ_SEED=${seed})`;
  await using world = await startWorld();
  const failures: string[] = [];
  let conversations = 0;
  const surfaces: Surface[] = ["gate", "admin", "proxy"];

  for (let batch = 0; batch < BATCHES * scale; batch++) {
    const cases = surfaces.flatMap((s) =>
      Array.from({ length: CASES_PER_BATCH }, () => fuzzCase(rng, s, world.proxyPort))
    );
    await pool(cases, CONCURRENCY, async (c) => {
      conversations++;
      let x: Exchange;
      try {
        x = await exchange(target(world, c.surface), c.steps, waitBound(c), c.methods);
      } catch (err) {
        failures.push(`[${c.surface}] could not talk to the server (${err}) — ${c.label}`);
        return;
      }
      if (c.surface !== "admin") {
        for (const r of x.responses) world.noteBody(`${c.surface} answer`, r.body);
      }
      for (const p of problems(c, x)) failures.push(`[${c.surface}] ${p} — ${c.label}`);
    });
    for (const p of await checkServing(world)) failures.push(`after batch ${batch + 1}: ${p}`);
    if (failures.length > 40) break;
  }

  if (failures.length) {
    // Redacted: an unparseable answer or a 5xx body could hold a token.
    throw new Error(redactSecrets(
      `${failures.length} problem(s) in ${conversations} conversations, ${replay}:\n` +
        failures.slice(0, 40).join("\n"),
    ));
  }
  world.assertNoCrashes();
  const unexpected = world.outputs().flatMap((o) =>
    o.text.split("\n").filter((l) => /unexpected error/i.test(l)).map((l) => `${o.name}: ${l}`)
  );
  if (unexpected.length) {
    throw new Error(
      redactSecrets(`${replay}: unexpected errors logged:\n${unexpected.slice(0, 10).join("\n")}`),
    );
  }
  await world.assertNoLeaks().catch((err) => {
    throw new Error(`${replay}: ${err.message}`);
  });
});
