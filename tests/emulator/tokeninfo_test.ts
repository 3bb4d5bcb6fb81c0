import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.ts";
import { startEmulator } from "../../src/emulator/mod.ts";
import { answer, CLOUD, engineerToken, get, iamUrl, postForm, postJson, SA } from "./fixture.ts";

Deno.test("tokeninfo (GET and POST) describes a live engineer token with string values", async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  await using emu = await startEmulator({ clock });
  const token = await engineerToken(emu);
  clock.advance(10_000);
  const e = emu.options.engineer;
  const expected = {
    azp: e.clientId,
    aud: e.clientId,
    sub: e.uniqueId,
    scope: e.scopes.join(" "),
    exp: String(clock.now() / 1000 - 10 + 3599),
    expires_in: "3589",
    email: "engineer@example.com",
    email_verified: "true",
    access_type: "offline",
  };
  const viaGet = await get(`${emu.baseUrl}/tokeninfo?access_token=${encodeURIComponent(token)}`);
  assert.equal(viaGet.status, 200);
  assert.deepEqual(viaGet.body, expected);
  const viaPost = await postForm(`${emu.baseUrl}/tokeninfo`, { access_token: token });
  assert.deepEqual([viaPost.status, viaPost.body], [200, expected]);
});

Deno.test("tokeninfo: a service-account token without an email scope carries no email", async () => {
  await using emu = await startEmulator();
  const user = await engineerToken(emu);
  const gen = await postJson(iamUrl(emu, SA, "generateAccessToken"), { scope: [CLOUD] }, user);
  const info = await get(`${emu.baseUrl}/tokeninfo?access_token=${gen.body.accessToken}`);
  const uniqueId = emu.options.serviceAccounts[0].uniqueId;
  assert.deepEqual(
    { ...info.body, exp: undefined, expires_in: undefined },
    {
      azp: uniqueId,
      aud: uniqueId,
      sub: uniqueId,
      scope: CLOUD,
      exp: undefined,
      expires_in: undefined,
      access_type: "online",
    },
  );
  const withEmail = await postJson(
    iamUrl(emu, SA, "generateAccessToken"),
    { scope: [CLOUD, "https://www.googleapis.com/auth/userinfo.email"] },
    user,
  );
  const info2 = await get(`${emu.baseUrl}/tokeninfo?access_token=${withEmail.body.accessToken}`);
  assert.equal(info2.body.email, SA);
  assert.equal(info2.body.email_verified, "true");
});

Deno.test("tokeninfo: unknown and expired tokens are 400 invalid_token 'Invalid Value'", async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  await using emu = await startEmulator({ clock });
  const invalid = { error: "invalid_token", error_description: "Invalid Value" };
  const unknown = await get(`${emu.baseUrl}/tokeninfo?access_token=ya29.nope`);
  assert.deepEqual([unknown.status, unknown.body], [400, invalid]);
  const token = await engineerToken(emu);
  clock.advance(3598_000);
  assert.equal((await get(`${emu.baseUrl}/tokeninfo?access_token=${token}`)).body.expires_in, "1");
  clock.advance(1000);
  const expired = await get(`${emu.baseUrl}/tokeninfo?access_token=${token}`);
  assert.deepEqual([expired.status, expired.body], [400, invalid]);
});

Deno.test("tokeninfo: no token parameter is invalid_request", async () => {
  await using emu = await startEmulator();
  const res = await get(`${emu.baseUrl}/tokeninfo`);
  assert.deepEqual([res.status, res.body], [400, {
    error: "invalid_request",
    error_description: "Either access_token, id_token, or token_handle required",
  }]);
  const json = await answer(
    await fetch(`${emu.baseUrl}/tokeninfo`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{oops",
    }),
  );
  assert.equal(json.status, 400);
  assert.equal(json.body.error, "invalid_request");
});

Deno.test("tokeninfo: id_token claims of an emulator-signed token; forged or expired ones are invalid", async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  await using emu = await startEmulator({ clock });
  const user = await engineerToken(emu);
  const gen = await postJson(
    iamUrl(emu, SA, "generateIdToken"),
    { audience: "https://svc.example", includeEmail: true },
    user,
  );
  const idToken: string = gen.body.token;
  const info = await get(`${emu.baseUrl}/tokeninfo?id_token=${idToken}`);
  assert.equal(info.status, 200);
  assert.equal(info.body.aud, "https://svc.example");
  assert.equal(info.body.email, SA);
  assert.equal(info.body.email_verified, "true");
  assert.equal(info.body.alg, "RS256");
  assert.equal(info.body.exp, String(clock.now() / 1000 + 3600));

  const [h, p, s] = idToken.split(".");
  const flipped = `${h}.${p}.${s.slice(0, -2)}${s.endsWith("AA") ? "BB" : "AA"}`;
  const forged = await get(`${emu.baseUrl}/tokeninfo?id_token=${flipped}`);
  assert.deepEqual([forged.status, forged.body.error], [400, "invalid_token"]);
  clock.advance(3600_000);
  const expired = await get(`${emu.baseUrl}/tokeninfo?id_token=${idToken}`);
  assert.deepEqual([expired.status, expired.body.error], [400, "invalid_token"]);
});
