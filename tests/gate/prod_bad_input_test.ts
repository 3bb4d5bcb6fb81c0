/**
 * Bad input on the prod routes, bounded and seeded: odd query parameters and headers get a clear
 * 4xx/501 before anything is queued, or are queued with everything shown sanitised; never a 500,
 * and nothing a client sent can forge a line on an approval surface.
 */
import assert from "node:assert/strict";
import { renderRequest } from "../../src/commands/pending.ts";
import { dialogBody } from "../../src/gate/confirm/text.ts";
import type { PendingRequestJson } from "../../src/gate/pending.ts";
import { testGate } from "./gate_fixture.ts";

/** A small seeded PRNG (mulberry32), so a failure replays. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Header values may hold any visible ASCII, tab and space; the JSON escapes carry the rest.
const PIECES = [
  "gcloud",
  "--password",
  "hunter2",
  "\\n",
  "\\u001b[2K",
  "\\u202e",
  "\\u0000",
  '"',
  "[",
  "]",
  ",",
  "{",
  "}",
  " ",
  "\t",
  "ya29.secret",
  "--",
  "é",
  "\\ud800",
];
const QUERIES = [
  "",
  "&scopes=",
  "&scopes=a,b,,c",
  "&scopes=%00",
  "&token_ttl_seconds=-1",
  "&token_ttl_seconds=1e3",
  "&token_ttl_seconds=99999999999999999999",
  "&session_ttl_seconds=abc",
  "&pam_policy=x",
  "&pam_policy=",
  "&level=prod&level=dev",
];

Deno.test("seeded bad headers and parameters on prod routes: 4xx/501 or a sanitised queue entry, never 500", async () => {
  const random = prng(7);
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)];
  const { clock, audit, logs, layer, app } = testGate();
  const statuses = new Map<number, number>();
  for (let i = 0; i < 150; i++) {
    const word = () =>
      Array.from({ length: 1 + Math.floor(random() * 4) }, () => pick(PIECES)).join("");
    const wrapped = random() < 0.7
      ? `[${Array.from({ length: Math.floor(random() * 5) }, () => `"${word()}"`).join(",")}]`
      : word();
    const headers: Record<string, string> = { "x-wrapped-command": wrapped };
    if (random() < 0.3) headers["x-target-project"] = word();
    if (random() < 0.2) headers["x-pending-id"] = random() < 0.5 ? word() : "f".repeat(32);
    if (random() < 0.1) headers["x-session-hold"] = pick(["1", "0", "yes", ""]);
    const session = random() < 0.5;
    const path = session ? `/session?x=1${pick(QUERIES)}` : `/token?level=prod${pick(QUERIES)}`;
    let res: Response | undefined;
    try {
      const pending = Promise.resolve(app.request(`http://gate${path}`, {
        method: session ? "POST" : "GET",
        headers,
      }));
      // Either an answer comes back, or the request is queued: then it is shown, and denied.
      let queued: PendingRequestJson[] = [];
      let answer: Response | undefined;
      pending.then((r) => answer = r, () => {});
      for (let n = 0; n < 200 && !answer && queued.length === 0; n++) {
        await new Promise((r) => setTimeout(r, 0));
        queued = (await (await layer.adminApp.request("http://admin/pending")).json()).pending;
      }
      if (!answer && queued.length) {
        const shown = renderRequest(queued[0], clock) + dialogBody({
          email: queued[0].email,
          command: queued[0].command,
          pairingCode: queued[0].pairingCode,
          requester: queued[0].requester,
        });
        const unsafe = [...shown].find((ch) => {
          const code = ch.codePointAt(0)!;
          return (code < 0x20 && code !== 0x0a) || code === 0x7f || code === 0x202e;
        });
        assert.equal(unsafe, undefined, JSON.stringify(shown));
        await layer.adminApp.request(`http://admin/pending/${queued[0].id}/deny`, {
          method: "POST",
        });
      }
      res = await pending;
    } finally {
      clock.advance(61_000); // past the denial cooldown and the per-minute window
    }
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    assert.ok(
      [400, 403, 501].includes(res.status),
      `${path} ${JSON.stringify(headers)} → ${res.status} ${await res.clone().text()}`,
    );
    const body = await res.json();
    assert.equal(typeof body.error, "string");
  }
  assert.ok((statuses.get(403) ?? 0) > 10, `some requests were queued: ${[...statuses]}`);
  assert.ok((statuses.get(400) ?? 0) > 10, `some were refused: ${[...statuses]}`);
  assert.ok(!logs.some((l) => l.includes("unexpected error")), logs.join("\n"));
  const leaks = [...audit.entries.map((e) => JSON.stringify(e)), ...logs].filter((l) =>
    l.includes("ya29.secret")
  );
  assert.deepEqual(leaks, [], "a token-shaped argument is redacted everywhere");
  await layer.shutdown();
});
