import assert from "node:assert/strict";
import { type RequestLogEntry, startEmulator } from "../../src/emulator/mod.ts";
import {
  assertion,
  CLOUD,
  engineerToken,
  get,
  iamUrl,
  importPrivateKey,
  postForm,
  postJson,
  refreshParams,
  SA,
} from "./fixture.ts";

Deno.test("calls(api) counts each API separately; unknown paths are 404 and counted as unknown", async () => {
  await using emu = await startEmulator();
  const user = await engineerToken(emu);
  await postJson(iamUrl(emu, SA, "generateAccessToken"), { scope: [CLOUD] }, user);
  await postJson(iamUrl(emu, SA, "generateAccessToken"), { scope: [CLOUD] }, user);
  await postJson(iamUrl(emu, SA, "generateIdToken"), { audience: "a" }, user);
  await get(`${emu.baseUrl}/v3/projects/demo-project`, user);
  await get(`${emu.baseUrl}/tokeninfo?access_token=${user}`);
  await get(`${emu.baseUrl}/oauth2/v1/certs`);
  const missing = await get(`${emu.baseUrl}/v1/nothing-here`);
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.status, "NOT_FOUND");
  const wrongMethod = await get(`${emu.baseUrl}/token`);
  assert.equal(wrongMethod.status, 404);
  assert.deepEqual(
    {
      token: emu.calls("token"),
      tokeninfo: emu.calls("tokeninfo"),
      generateAccessToken: emu.calls("generateAccessToken"),
      generateIdToken: emu.calls("generateIdToken"),
      getProject: emu.calls("getProject"),
      certs: emu.calls("certs"),
      unknown: emu.calls("unknown"),
      all: emu.calls(),
    },
    {
      token: 1,
      tokeninfo: 1,
      generateAccessToken: 2,
      generateIdToken: 1,
      getProject: 1,
      certs: 1,
      unknown: 2,
      all: 9,
    },
  );
  emu.resetLog();
  assert.equal(emu.calls(), 0);
  assert.deepEqual(emu.requests(), []);
});

Deno.test("the request log and onRequest carry no token, secret, key or assertion", async () => {
  const seen: RequestLogEntry[] = [];
  await using emu = await startEmulator({ onRequest: (e) => seen.push(e) });
  const adc = emu.authorizedUserAdc();
  const secrets: string[] = [adc.refresh_token, adc.client_secret];

  const refreshed = await postForm(`${emu.baseUrl}/token`, refreshParams(emu));
  secrets.push(refreshed.body.access_token, refreshed.body.id_token);
  const user = refreshed.body.access_token;
  await get(`${emu.baseUrl}/tokeninfo?access_token=${encodeURIComponent(user)}`);
  await postForm(`${emu.baseUrl}/tokeninfo`, { access_token: user });
  const sa = await postJson(iamUrl(emu, SA, "generateAccessToken"), { scope: [CLOUD] }, user);
  secrets.push(sa.body.accessToken);
  const id = await postJson(iamUrl(emu, SA, "generateIdToken"), { audience: "a" }, user);
  secrets.push(id.body.token);
  await get(`${emu.baseUrl}/tokeninfo?id_token=${id.body.token}`);
  const key = await emu.serviceAccountKey(SA);
  const jwt = await assertion(await importPrivateKey(key.private_key), SA, Date.now());
  secrets.push(jwt, key.private_key.split("\n")[5]);
  const bearer = await postForm(`${emu.baseUrl}/token`, {
    grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
    assertion: jwt,
  });
  secrets.push(bearer.body.access_token);
  // Failures too: a bad refresh token and an unknown bearer token.
  await postForm(`${emu.baseUrl}/token`, {
    ...refreshParams(emu),
    refresh_token: "1//guessed-token",
  });
  await get(`${emu.baseUrl}/v3/projects/demo-project`, "ya29.not-a-real-one");
  secrets.push("1//guessed-token", "ya29.not-a-real-one");

  const log = emu.requests();
  assert.equal(log.length, 9);
  assert.deepEqual(seen, log);
  const text = JSON.stringify(log);
  for (const secret of secrets) {
    assert.ok(secret && secret.length > 8);
    assert.ok(!text.includes(secret), `log leaks ${secret.slice(0, 12)}…`);
  }
  assert.ok(!text.includes("access_token="), "no query strings");
  // What it does keep is useful: who called what, and how it ended.
  assert.deepEqual(log.slice(0, 4).map((e) => [e.api, e.method, e.path, e.status, e.principal]), [
    ["token", "POST", "/token", 200, "engineer@example.com"],
    ["tokeninfo", "GET", "/tokeninfo", 200, "engineer@example.com"],
    ["tokeninfo", "POST", "/tokeninfo", 200, "engineer@example.com"],
    [
      "generateAccessToken",
      "POST",
      `/v1/projects/-/serviceAccounts/${SA}:generateAccessToken`,
      200,
      "engineer@example.com",
    ],
  ]);
  assert.match(log[0].at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
});

Deno.test("issueAccessToken mints for known principals only; the emulator binds loopback only", async () => {
  await using emu = await startEmulator();
  assert.match(emu.baseUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(emu.port, Number(new URL(emu.baseUrl).port));
  assert.throws(() => emu.issueAccessToken("ghost@example.com"), /unknown principal/);
  const t = emu.issueAccessToken("ENGINEER@example.com", { lifetimeSeconds: 60 });
  const info = await get(`${emu.baseUrl}/tokeninfo?access_token=${t}`);
  assert.equal(info.body.scope, CLOUD);
  await assert.rejects(() => startEmulator({ hostname: "0.0.0.0" }), /loopback/);
});

Deno.test("stop() is idempotent and closes the port", async () => {
  const emu = await startEmulator();
  await Promise.all([emu.stop(), emu.stop()]);
  await emu.stop();
  await assert.rejects(() => fetch(`${emu.baseUrl}/oauth2/v3/certs`));
});
