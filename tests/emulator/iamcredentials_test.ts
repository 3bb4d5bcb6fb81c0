import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.ts";
import { decodeJwt, verifyRs256 } from "../../src/emulator/jwt.ts";
import { type EmulatorOptions, startEmulator } from "../../src/emulator/mod.ts";
import { answer, CLOUD, engineerToken, get, iamUrl, postJson, SA } from "./fixture.ts";

const A = "hop-a@demo-project.iam.gserviceaccount.com";
const B = "hop-b@demo-project.iam.gserviceaccount.com";
const LONG = "long-lived@demo-project.iam.gserviceaccount.com";

/** Engineer → A → B chain, a long-lived account, and the default dev account. */
const WORLD: EmulatorOptions = {
  serviceAccounts: [
    { email: SA },
    { email: A },
    { email: B, impersonators: [A] },
    { email: LONG, allowExtendedLifetime: true },
  ],
};

function rpc(code: number, status: string, message: string) {
  return { error: { code, message, status } };
}

const DENIED_ACCESS = rpc(
  403,
  "PERMISSION_DENIED",
  "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
);

Deno.test("generateAccessToken: a token for the account, expiring at now + lifetime", async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  await using emu = await startEmulator({ clock });
  const user = await engineerToken(emu);
  const res = await postJson(
    iamUrl(emu, SA, "generateAccessToken"),
    { delegates: [], scope: [CLOUD], lifetime: "600s" },
    user,
  );
  assert.equal(res.status, 200);
  assert.deepEqual(Object.keys(res.body), ["accessToken", "expireTime"]);
  assert.match(res.body.accessToken, /^ya29\./);
  assert.equal(res.body.expireTime, "2026-01-01T00:10:00Z");
  // The new token works as a caller, and is the service account's.
  const project = await get(`${emu.baseUrl}/v3/projects/demo-project`, res.body.accessToken);
  assert.equal(project.status, 200);
  const log = emu.requests().at(-1)!;
  assert.equal(log.principal, SA);
  // Default lifetime is one hour; fractional seconds are accepted.
  const dflt = await postJson(iamUrl(emu, SA, "generateAccessToken"), { scope: [CLOUD] }, user);
  assert.equal(dflt.body.expireTime, "2026-01-01T01:00:00Z");
  const frac = await postJson(
    iamUrl(emu, SA, "generateAccessToken"),
    { scope: [CLOUD], lifetime: "1.5s" },
    user,
  );
  assert.equal(frac.status, 200);
  // The account may be named by unique id, with the project instead of "-", and url-encoded.
  const byId = await postJson(
    `${emu.baseUrl}/v1/projects/demo-project/serviceAccounts/${
      emu.options.serviceAccounts[0].uniqueId
    }:generateAccessToken`,
    { scope: [CLOUD] },
    user,
  );
  assert.equal(byId.status, 200);
  const encoded = await postJson(
    iamUrl(emu, encodeURIComponent(SA), "generateAccessToken"),
    { scope: [CLOUD] },
    user,
  );
  assert.equal(encoded.status, 200);
});

Deno.test("generateAccessToken: lifetime format and limits (1 h, or 12 h with the org policy)", async () => {
  await using emu = await startEmulator(WORLD);
  const user = await engineerToken(emu);
  const badFormat = rpc(
    400,
    "INVALID_ARGUMENT",
    "Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration), Field 'lifetime', Illegal duration format; duration must end with 's'",
  );
  for (const lifetime of ["600", "abc", 600, "-5s", "1e3s", "s", ""]) {
    const res = await postJson(
      iamUrl(emu, SA, "generateAccessToken"),
      { scope: [CLOUD], lifetime },
      user,
    );
    assert.deepEqual([res.status, res.body], [400, badFormat], String(lifetime));
  }
  const zero = await postJson(
    iamUrl(emu, SA, "generateAccessToken"),
    { scope: [CLOUD], lifetime: "0s" },
    user,
  );
  assert.equal(zero.status, 400);
  const tooLong = await postJson(
    iamUrl(emu, SA, "generateAccessToken"),
    { scope: [CLOUD], lifetime: "3601s" },
    user,
  );
  assert.equal(tooLong.status, 400);
  assert.equal(tooLong.body.error.status, "INVALID_ARGUMENT");
  assert.match(
    tooLong.body.error.message,
    /3601s is more than the maximum of 3600s.*allowServiceAccountCredentialLifetimeExtension/,
  );
  const max = await postJson(
    iamUrl(emu, SA, "generateAccessToken"),
    { scope: [CLOUD], lifetime: "3600s" },
    user,
  );
  assert.equal(max.status, 200);
  const extended = await postJson(
    iamUrl(emu, LONG, "generateAccessToken"),
    { scope: [CLOUD], lifetime: "43200s" },
    user,
  );
  assert.equal(extended.status, 200);
  const beyond = await postJson(
    iamUrl(emu, LONG, "generateAccessToken"),
    { scope: [CLOUD], lifetime: "43201s" },
    user,
  );
  assert.equal(beyond.status, 400);
  assert.match(beyond.body.error.message, /maximum of 43200s/);
});

