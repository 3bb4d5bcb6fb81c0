/**
 * The name a client certificate proves, from node:tls peer facts: upstream's shared client is
 * `default`; a named client needs CN and its one authcalator URI SAN to agree on a valid name;
 * anything else (no certificate, a stranger CN, two names, a mismatch, an invalid name) is refused.
 */
import assert from "node:assert/strict";
import { identifyClient } from "../../src/tls/client_identity.ts";
import { RevocationList } from "../../src/tls/revocation.ts";
import { clientNameOfPeer } from "../../src/tls/verify.ts";
import { makeTlsDir } from "./fixtures.ts";

Deno.test("client names from peer facts", () => {
  const uri = (n: string) => `URI:urn:authcalator:client:${n}`;
  const cases: [Parameters<typeof clientNameOfPeer>[0], string | undefined][] = [
    [{ subject: { CN: "gcp-authcalator client" } }, "default"],
    [{ subject: { CN: "gcp-authcalator client" }, subjectaltname: "" }, "default"],
    [{ subject: { CN: "ws-1" }, subjectaltname: uri("ws-1") }, "ws-1"],
    [{ subject: { CN: "ws-1" }, subjectaltname: `DNS:x.example, ${uri("ws-1")}` }, "ws-1"],
    [{ subject: { CN: "ws-1" } }, undefined],
    [{ subject: { CN: "ws-1" }, subjectaltname: uri("ws-2") }, undefined],
    [{ subject: { CN: "ws-1" }, subjectaltname: `${uri("ws-1")}, ${uri("ws-1")}` }, undefined],
    [{ subject: { CN: ["ws-1", "ws-2"] }, subjectaltname: uri("ws-1") }, undefined],
    [{ subject: { CN: "default" }, subjectaltname: uri("default") }, undefined],
    [{ subject: { CN: "Bad Name" }, subjectaltname: uri("Bad Name") }, undefined],
    [{ subject: { CN: "gcp-authcalator client" }, subjectaltname: "URI:https://x" }, undefined],
    [{}, undefined],
  ];
  for (const [peer, name] of cases) {
    assert.equal(clientNameOfPeer(peer), name, JSON.stringify(peer));
  }
});

Deno.test("identifyClient refuses a missing certificate and an unusable list", async () => {
  const tls = await makeTlsDir();
  try {
    const list = new RevocationList(tls.dir, tls.issuer.cert);
    assert.deepEqual(await identifyClient(undefined, list), {
      ok: false,
      reason: "no client certificate",
    });
    const peer = { subject: { CN: "gcp-authcalator client" }, serialNumber: "0ABC" };
    assert.deepEqual(await identifyClient(peer, list), { ok: true, name: "default" });
    await Deno.writeTextFile(`${tls.dir}/revoked.crl.pem`, "junk", { mode: 0o600 });
    const refused = await identifyClient(peer, list);
    assert.deepEqual(refused, {
      ok: false,
      reason: "the gate's revocation list is unusable; see the gate's log",
    });
  } finally {
    await tls.cleanup();
  }
});
