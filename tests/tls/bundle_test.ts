/**
 * Client bundles: the good forms (upstream's shared client, a named client, base64) load with their
 * name; every bad form is refused with a message naming what is wrong: wrong block counts, foreign
 * blocks, a mismatched key, and the bad certificates of fixtures.ts (expired, not yet valid, wrong
 * CA, wrong EKU, unnamed); a bundle file with loose permissions or a foreign owner, or missing.
 */
import assert from "node:assert/strict";
import {
  formatBundle,
  parseBundle,
  readBundleFile,
  readBundleFromDir,
} from "../../src/tls/bundle.ts";
import { InvalidTlsMaterialError, UnsafeTlsFileError } from "../../src/tls/errors.ts";
import { encodeBase64, parsePem } from "../../src/tls/pem.ts";
import { FILES } from "../../src/tls/profile.ts";
import { badClient, type BadClientKind, goodClient, makeTlsDir } from "./fixtures.ts";

const now = () => new Date();

Deno.test("the shared bundle, a named bundle and the base64 form load with their client names", async () => {
  const tls = await makeTlsDir();
  try {
    const shared = await readBundleFromDir(tls.dir, now());
    assert.equal(shared.name, "default");
    assert.equal(shared.caPem, tls.caPem);
    const alice = await goodClient(tls, "alice");
    assert.equal((await readBundleFromDir(tls.dir, now(), "alice")).name, "alice");
    const b64 = encodeBase64(new TextEncoder().encode(alice.bundle));
    const fromEnv = await parseBundle(b64, now(), "GCP_AUTHCALATOR_TLS_BUNDLE_B64");
    assert.equal(fromEnv.name, "alice");
    assert.equal(fromEnv.serial, alice.serial);
  } finally {
    await tls.cleanup();
  }
});

Deno.test("wrong block counts, foreign blocks, garbage and a mismatched key are refused", async () => {
  const tls = await makeTlsDir();
  try {
    const bundle = await Deno.readTextFile(`${tls.dir}/${FILES.bundle}`);
    const [ca, cert, key] = parsePem(bundle, "bundle").map((b) => b.pem);
    const other = await goodClient(tls, "other");
    const [, , otherKey] = parsePem(other.bundle, "other").map((b) => b.pem);
    const cases: [string, string, RegExp][] = [
      ["no key", ca + cert, /2 CERTIFICATE blocks .* found 2 and 0/],
      ["one cert", cert + key, /found 1 and 1/],
      ["three certs", ca + cert + cert + key, /found 3 and 1/],
      ["two keys", ca + cert + key + key, /found 2 and 2/],
      ["client first", cert + ca + key, /CA certificate is not a CA|not a CA|was not issued/],
      [
        "a CRL block",
        ca + cert + key + "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
        /unexpected X509 CRL/,
      ],
      ["mismatched key", formatBundle(ca, cert, otherKey), /private key does not match/],
      ["text between blocks", ca + "hello\n" + cert + key, /text outside PEM blocks/],
      [
        "bad base64",
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        /not valid base64/,
      ],
      ["not base64 at all", "%%%", /neither PEM nor base64/],
      ["empty", "  \n", /is empty/],
    ];
    for (const [what, text, expected] of cases) {
      await assert.rejects(
        parseBundle(text, now(), "test bundle"),
        (err: Error) => err instanceof InvalidTlsMaterialError && expected.test(err.message),
        what,
      );
    }
  } finally {
    await tls.cleanup();
  }
});

Deno.test("bad client certificates are refused by the bundle check", async () => {
  const tls = await makeTlsDir();
  try {
    const expected: Record<Exclude<BadClientKind, "revoked">, RegExp> = {
      "expired": /client certificate expired at/,
      "not-yet-valid": /not valid yet/,
      "wrong-ca": /./, // self-consistent under a stranger CA: refused by the gate, not here
      "wrong-eku": /wrong extended key usage/,
      "unnamed": /carries no client name/,
    };
    for (const [kind, pattern] of Object.entries(expected)) {
      const client = await badClient(tls, kind as BadClientKind);
      if (kind === "wrong-ca") {
        const parsed = await parseBundle(client.bundle, now());
        assert.notEqual(parsed.caPem, tls.caPem, "a stranger CA is a different CA");
        const spliced = formatBundle(tls.caPem, client.certPem, client.keyPem);
        await assert.rejects(parseBundle(spliced, now()), /not issued by this CA/);
        continue;
      }
      await assert.rejects(parseBundle(client.bundle, now()), pattern, kind);
    }
  } finally {
    await tls.cleanup();
  }
});

Deno.test("a bundle file must be 0600 and ours; a symlink (Secret volume) is followed and checked", async () => {
  const tls = await makeTlsDir();
  try {
    const path = `${tls.root}/bundle.pem`;
    await Deno.writeTextFile(path, await Deno.readTextFile(`${tls.dir}/${FILES.bundle}`), {
      mode: 0o600,
    });
    assert.equal((await readBundleFile(path, now())).name, "default");
    await Deno.chmod(path, 0o640);
    await assert.rejects(
      readBundleFile(path, now()),
      (err: Error) =>
        err instanceof UnsafeTlsFileError && /mode 0640/.test(err.message) &&
        /chmod 600/.test(err.message),
    );
    await Deno.chmod(path, 0o600);
    await Deno.symlink(path, `${tls.root}/link.pem`);
    assert.equal((await readBundleFile(`${tls.root}/link.pem`, now())).name, "default");
    await Deno.chmod(path, 0o644);
    await assert.rejects(readBundleFile(`${tls.root}/link.pem`, now()), /mode 0644/);
    await assert.rejects(
      readBundleFile(`${tls.root}/missing.pem`, now()),
      /missing\.pem does not exist; copy one made by 'authcalator init-tls'/,
    );
    await assert.rejects(readBundleFile(tls.root, now()), /not a regular file/);
  } finally {
    await tls.cleanup();
  }
});

Deno.test({
  name: "a bundle file owned by another user is refused (needs root to chown)",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    const tls = await makeTlsDir();
    try {
      const path = `${tls.root}/bundle.pem`;
      await Deno.copyFile(`${tls.dir}/${FILES.bundle}`, path);
      await Deno.chmod(path, 0o600);
      await Deno.chown(path, 4242, 4242);
      await assert.rejects(readBundleFile(path, now()), /owned by uid 4242/);
    } finally {
      await tls.cleanup();
    }
  },
});
