/**
 * The transport-level and malformed-answer faults the reliability suite injects: each is checked
 * from the client's side, as a real fetch sees it.
 */
import assert from "node:assert/strict";
import { MALFORMATIONS, startEmulator } from "../../src/emulator/mod.ts";
import { Faults } from "../../src/emulator/faults.ts";
import { CLOUD, engineerToken, iamUrl, postForm, postJson, refreshParams, SA } from "./fixture.ts";

Deno.test("resetNext: the connection closes with no answer; the next call on a new connection works", async () => {
  await using emu = await startEmulator();
  emu.faults.resetNext("token", 1);
  const err = await fetch(`${emu.baseUrl}/token`, {
    method: "POST",
    body: new URLSearchParams(refreshParams(emu)),
  }).then(async (r) => `answered ${r.status} ${await r.text()}`, (e: Error) => e);
  assert.ok(err instanceof TypeError, `expected a transport error, got ${err}`);
  // Deno says "fetch failed" with the transport's words in the cause.
  assert.match(String((err as Error).cause), /connection closed before message completed/);
  assert.equal((await postForm(`${emu.baseUrl}/token`, refreshParams(emu))).status, 200);
  assert.deepEqual(
    emu.requests().map((e) => [e.api, e.status, e.fault ?? null]),
    [["token", 0, "reset"], ["token", 200, null]],
  );
});

Deno.test("hangNext: no answer until the client aborts; then the held connection is let go", async () => {
  await using emu = await startEmulator();
  emu.faults.hangNext("generateAccessToken");
  const user = await engineerToken(emu);
  const controller = new AbortController();
  const pending = fetch(iamUrl(emu, SA, "generateAccessToken"), {
    method: "POST",
    headers: { authorization: `Bearer ${user}`, "content-type": "application/json" },
    body: JSON.stringify({ scope: [CLOUD] }),
    signal: controller.signal,
  });
  const until = Date.now() + 5_000;
  while (emu.heldConnections() === 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(emu.heldConnections(), 1);
  controller.abort();
  await assert.rejects(pending);
  while (emu.heldConnections() > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(emu.heldConnections(), 0, "the client's leaving released the connection");
  const hung = emu.requests().filter((e) => e.api === "generateAccessToken");
  assert.deepEqual(hung.map((e) => [e.status, e.fault]), [[0, "hang"]]);
  // The next call is answered.
  const ok = await postJson(iamUrl(emu, SA, "generateAccessToken"), { scope: [CLOUD] }, user);
  assert.equal(ok.status, 200);
});

Deno.test("hangNext: stop() ends a hung call at once", async () => {
  const emu = await startEmulator();
  emu.faults.hangNext("tokeninfo");
  const pending = fetch(`${emu.baseUrl}/tokeninfo?access_token=x`).then(
    (r) => r.text(),
    () => "closed",
  );
  const until = Date.now() + 5_000;
  while (emu.calls("tokeninfo") === 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 5));
  }
  await emu.stop();
  await pending;
});

Deno.test("rateLimitNext: 429 RESOURCE_EXHAUSTED with Retry-After", async () => {
  await using emu = await startEmulator();
  emu.faults.rateLimitNext("generateAccessToken", 1, 17);
  const user = await engineerToken(emu);
  const res = await postJson(iamUrl(emu, SA, "generateAccessToken"), { scope: [CLOUD] }, user);
  assert.equal(res.status, 429);
  assert.equal(res.headers.get("retry-after"), "17");
  assert.equal(res.body.error.status, "RESOURCE_EXHAUSTED");
});

Deno.test("badJsonNext: a 200 application/json whose body does not parse", async () => {
  await using emu = await startEmulator();
  emu.faults.badJsonNext("token");
  const res = await fetch(`${emu.baseUrl}/token`, {
    method: "POST",
    body: new URLSearchParams(refreshParams(emu)),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  const text = await res.text();
  assert.throws(() => JSON.parse(text), SyntaxError);
});

Deno.test("malformNext: each kind breaks a generateAccessToken answer as named", async () => {
  await using emu = await startEmulator();
  const user = await engineerToken(emu);
  const seen: Record<string, unknown> = {};
  for (const kind of MALFORMATIONS) {
    emu.faults.malformNext("generateAccessToken", kind);
    seen[kind] = (await postJson(iamUrl(emu, SA, "generateAccessToken"), { scope: [CLOUD] }, user))
      .body;
  }
  const missing = seen.missing_expiry as Record<string, unknown>;
  assert.equal(typeof missing.accessToken, "string");
  assert.equal("expireTime" in missing, false);
  const past = seen.past_expiry as { expireTime: string };
  assert.ok(Date.parse(past.expireTime) < Date.now());
  assert.ok(Number.isNaN(Date.parse((seen.garbled_expiry as { expireTime: string }).expireTime)));
  assert.equal("accessToken" in (seen.missing_token as object), false);
  assert.equal(seen.not_object, "ok");
  // One-shot: the next answer is whole again.
  const ok = await postJson(iamUrl(emu, SA, "generateAccessToken"), { scope: [CLOUD] }, user);
  assert.equal(typeof ok.body.expireTime, "string");
});

Deno.test("new fault switches reject nonsense values", () => {
  const f = new Faults();
  assert.throws(() => f.resetNext("token", 0), RangeError);
  assert.throws(() => f.hangNext("token", 1.5), RangeError);
  assert.throws(() => f.badJsonNext("token", -1), RangeError);
  assert.throws(() => f.rateLimitNext("token", 1, -5), RangeError);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => f.malformNext("token", "weird" as any), RangeError);
  assert.equal(f.take("reset", "token"), false);
  assert.equal(f.takeMalformation("token"), undefined);
});

Deno.test("slowBodyNext: the real answer arrives a byte at a time; stop() ends a trickle in progress", async () => {
  const emu = await startEmulator();
  const user = await engineerToken(emu);
  const project = () =>
    fetch(`${emu.baseUrl}/v3/projects/demo-project`, {
      headers: { authorization: `Bearer ${user}` },
    });
  emu.faults.slowBodyNext("getProject", 1, 1);
  const res = await project();
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const sizes: number[] = [];
  let text = "";
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    sizes.push(value.length);
    text += new TextDecoder().decode(value);
  }
  assert.ok(sizes.length > 20, `arrived in ${sizes.length} chunks`);
  assert.equal(JSON.parse(text).projectId, "demo-project", "the body is whole");
  assert.deepEqual(
    emu.requests().filter((e) => e.api === "getProject").map((e) => e.fault),
    ["slow_body"],
  );
  // A slow answer still trickling when the emulator stops: its timer ends with it.
  emu.faults.slowBodyNext("getProject", 1, 1_000);
  const open = await project();
  const drained = open.text().catch(() => "errored");
  await emu.stop();
  await drained;
  assert.throws(() => new Faults().slowBodyNext("token", 1, 0), RangeError);
});
