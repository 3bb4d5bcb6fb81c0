import assert from "node:assert/strict";
import { DeadlineError, fetchWithDeadline } from "../../src/http/deadline_fetch.ts";
import { Faults } from "../../src/emulator/faults.ts";
import { startEmulator } from "../../src/emulator/mod.ts";
import {
  CLOUD,
  engineerToken,
  get,
  iamUrl,
  postForm,
  postJson,
  refreshParams,
  SA,
} from "./fixture.ts";

Deno.test("failNext: the next N calls fail in Google's shape, then the API recovers", async () => {
  await using emu = await startEmulator();
  const user = await engineerToken(emu);
  emu.faults.failNext("generateAccessToken", 2, 503);
  for (let i = 0; i < 2; i++) {
    const res = await postJson(iamUrl(emu, SA, "generateAccessToken"), { scope: [CLOUD] }, user);
    assert.deepEqual([res.status, res.body], [503, {
      error: { code: 503, message: "The service is currently unavailable.", status: "UNAVAILABLE" },
    }]);
  }
  const ok = await postJson(iamUrl(emu, SA, "generateAccessToken"), { scope: [CLOUD] }, user);
  assert.equal(ok.status, 200);
  // Other APIs were never affected, and a custom status and message are honoured.
  emu.faults.failNext("getProject", 1, 429, "Quota exceeded for quota metric 'Read requests'.");
  const limited = await get(`${emu.baseUrl}/v3/projects/demo-project`, user);
  assert.deepEqual(limited.body.error, {
    code: 429,
    message: "Quota exceeded for quota metric 'Read requests'.",
    status: "RESOURCE_EXHAUSTED",
  });
  assert.deepEqual(
    emu.requests().filter((e) => e.fault).map((e) => [e.api, e.status, e.fault]),
    [["generateAccessToken", 503, "fail"], ["generateAccessToken", 503, "fail"], [
      "getProject",
      429,
      "fail",
    ]],
  );
});

Deno.test("latency: a slow API trips the caller's deadline; without it the call succeeds", async () => {
  await using emu = await startEmulator();
  emu.faults.latency("certs", 2_000);
  await assert.rejects(
    () => fetchWithDeadline(`${emu.baseUrl}/oauth2/v3/certs`, { timeoutMs: 100, what: "certs" }),
    DeadlineError,
  );
  emu.faults.latency("certs", 0);
  const res = await fetchWithDeadline(`${emu.baseUrl}/oauth2/v3/certs`, {
    timeoutMs: 5_000,
    what: "certs",
  });
  assert.equal(res.status, 200);
});

Deno.test("latency: stop() ends a delayed call at once instead of waiting it out", async () => {
  const emu = await startEmulator();
  emu.faults.latency("tokeninfo", 60_000);
  const pending = fetch(`${emu.baseUrl}/tokeninfo?access_token=x`).then((r) => r.text());
  // Wait until the request is inside the emulator (counted), then stop.
  const deadline = Date.now() + 5_000;
  while (emu.calls("tokeninfo") === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const t0 = performance.now();
  await emu.stop();
  assert.ok(performance.now() - t0 < 5_000);
  await pending.catch(() => {});
});

Deno.test("stallBody: headers arrive, the body never ends, a body deadline fires; stop() still returns", async () => {
  const emu = await startEmulator();
  emu.faults.stallBody("token");
  const res = await fetch(`${emu.baseUrl}/token`, {
    method: "POST",
    body: new URLSearchParams(refreshParams(emu)),
  });
  assert.equal(res.status, 200, "headers were sent");
  const reader = res.body!.getReader();
  const first = await reader.read();
  assert.equal(new TextDecoder().decode(first.value), '{\n  "');
  await reader.cancel();
  // A deadline that covers the body fires on the next stalled call.
  emu.faults.stallBody("token");
  await assert.rejects(
    () =>
      fetchWithDeadline(`${emu.baseUrl}/token`, {
        method: "POST",
        body: new URLSearchParams(refreshParams(emu)),
        timeoutMs: 200,
        what: "refreshing",
      }),
    DeadlineError,
  );
  // One more stalled body left open by a client that never reads: stop() must not hang on it.
  emu.faults.stallBody("token");
  const open = await fetch(`${emu.baseUrl}/token`, {
    method: "POST",
    body: new URLSearchParams(refreshParams(emu)),
  });
  const drained = open.text().catch(() => "errored");
  await emu.stop();
  await drained;
  // The stall was one-shot each time: three stalled calls, all counted.
  assert.equal(emu.calls("token"), 3);
});

Deno.test("reauthAfter: N refreshes succeed, then invalid_grant invalid_rapt; clear() restores", async () => {
  await using emu = await startEmulator();
  emu.faults.reauthAfter(2);
  for (let i = 0; i < 2; i++) {
    assert.equal((await postForm(`${emu.baseUrl}/token`, refreshParams(emu))).status, 200);
  }
  const res = await postForm(`${emu.baseUrl}/token`, refreshParams(emu));
  assert.deepEqual([res.status, res.body], [400, {
    error: "invalid_grant",
    error_description: "reauth related error (invalid_rapt)",
    error_uri: "https://support.google.com/a/answer/9368756",
    error_subtype: "invalid_rapt",
  }]);
  assert.equal((await postForm(`${emu.baseUrl}/token`, refreshParams(emu))).status, 400);
  emu.faults.clear();
  assert.equal((await postForm(`${emu.baseUrl}/token`, refreshParams(emu))).status, 200);
});

Deno.test("revokeRefreshToken: refresh fails as expired-or-revoked and its access tokens die", async () => {
  await using emu = await startEmulator();
  const user = await engineerToken(emu);
  const sa = (await postJson(iamUrl(emu, SA, "generateAccessToken"), { scope: [CLOUD] }, user))
    .body.accessToken;
  emu.faults.revokeRefreshToken();
  const res = await postForm(`${emu.baseUrl}/token`, refreshParams(emu));
  assert.deepEqual([res.status, res.body], [400, {
    error: "invalid_grant",
    error_description: "Token has been expired or revoked.",
  }]);
  const info = await get(`${emu.baseUrl}/tokeninfo?access_token=${user}`);
  assert.equal(info.status, 400, "the engineer's access token is revoked with the refresh token");
  const saInfo = await get(`${emu.baseUrl}/tokeninfo?access_token=${sa}`);
  assert.equal(saInfo.status, 200, "tokens minted by iamcredentials live on, as at Google");
  // Client and secret are still checked first: a wrong secret is still invalid_client.
  const wrong = await postForm(`${emu.baseUrl}/token`, {
    ...refreshParams(emu),
    client_secret: "x",
  });
  assert.equal(wrong.body.error, "invalid_client");
});

Deno.test("fault switches reject nonsense values", () => {
  const f = new Faults();
  assert.throws(() => f.latency("token", -1), RangeError);
  assert.throws(() => f.failNext("token", 0), RangeError);
  assert.throws(() => f.failNext("token", 1, 200), RangeError);
  assert.throws(() => f.stallBody("token", 0), RangeError);
  assert.throws(() => f.reauthAfter(-1), RangeError);
  assert.equal(f.takeFailure("token"), undefined);
  assert.equal(f.takeStall("token"), false);
  assert.equal(f.refreshOutcome(), "ok");
});