Deno.test("generateAccessToken: authentication errors are 401 UNAUTHENTICATED, scopes 403", async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  await using emu = await startEmulator({ clock });
  const url = iamUrl(emu, SA, "generateAccessToken");
  const none = await postJson(url, { scope: [CLOUD] });
  assert.equal(none.status, 401);
  assert.equal(none.body.error.status, "UNAUTHENTICATED");
  assert.match(none.body.error.message, /^Request is missing required authentication credential/);
  assert.match(none.headers.get("www-authenticate")!, /^Bearer realm=/);
  const bogus = await postJson(url, { scope: [CLOUD] }, "ya29.bogus");
  assert.equal(bogus.status, 401);
  assert.match(bogus.body.error.message, /^Request had invalid authentication credentials/);
  const user = await engineerToken(emu);
  clock.advance(3599_000);
  const expired = await postJson(url, { scope: [CLOUD] }, user);
  assert.equal(expired.status, 401, "an expired caller token is rejected");
  const narrow = emu.issueAccessToken("engineer@example.com", {
    scopes: ["https://www.googleapis.com/auth/userinfo.email"],
  });
  const scoped = await postJson(url, { scope: [CLOUD] }, narrow);
  assert.deepEqual(
    [scoped.status, scoped.body],
    [403, rpc(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.")],
  );
});

Deno.test("generateAccessToken: bad requests are 400 INVALID_ARGUMENT", async () => {
  await using emu = await startEmulator();
  const user = await engineerToken(emu);
  const url = iamUrl(emu, SA, "generateAccessToken");
  const cases: [unknown, RegExp][] = [
    ["{not json", /^Invalid JSON payload received\. Unexpected token/],
    ["[]", /^Invalid JSON payload received\. Expected an object/],
    [{ scope: [CLOUD], extra: 1 }, /^Invalid JSON payload received\. Unknown name "extra"/],
    [{}, /^Scope required\.$/],
    [{ scope: [] }, /^Scope required\.$/],
    [{ scope: CLOUD }, /^Invalid value at 'scope'/],
    [{ scope: [CLOUD], delegates: "x" }, /^Invalid value at 'delegates'/],
    [{ scope: [CLOUD], delegates: [A] }, /^Invalid form of delegates/],
  ];
  for (const [body, message] of cases) {
    const res = await postJson(url, body, user);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(res.body.error.code, 400);
    assert.equal(res.body.error.status, "INVALID_ARGUMENT");
    assert.match(res.body.error.message, message, JSON.stringify(body));
  }
  const badName = await postJson(iamUrl(emu, "not an account", "generateAccessToken"), {
    scope: [CLOUD],
  }, user);
  assert.equal(badName.status, 400);
  assert.match(badName.body.error.message, /^Invalid form of account ID/);
  const badMethod = await postJson(iamUrl(emu, SA, "signBlob"), {}, user);
  assert.equal(badMethod.status, 404);
  assert.equal(badMethod.body.error.status, "NOT_FOUND");
  const big = await postJson(url, { scope: [CLOUD], pad: "x".repeat(70_000) }, user);
  assert.equal(big.status, 413);
  assert.equal(big.body.error.code, 413);
});

Deno.test("generateAccessToken: unknown account 404, not permitted 403", async () => {
  await using emu = await startEmulator(WORLD);
  const user = await engineerToken(emu);
  const ghost = "ghost@demo-project.iam.gserviceaccount.com";
  const missing = await postJson(
    iamUrl(emu, ghost, "generateAccessToken"),
    { scope: [CLOUD] },
    user,
  );
  assert.deepEqual(
    [missing.status, missing.body],
    [404, rpc(404, "NOT_FOUND", `Not found; Gaia id not found for email ${ghost}`)],
  );
  // The engineer is not among B's impersonators.
  const denied = await postJson(iamUrl(emu, B, "generateAccessToken"), { scope: [CLOUD] }, user);
  assert.deepEqual([denied.status, denied.body], [403, DENIED_ACCESS]);
  // A service account's own token may not impersonate an account that does not list it.
  const saToken = emu.issueAccessToken(SA);
  const saDenied = await postJson(
    iamUrl(emu, A, "generateAccessToken"),
    { scope: [CLOUD] },
    saToken,
  );
  assert.deepEqual([saDenied.status, saDenied.body], [403, DENIED_ACCESS]);
});

Deno.test("generateAccessToken: delegation chains are honoured hop by hop", async () => {
  await using emu = await startEmulator(WORLD);
  const user = await engineerToken(emu);
  const via = (email: string) => `projects/-/serviceAccounts/${email}`;
  const chained = await postJson(
    iamUrl(emu, B, "generateAccessToken"),
    { delegates: [via(A)], scope: [CLOUD] },
    user,
  );
  assert.equal(chained.status, 200);
  assert.equal(emu.requests().at(-1)!.principal, "engineer@example.com");
  const info = await get(`${emu.baseUrl}/tokeninfo?access_token=${chained.body.accessToken}`);
  assert.equal(info.body.sub, emu.options.serviceAccounts[2].uniqueId, "token is B's");
  // A may act directly on B with its own token.
  const aToken = emu.issueAccessToken(A);
  const direct = await postJson(iamUrl(emu, B, "generateAccessToken"), { scope: [CLOUD] }, aToken);
  assert.equal(direct.status, 200);
  // A broken hop: the engineer may act as LONG, but B does not list LONG.
  const broken = await postJson(
    iamUrl(emu, B, "generateAccessToken"),
    { delegates: [via(LONG)], scope: [CLOUD] },
    user,
  );
  assert.deepEqual([broken.status, broken.body], [403, DENIED_ACCESS]);
  const unknownDelegate = await postJson(
    iamUrl(emu, B, "generateAccessToken"),
    { delegates: [via("nobody@demo-project.iam.gserviceaccount.com")], scope: [CLOUD] },
    user,
  );
  assert.equal(unknownDelegate.status, 404);
});

Deno.test("generateIdToken: an RS256 JWT from a published key with Google's claims", async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  await using emu = await startEmulator({ clock });
  const user = await engineerToken(emu);
  const res = await postJson(
    iamUrl(emu, SA, "generateIdToken"),
    { audience: "https://svc.example", includeEmail: true, delegates: [] },
    user,
  );
  assert.equal(res.status, 200);
  assert.deepEqual(Object.keys(res.body), ["token"]);
  const jwt = decodeJwt(res.body.token)!;
  const jwks = await get(`${emu.baseUrl}/oauth2/v3/certs`);
  const jwk = jwks.body.keys.find((k: { kid: string }) => k.kid === jwt.header.kid);
  assert.ok(jwk, "header kid names a JWKS key");
  assert.deepEqual(jwt.header, { alg: "RS256", kid: jwk.kid, typ: "JWT" });
  const key = await crypto.subtle.importKey(
    "jwk",
    jwk,
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["verify"],
  );
  assert.equal(await verifyRs256(jwt, key), true);
  const uniqueId = emu.options.serviceAccounts[0].uniqueId;
  const iat = clock.now() / 1000;
  assert.deepEqual(jwt.claims, {
    aud: "https://svc.example",
    azp: uniqueId,
    email: SA,
    email_verified: true,
    exp: iat + 3600,
    iat,
    iss: "https://accounts.google.com",
    sub: uniqueId,
  });
  const noEmail = await postJson(
    iamUrl(emu, SA, "generateIdToken"),
    { audience: "aud", useEmailAzp: true },
    user,
  );
  const claims = decodeJwt(noEmail.body.token)!.claims;
  assert.equal(claims.email, undefined);
  assert.equal(claims.azp, SA, "useEmailAzp puts the email in azp");
});

