import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { ManualClock } from "../../src/clock.ts";
import {
  b64url,
  decodeJwt,
  fromB64url,
  generateRsaKeyPair,
  keyIdOf,
  privateKeyPem,
  signJwt,
  verifyRs256,
} from "../../src/emulator/jwt.ts";
import { SigningKeys } from "../../src/emulator/signing_keys.ts";
import { importPrivateKey } from "./fixture.ts";

Deno.test("signJwt produces an RS256 JWT that verifies, and tampering breaks it", async () => {
  const keys = await generateRsaKeyPair();
  const token = await signJwt({ kid: "k1", alg: "none" }, { a: 1 }, keys.privateKey);
  const jwt = decodeJwt(token)!;
  assert.deepEqual(jwt.header, { alg: "RS256", kid: "k1" }, "alg is forced and comes first");
  assert.deepEqual(jwt.claims, { a: 1 });
  assert.equal(await verifyRs256(jwt, keys.publicKey), true);

  const [h, , s] = token.split(".");
  const forged = decodeJwt(`${h}.${b64url(new TextEncoder().encode('{"a":2}'))}.${s}`)!;
  assert.equal(await verifyRs256(forged, keys.publicKey), false);
  const other = await generateRsaKeyPair();
  assert.equal(await verifyRs256(jwt, other.publicKey), false);
  assert.equal(await verifyRs256({ ...jwt, header: { alg: "HS256" } }, keys.publicKey), false);
});

Deno.test("decodeJwt rejects what is not a compact JWT", () => {
  for (const bad of ["", "a.b", "a.b.c.d", "!!.e30.x", "e30.bm90IGpzb24.x", "W10.e30.x"]) {
    assert.equal(decodeJwt(bad), undefined, bad);
  }
  assert.throws(() => fromB64url("a+b/"), SyntaxError);
});

Deno.test("private keys are PKCS#8 PEM that WebCrypto imports back; key ids are 40 hex", async () => {
  const keys = await generateRsaKeyPair();
  const pem = await privateKeyPem(keys.privateKey);
  assert.match(
    pem,
    /^-----BEGIN PRIVATE KEY-----\n([A-Za-z0-9+/=]{64}\n)+[A-Za-z0-9+/=]{1,64}\n-----END PRIVATE KEY-----\n$/,
  );
  const back = await importPrivateKey(pem);
  const jwt = decodeJwt(await signJwt({}, { x: 1 }, back))!;
  assert.equal(await verifyRs256(jwt, keys.publicKey), true);
  assert.match(await keyIdOf(keys.publicKey), /^[0-9a-f]{40}$/);
});

Deno.test("the signing key's certificate is a valid self-signed X.509 cert for the JWKS key", async () => {
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  const keys = await SigningKeys.create(clock);
  const pem = keys.pemCerts()[keys.kid];
  const cert = new X509Certificate(pem);
  assert.equal(cert.verify(cert.publicKey), true);
  assert.equal(new Date(cert.validFrom).getTime(), clock.now() - 3600_000);
  assert.equal(new Date(cert.validTo).getTime(), clock.now() + 14 * 86400_000);
  const jwk = cert.publicKey.export({ format: "jwk" });
  const [published] = keys.jwks().keys;
  assert.deepEqual(
    { n: published.n, e: published.e, kid: published.kid, alg: published.alg, use: published.use },
    { n: jwk.n, e: jwk.e, kid: keys.kid, alg: "RS256", use: "sig" },
  );
});
