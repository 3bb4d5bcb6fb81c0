import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.ts";
import { decodeJwt, verifyRs256 } from "../../src/emulator/jwt.ts";
import { startEmulator } from "../../src/emulator/mod.ts";
import {
  assertion,
  CLOUD,
  get,
  importPrivateKey,
  jwtClaims,
  postForm,
  postJson,
  refreshParams,
  SA,
} from "./fixture.ts";

const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";

async function jwksKey(baseUrl: string): Promise<CryptoKey> {
  const jwks = await get(`${baseUrl}/oauth2/v3/certs`);
  return await crypto.subtle.importKey(
    "jwk",
    jwks.body.keys[0],
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["verify"],
  );
}

Deno.test("refresh_token grant: Google's success shape, and an id_token signed by a published key", async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  await using emu = await startEmulator({ clock });
  const res = await postForm(`${emu.baseUrl}/token`, refreshParams(emu));
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^application\/json/);
  assert.deepEqual(Object.keys(res.body).sort(), [
    "access_token",
    "expires_in",
    "id_token",
    "scope",
    "token_type",
  ]);
  assert.match(res.body.access_token, /^ya29\./);
  assert.equal(res.body.expires_in, 3599);
  assert.equal(res.body.token_type, "Bearer");
  assert.equal(
    res.body.scope,
    "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/sqlservice.login",
  );
  const jwt = decodeJwt(res.body.id_token)!;
  assert.equal(await verifyRs256(jwt, await jwksKey(emu.baseUrl)), true);
  const e = emu.options.engineer;
  assert.deepEqual(jwt.claims, {
    iss: "https://accounts.google.com",
    azp: e.clientId,
    aud: e.clientId,
    sub: e.uniqueId,
    email: "engineer@example.com",
    email_verified: true,
    iat: clock.now() / 1000,
    exp: clock.now() / 1000 + 3600,
  });
});

Deno.test("refresh_token grant: client credentials may come as HTTP Basic; JSON bodies work", async () => {
  await using emu = await startEmulator();
  const p = refreshParams(emu);
  const basic = btoa(`${p.client_id}:${p.client_secret}`);
  const res = await postForm(`${emu.baseUrl}/token`, {
    grant_type: "refresh_token",
    refresh_token: p.refresh_token,
  }, { authorization: `Basic ${basic}` });
  assert.equal(res.status, 200);
  const json = await postJson(`${emu.baseUrl}/token`, p);
  assert.equal(json.status, 200);
  assert.match(json.body.access_token, /^ya29\./);
});

Deno.test("refresh_token grant: a subset of the consented scopes, and invalid_scope beyond it", async () => {
  await using emu = await startEmulator();
  const ok = await postForm(`${emu.baseUrl}/token`, { ...refreshParams(emu), scope: CLOUD });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.scope, CLOUD);
  assert.equal(ok.body.id_token, undefined, "no openid scope, no id_token");
  const bad = await postForm(`${emu.baseUrl}/token`, {
    ...refreshParams(emu),
    scope: `${CLOUD} https://www.googleapis.com/auth/gmail.readonly`,
  });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error, "invalid_scope");
  assert.match(bad.body.error_description, /gmail\.readonly/);
});

Deno.test("refresh_token grant: each bad input gets Google's error", async () => {
  await using emu = await startEmulator();
  const p = refreshParams(emu);
  const url = `${emu.baseUrl}/token`;
  const cases: [Record<string, string>, number, string, string][] = [
    [{ ...p, grant_type: "" }, 400, "unsupported_grant_type", "Invalid grant_type: "],
    [
      { ...p, grant_type: "password" },
      400,
      "unsupported_grant_type",
      "Invalid grant_type: password",
    ],
    [
      { grant_type: "refresh_token", refresh_token: p.refresh_token },
      400,
      "invalid_request",
      "Could not determine client ID from request.",
    ],
    [
      { ...p, client_id: "other.apps.googleusercontent.com" },
      401,
      "invalid_client",
      "The OAuth client was not found.",
    ],
    [{ ...p, client_secret: "wrong" }, 401, "invalid_client", "Unauthorized"],
    [
      { ...p, refresh_token: "" },
      400,
      "invalid_request",
      "Missing required parameter: refresh_token",
    ],
    [{ ...p, refresh_token: "1//not-the-token" }, 400, "invalid_grant", "Bad Request"],
  ];
  for (const [params, status, error, description] of cases) {
    const res = await postForm(url, params);
    assert.deepEqual(
      [res.status, res.body],
      [status, { error, error_description: description }],
      JSON.stringify(params.grant_type),
    );
    // No secret of the request is echoed back.
    const text = JSON.stringify(res.body);
    assert.ok(!text.includes(p.client_secret) && !text.includes(p.refresh_token));
  }
  const missing = await postForm(url, { client_id: p.client_id });
  assert.equal(missing.body.error, "unsupported_grant_type");
  const malformed = await postJson(url, "{not json");
  assert.deepEqual([malformed.status, malformed.body.error], [400, "invalid_request"]);
  const array = await postJson(url, "[1]");
  assert.deepEqual([array.status, array.body.error], [400, "invalid_request"]);
});

