/**
 * expiringMaterial (the gate's banner and /health warning): lists the CA, server, shared and named
 * clients that expire within the window (default 14 days) or already have, skips revoked named
 * clients, and says how to renew each.
 */
import assert from "node:assert/strict";
import { describeExpiring, expiringMaterial } from "../../src/tls/expiry.ts";
import { issueNamedClient, revokeClient } from "../../src/tls/init.ts";
import { makeTlsDir } from "./fixtures.ts";

const DAY = 86_400_000;

Deno.test("nothing is listed for fresh material; leaves show up 14 days before they expire", async () => {
  const start = new Date("2026-01-01T00:00:00Z");
  const tls = await makeTlsDir({ now: start });
  try {
    await issueNamedClient(tls.dir, "alice", start);
    await issueNamedClient(tls.dir, "bob", start);
    await revokeClient(tls.dir, "bob", start);
    assert.deepEqual(await expiringMaterial(tls.dir, start), []);
    assert.deepEqual(await expiringMaterial(tls.dir, new Date(start.getTime() + 75 * DAY)), []);
    const soon = await expiringMaterial(tls.dir, new Date(start.getTime() + 80 * DAY));
    assert.deepEqual(soon.map((i) => i.what), ["server", "client default", "client alice"]);
    assert.ok(soon.every((i) => !i.expired && i.daysLeft === 10));
    assert.match(describeExpiring(soon[0]), /server certificate expires in 10 day\(s\).*init-tls$/);
    assert.match(
      describeExpiring(soon[2]),
      /init-tls --revoke alice && authcalator init-tls --client alice/,
    );
    const wider = await expiringMaterial(tls.dir, start, 100);
    assert.equal(wider.length, 3);
    const late = await expiringMaterial(tls.dir, new Date(start.getTime() + 1090 * DAY));
    assert.deepEqual(late.map((i) => [i.what, i.expired]), [
      ["CA", false],
      ["server", true],
      ["client default", true],
      ["client alice", true],
    ]);
    assert.match(describeExpiring(late[0]), /--rotate-ca/);
    assert.match(describeExpiring(late[1]), /expired at/);
  } finally {
    await tls.cleanup();
  }
});

Deno.test("a clients directory that is a symlink or loose is refused", async () => {
  const tls = await makeTlsDir();
  try {
    await issueNamedClient(tls.dir, "alice", new Date());
    await Deno.chmod(`${tls.dir}/clients`, 0o755);
    await assert.rejects(expiringMaterial(tls.dir, new Date()), /clients has mode 0755/);
    await Deno.rename(`${tls.dir}/clients`, `${tls.root}/elsewhere`);
    await Deno.chmod(`${tls.root}/elsewhere`, 0o700);
    await Deno.symlink(`${tls.root}/elsewhere`, `${tls.dir}/clients`);
    await assert.rejects(expiringMaterial(tls.dir, new Date()), /clients is a symlink/);
  } finally {
    await tls.cleanup();
  }
});
