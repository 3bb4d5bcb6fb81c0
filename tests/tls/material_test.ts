/**
 * The gate's loader (loadTlsMaterial) refuses unsafe material (symlinks, foreign owner, loose
 * modes of the directory or a file) and invalid material (missing files, expired or not-yet-valid
 * CA, a server certificate from another CA, a mismatched key, an unusable revocation list), each
 * with a message saying what to run; good material loads without reading the CA key.
 */
import assert from "node:assert/strict";
import { InvalidTlsMaterialError, UnsafeTlsFileError } from "../../src/tls/errors.ts";
import { loadTlsMaterial } from "../../src/tls/material.ts";
import { FILES } from "../../src/tls/profile.ts";
import { makeTlsDir } from "./fixtures.ts";

const DAY = 86_400_000;

Deno.test("good material loads: PEMs for node:https, SANs, an empty revocation list", async () => {
  const tls = await makeTlsDir({ sans: ["DNS:gate.example"] });
  try {
    await Deno.remove(`${tls.dir}/${FILES.caKey}`); // the gate never needs the CA key
    const m = await loadTlsMaterial(tls.dir);
    assert.equal(m.caPem, tls.caPem);
    assert.match(m.certPem, /^-----BEGIN CERTIFICATE-----/);
    assert.match(m.keyPem, /^-----BEGIN PRIVATE KEY-----/);
    assert.ok(m.serverSans.includes("DNS:gate.example"));
    assert.deepEqual(m.warnings, []);
    assert.deepEqual(m.revocation.serials, []);
    assert.equal(await m.revocation.isRevoked("01"), false);
  } finally {
    await tls.cleanup();
  }
});

Deno.test("unsafe directory or files are refused with the fix", async () => {
  const tls = await makeTlsDir();
  try {
    await Deno.chmod(tls.dir, 0o755);
    await assert.rejects(
      loadTlsMaterial(tls.dir),
      (err: Error) =>
        err instanceof UnsafeTlsFileError && /mode 0755; run: chmod 700/.test(err.message),
    );
    await Deno.chmod(tls.dir, 0o700);
    for (const file of [FILES.ca, FILES.server, FILES.serverKey]) {
      await Deno.chmod(`${tls.dir}/${file}`, 0o644);
      await assert.rejects(loadTlsMaterial(tls.dir), /mode 0644/, file);
      await Deno.chmod(`${tls.dir}/${file}`, 0o600);
    }
    await Deno.rename(`${tls.dir}/${FILES.serverKey}`, `${tls.root}/key.pem`);
    await Deno.symlink(`${tls.root}/key.pem`, `${tls.dir}/${FILES.serverKey}`);
    await assert.rejects(loadTlsMaterial(tls.dir), /server-key\.pem is a symlink/);
    await Deno.remove(`${tls.dir}/${FILES.serverKey}`);
    await Deno.rename(`${tls.root}/key.pem`, `${tls.dir}/${FILES.serverKey}`);
    await Deno.symlink(tls.dir, `${tls.root}/link`);
    await assert.rejects(loadTlsMaterial(`${tls.root}/link`), /is a symlink/);
    await Deno.mkdir(`${tls.dir}/${FILES.server}.d`);
    await loadTlsMaterial(tls.dir);
  } finally {
    await tls.cleanup();
  }
});

Deno.test({
  name: "a file or directory owned by another user is refused (needs root to chown)",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    const tls = await makeTlsDir();
    try {
      await Deno.chown(`${tls.dir}/${FILES.server}`, 4242, 4242);
      await assert.rejects(loadTlsMaterial(tls.dir), /server\.pem is owned by uid 4242/);
      await Deno.chown(`${tls.dir}/${FILES.server}`, 0, 0);
      await Deno.chown(tls.dir, 4242, 4242);
      await assert.rejects(loadTlsMaterial(tls.dir), /owned by uid 4242/);
    } finally {
      await tls.cleanup();
    }
  },
});

Deno.test("missing material says to run init-tls", async () => {
  const tls = await makeTlsDir();
  try {
    await Deno.remove(`${tls.dir}/${FILES.server}`);
    await assert.rejects(
      loadTlsMaterial(tls.dir),
      (err: Error) =>
        err instanceof InvalidTlsMaterialError &&
        /server\.pem is missing; run: authcalator init-tls --tls-dir/.test(err.message),
    );
    await assert.rejects(
      loadTlsMaterial(`${tls.root}/nowhere`),
      /does not exist; run: authcalator init-tls/,
    );
  } finally {
    await tls.cleanup();
  }
});

Deno.test("expired, not-yet-valid, foreign or mismatched material is refused", async () => {
  const start = new Date("2026-01-01T00:00:00Z");
  const tls = await makeTlsDir({ now: start });
  const other = await makeTlsDir({ now: start });
  try {
    await assert.rejects(
      loadTlsMaterial(tls.dir, new Date(start.getTime() - DAY)),
      /not valid yet .*check the clock/,
    );
    await assert.rejects(
      loadTlsMaterial(tls.dir, new Date(start.getTime() + 91 * DAY)),
      /server certificate .* expired at .*run: authcalator init-tls/,
    );
    await assert.rejects(
      loadTlsMaterial(tls.dir, new Date(start.getTime() + 1100 * DAY)),
      /CA certificate .* expired .*--rotate-ca/,
    );
    const swap = async (f: string) =>
      await Deno.writeTextFile(`${tls.dir}/${f}`, await Deno.readTextFile(`${other.dir}/${f}`));
    await swap(FILES.serverKey);
    await assert.rejects(loadTlsMaterial(tls.dir, start), /private key does not match/);
    await swap(FILES.server);
    await assert.rejects(loadTlsMaterial(tls.dir, start), /not issued by this CA/);
    await swap(FILES.ca);
    await loadTlsMaterial(tls.dir, start);
    await Deno.writeTextFile(`${tls.dir}/${FILES.server}`, "not pem", { mode: 0o600 });
    await assert.rejects(loadTlsMaterial(tls.dir, start), /server\.pem: text outside PEM blocks/);
  } finally {
    await tls.cleanup();
    await other.cleanup();
  }
});

Deno.test("a server certificate with a client EKU (wrong-EKU) is refused", async () => {
  const tls = await makeTlsDir();
  try {
    for (const f of [FILES.client, FILES.clientKey]) {
      const target = f === FILES.client ? FILES.server : FILES.serverKey;
      await Deno.writeTextFile(`${tls.dir}/${target}`, await Deno.readTextFile(`${tls.dir}/${f}`));
    }
    await assert.rejects(loadTlsMaterial(tls.dir), /wrong extended key usage/);
  } finally {
    await tls.cleanup();
  }
});

Deno.test("an unusable revocation list stops the gate from starting", async () => {
  const tls = await makeTlsDir();
  try {
    await Deno.writeTextFile(`${tls.dir}/${FILES.crl}`, "garbage", { mode: 0o600 });
    await assert.rejects(loadTlsMaterial(tls.dir), /revocation list .* unusable/);
  } finally {
    await tls.cleanup();
  }
});

Deno.test("a file too large to be TLS material is refused unread", async () => {
  const tls = await makeTlsDir();
  try {
    await Deno.writeTextFile(`${tls.dir}/${FILES.server}`, "x".repeat(1_000_001), { mode: 0o600 });
    await assert.rejects(loadTlsMaterial(tls.dir), /server\.pem is too large for TLS material/);
  } finally {
    await tls.cleanup();
  }
});