Deno.test("jwt-bearer grant: a key the emulator issued gets a token for the account", async () => {
  await using emu = await startEmulator();
  const keyFile = await emu.serviceAccountKey(SA);
  assert.equal(keyFile.type, "service_account");
  assert.equal(keyFile.client_email, SA);
  assert.equal(keyFile.project_id, "demo-project");
  assert.equal(keyFile.token_uri, `${emu.baseUrl}/token`);
  const key = await importPrivateKey(keyFile.private_key);
  const res = await postForm(`${emu.baseUrl}/token`, {
    grant_type: JWT_BEARER,
    assertion: await assertion(key, SA, Date.now(), {}, { kid: keyFile.private_key_id }),
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.match(res.body.access_token, /^ya29\./);
  assert.equal(res.body.expires_in, 3599);
  assert.equal(res.body.token_type, "Bearer");
  const info = await get(`${emu.baseUrl}/tokeninfo?access_token=${res.body.access_token}`);
  assert.equal(info.body.sub, emu.options.serviceAccounts[0].uniqueId);
  assert.equal(info.body.access_type, "online");
  // Assertions whose aud is the emulator's own token URL are accepted too.
  const local = await postForm(`${emu.baseUrl}/token`, {
    grant_type: JWT_BEARER,
    assertion: await assertion(key, SA, Date.now(), { aud: `${emu.baseUrl}/token` }),
  });
  assert.equal(local.status, 200);
});

Deno.test("jwt-bearer grant: target_audience yields only an id_token for that audience", async () => {
  await using emu = await startEmulator();
  const keyFile = await emu.serviceAccountKey(SA);
  const key = await importPrivateKey(keyFile.private_key);
  const res = await postForm(`${emu.baseUrl}/token`, {
    grant_type: JWT_BEARER,
    assertion: await assertion(key, SA, Date.now(), {
      scope: undefined,
      target_audience: "https://run.example",
    }),
  });
  assert.equal(res.status, 200);
  assert.deepEqual(Object.keys(res.body), ["id_token"]);
  const claims = jwtClaims(res.body.id_token);
  assert.equal(claims.aud, "https://run.example");
  assert.equal(claims.email, SA);
  assert.equal(claims.sub, emu.options.serviceAccounts[0].uniqueId);
});

Deno.test("jwt-bearer grant: signature, issuer, key id, audience, time window, subject and scope are checked", async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  await using emu = await startEmulator({ clock });
  const keyFile = await emu.serviceAccountKey(SA);
  const key = await importPrivateKey(keyFile.private_key);
  const now = clock.now();
  const stranger = (await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      hash: "SHA-256",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
    },
    false,
    ["sign", "verify"],
  ) as CryptoKeyPair).privateKey;
  const shortLived = /^Invalid JWT: Token must be a short-lived token \(60 minutes\)/;
  const cases: [string, string | undefined, number, string, RegExp][] = [
    ["missing", undefined, 400, "invalid_request", /^Missing required parameter: assertion$/],
    ["malformed", "not.a.jwt", 400, "invalid_grant", /^Invalid JWT: malformed assertion\.$/],
    [
      "signed by a key never issued",
      await assertion(stranger, SA, now),
      400,
      "invalid_grant",
      /^Invalid JWT Signature\.$/,
    ],
    [
      "unknown kid",
      await assertion(key, SA, now, {}, { kid: "0".repeat(40) }),
      400,
      "invalid_grant",
      /^Invalid JWT Signature\.$/,
    ],
    [
      "unknown issuer",
      await assertion(key, "ghost@demo-project.iam.gserviceaccount.com", now),
      400,
      "invalid_grant",
      /^Invalid grant: account not found$/,
    ],
    [
      "wrong audience",
      await assertion(key, SA, now, { aud: "https://evil.example/token" }),
      400,
      "invalid_grant",
      /Failed audience check/,
    ],
    ["expired", await assertion(key, SA, now - 3601_000), 400, "invalid_grant", shortLived],
    [
      "issued in the future",
      await assertion(key, SA, now + 600_000),
      400,
      "invalid_grant",
      shortLived,
    ],
    [
      "longer than an hour",
      await assertion(key, SA, now, { exp: now / 1000 + 7200 }),
      400,
      "invalid_grant",
      shortLived,
    ],
    ["no exp", await assertion(key, SA, now, { exp: undefined }), 400, "invalid_grant", shortLived],
    [
      "domain-wide delegation",
      await assertion(key, SA, now, { sub: "someone@example.com" }),
      401,
      "unauthorized_client",
      /^Client is unauthorized/,
    ],
    [
      "no scope",
      await assertion(key, SA, now, { scope: undefined }),
      400,
      "invalid_scope",
      /^Invalid OAuth scope or ID token audience provided\.$/,
    ],
  ];
  for (const [what, jwt, status, error, description] of cases) {
    const params: Record<string, string> = { grant_type: JWT_BEARER };
    if (jwt !== undefined) params.assertion = jwt;
    const res = await postForm(`${emu.baseUrl}/token`, params);
    assert.equal(res.status, status, what);
    assert.equal(res.body.error, error, what);
    assert.match(res.body.error_description, description, what);
  }
  // The same assertion passes once the clock is inside its window: only time was wrong.
  const later = await assertion(key, SA, now + 600_000);
  clock.advance(600_000);
  const ok = await postForm(`${emu.baseUrl}/token`, { grant_type: JWT_BEARER, assertion: later });
  assert.equal(ok.status, 200);
});

Deno.test("serviceAccountKey refuses accounts the emulator does not know", async () => {
  await using emu = await startEmulator();
  await assert.rejects(
    () => emu.serviceAccountKey("ghost@x.iam.gserviceaccount.com"),
    /unknown service account/,
  );
});