Deno.test("generateIdToken: errors mirror generateAccessToken with the getOpenIdToken permission", async () => {
  await using emu = await startEmulator(WORLD);
  const user = await engineerToken(emu);
  const noAudience = await postJson(
    iamUrl(emu, SA, "generateIdToken"),
    { includeEmail: true },
    user,
  );
  assert.deepEqual(
    [noAudience.status, noAudience.body],
    [400, rpc(400, "INVALID_ARGUMENT", "Audience required.")],
  );
  const badBool = await postJson(
    iamUrl(emu, SA, "generateIdToken"),
    { audience: "a", includeEmail: "yes" },
    user,
  );
  assert.equal(badBool.status, 400);
  const unknownField = await postJson(
    iamUrl(emu, SA, "generateIdToken"),
    { audience: "a", scope: [CLOUD] },
    user,
  );
  assert.equal(unknownField.status, 400);
  const denied = await postJson(iamUrl(emu, B, "generateIdToken"), { audience: "a" }, user);
  assert.deepEqual([denied.status, denied.body], [
    403,
    rpc(
      403,
      "PERMISSION_DENIED",
      "Permission 'iam.serviceAccounts.getOpenIdToken' denied on resource (or it may not exist).",
    ),
  ]);
  const unauth = await answer(
    await fetch(iamUrl(emu, SA, "generateIdToken"), { method: "POST", body: "{}" }),
  );
  assert.equal(unauth.status, 401);
});
