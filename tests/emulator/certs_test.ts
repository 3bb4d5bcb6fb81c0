import assert from "node:assert/strict";
import { createVerify, X509Certificate } from "node:crypto";
import { startEmulator } from "../../src/emulator/mod.ts";
import { engineerToken, get, iamUrl, postJson, SA } from "./fixture.ts";

Deno.test("certs: JWKS and PEM maps name the same key, cacheable as Google's are", async () => {
  await using emu = await startEmulator();
  const v3 = await get(`${emu.baseUrl}/oauth2/v3/certs`);
  assert.equal(v3.status, 200);
  assert.equal(v3.body.keys.length, 1);
  const [key] = v3.body.keys;
  assert.deepEqual(Object.keys(key).sort(), ["alg", "e", "kid", "kty", "n", "use"]);
  assert.deepEqual([key.kty, key.alg, key.use, key.e], ["RSA", "RS256", "sig", "AQAB"]);
  assert.match(v3.headers.get("cache-control")!, /max-age=\d+/);
  const v1 = await get(`${emu.baseUrl}/oauth2/v1/certs`);
  assert.deepEqual(Object.keys(v1.body), [key.kid]);
  const cert = new X509Certificate(v1.body[key.kid]);
  assert.equal(cert.publicKey.export({ format: "jwk" }).n, key.n);
});

Deno.test("certs: an ID token verifies against the PEM certificate (node:crypto, as clients do)", async () => {
  await using emu = await startEmulator();
  const user = await engineerToken(emu);
  const { body } = await postJson(iamUrl(emu, SA, "generateIdToken"), { audience: "a" }, user);
  const [h, p, s] = (body.token as string).split(".");
  const { kid } = JSON.parse(atob(h.replace(/-/g, "+").replace(/_/g, "/")));
  const pems = (await get(`${emu.baseUrl}/oauth2/v1/certs`)).body;
  const verifier = createVerify("RSA-SHA256");
  verifier.update(`${h}.${p}`);
  assert.equal(verifier.verify(pems[kid], Buffer.from(s, "base64url")), true);
});
