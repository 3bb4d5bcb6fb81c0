/**
 * The revocation list a running gate holds: init-tls --revoke takes effect on the next check
 * without a restart (the file is re-read when it changes); serials match whatever their spelling
 * (node's upper-case hex, colons, leading zeros); a list that cannot be trusted (garbage, signed
 * by another CA, unsafe mode) fails closed until fixed; a deleted list revokes nothing.
 */
import assert from "node:assert/strict";
import { revokeClient } from "../../src/tls/init.ts";
import { loadTlsMaterial } from "../../src/tls/material.ts";
import { FILES } from "../../src/tls/profile.ts";
import { RevocationList } from "../../src/tls/revocation.ts";
import { parseCertificate } from "../../src/tls/verify.ts";
import { goodClient, makeTlsDir } from "./fixtures.ts";

Deno.test("a revocation is honoured by the live list without a restart", async () => {
  const tls = await makeTlsDir();
  try {
    const { revocation } = await loadTlsMaterial(tls.dir);
    const alice = await goodClient(tls, "alice");
    const bob = await goodClient(tls, "bob");
    const aliceCert = parseCertificate(await Deno.readTextFile(alice.certPath), "alice");
    assert.equal(await revocation.isRevoked(aliceCert), false);
    await revokeClient(tls.dir, "alice", new Date());
    assert.equal(await revocation.isRevoked(aliceCert), true);
    // node:tls reports serials in upper case; leading zeros and colons do not matter.
    assert.equal(await revocation.isRevoked({ serialNumber: alice.serial.toUpperCase() }), true);
    assert.equal(await revocation.isRevoked("00" + alice.serial), true);
    assert.equal(await revocation.isRevoked(bob.serial), false);
    await revokeClient(tls.dir, "bob", new Date());
    assert.equal(await revocation.isRevoked(bob.serial), true);
    assert.equal(revocation.problem, undefined);
  } finally {
    await tls.cleanup();
  }
});

Deno.test("an untrustworthy list fails closed until it is fixed; a deleted one revokes nothing", async () => {
  const tls = await makeTlsDir();
  const other = await makeTlsDir();
  try {
    const alice = await goodClient(tls, "alice");
    await revokeClient(tls.dir, "default", new Date());
    const { revocation } = await loadTlsMaterial(tls.dir);
    const good = await Deno.readTextFile(`${tls.dir}/${FILES.crl}`);
    const crlPath = `${tls.dir}/${FILES.crl}`;

    await Deno.writeTextFile(crlPath, "garbage that is not a CRL", { mode: 0o600 });
    assert.equal(await revocation.isRevoked(alice.serial), true);
    assert.match(revocation.problem!, /unusable, refusing every client .*text outside PEM/);

    await revokeClient(other.dir, "default", new Date());
    await Deno.copyFile(`${other.dir}/${FILES.crl}`, crlPath);
    assert.equal(await revocation.isRevoked(alice.serial), true);
    assert.match(revocation.problem!, /not signed by this CA/);

    await Deno.writeTextFile(crlPath, good);
    await Deno.chmod(crlPath, 0o644);
    assert.equal(await revocation.isRevoked(alice.serial), true);
    assert.match(revocation.problem!, /mode 0644/);

    await Deno.chmod(crlPath, 0o600);
    assert.equal(await revocation.isRevoked(alice.serial), false);
    assert.equal(revocation.problem, undefined);

    await Deno.remove(crlPath);
    assert.equal(await revocation.isRevoked(alice.serial), false);
    assert.deepEqual(revocation.serials, []);
  } finally {
    await tls.cleanup();
    await other.cleanup();
  }
});

Deno.test("concurrent checks during a change read the file once and agree", async () => {
  const tls = await makeTlsDir();
  try {
    const alice = await goodClient(tls, "alice");
    const list = new RevocationList(tls.dir, (await loadTlsMaterial(tls.dir)).ca);
    await list.refresh();
    await revokeClient(tls.dir, "alice", new Date());
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => list.isRevoked(alice.serial)),
    );
    assert.deepEqual(new Set(answers), new Set([true]));
  } finally {
    await tls.cleanup();
  }
});
