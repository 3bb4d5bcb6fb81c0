/** Client bundle parsing: the bad forms a copied bundle takes are named with their fix. */
import assert from "node:assert/strict";
import { ClientBundleError, parseClientBundle } from "../../src/gate_api/client_bundle.ts";
import { issueTlsMaterial, type TlsMaterial } from "./remote_tls_fixture.ts";

const parent = await Deno.makeTempDir();
const good: TlsMaterial = await issueTlsMaterial(parent, { clientName: "workspace-a" });
const other: TlsMaterial = await issueTlsMaterial(parent);

function refused(text: string, pattern: RegExp, now?: number): void {
  assert.throws(() => parseClientBundle(text, "the tls_bundle file /b", now), (err) => {
    assert.ok(err instanceof ClientBundleError);
    assert.match(err.message, pattern);
    assert.match(err.message, /the tls_bundle file \/b/);
    assert.doesNotMatch(err.message, /PRIVATE KEY-----|MII/);
    return true;
  });
}

Deno.test("a good bundle parses, as PEM and as gcp-authcalator's base64", () => {
  const pem = parseClientBundle(good.bundle, "x");
  assert.equal(pem.clientName, "workspace-a");
  assert.equal(pem.caPem.trim(), good.caPem.trim());
  assert.equal(pem.certPem.trim(), good.clientPem.trim());
  assert.ok(pem.notAfter > Date.now());
  const b64 = parseClientBundle(btoa(good.bundle), "x");
  assert.equal(b64.keyPem, pem.keyPem);
});

Deno.test("wrong block counts are refused with the counts", () => {
  refused(good.caPem + good.clientPem, /2 certificate\(s\) and 0 private key\(s\)/);
  refused(good.caPem + good.clientPem + good.clientPem + good.clientKeyPem, /3 certificate/);
  refused(good.clientPem + good.clientKeyPem, /1 certificate\(s\) and 1 private/);
  refused(good.bundle + good.clientKeyPem, /2 private key/);
  refused("", /empty/);
});

Deno.test("a foreign block label, garbage and base64 of non-PEM are refused", () => {
  refused(
    good.bundle + "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n",
    /EC PARAMETERS block/,
  );
  refused("not a bundle at all!", /neither PEM nor base64/);
  refused(btoa("hello"), /does not hold PEM/);
});

Deno.test("a key that is not the client certificate's is refused", () => {
  const mismatched = [good.caPem, good.clientPem, other.clientKeyPem].join("");
  refused(mismatched, /private key does not belong to the client certificate/);
});

Deno.test("a client certificate from another CA, or the blocks in the wrong order, is refused", () => {
  refused(
    [good.caPem, other.clientPem, other.clientKeyPem].join(""),
    /not issued by the bundle's CA/,
  );
  refused(
    [good.clientPem, good.caPem, good.clientKeyPem].join(""),
    /first certificate is not a CA/,
  );
  refused([good.caPem, good.caPem, good.caKeyPem].join(""), /second certificate is a CA/);
});

Deno.test("an expired or not-yet-valid bundle is refused", () => {
  refused(good.bundle, /expired on/, Date.now() + 400 * 86_400_000);
  refused(good.bundle, /not valid before/, Date.now() - 86_400_000);
});

Deno.test("teardown", async () => {
  await Deno.remove(parent, { recursive: true });
});
