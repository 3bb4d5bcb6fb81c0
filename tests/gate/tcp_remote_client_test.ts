/**
 * The remote client's identity reaches the audit only for requests of the TCP listener: lines
 * written outside a client's context (the Unix sockets) carry no client fields, lines written
 * inside it (even from later callbacks and awaits) do; the unverified peer a remote requester
 * presents names the client and its address, with control characters neutralised.
 */
import assert from "node:assert/strict";
import { MemoryAuditLog } from "../../src/gate/audit.ts";
import {
  auditWithRemoteClient,
  currentRemoteClient,
  type RemoteClient,
  remotePeer,
  runAsRemoteClient,
} from "../../src/gate/remote_client.ts";

const ALICE: RemoteClient = { auth: "certificate", name: "alice", address: "10.1.2.3:40000" };

Deno.test("audit lines carry the remote client only inside its request", async () => {
  const memory = new MemoryAuditLog();
  const audit = auditWithRemoteClient(memory);
  const line = { endpoint: "/token", level: "dev", result: "granted", socket: "main" } as const;
  audit.write(line);
  await runAsRemoteClient(ALICE, async () => {
    await Promise.resolve();
    audit.write({ ...line, socket: "tcp" });
    await new Promise((r) => setTimeout(r, 1));
    audit.write({ ...line, socket: "tcp", result: "revoked" });
  });
  assert.equal(currentRemoteClient(), undefined);
  assert.deepEqual(memory.entries[0], line);
  for (const entry of memory.entries.slice(1)) {
    assert.equal(entry.client, "alice");
    assert.equal(entry.client_auth, "certificate");
    assert.equal(entry.client_address, "10.1.2.3:40000");
  }
});

Deno.test("a remote requester is unverified and named, never a guessed process", () => {
  const peer = remotePeer({ auth: "token_review", name: "x\u001b[2Jy", address: "10.0.0.9:1" });
  assert.equal(peer.verified, false);
  assert.equal(peer.pid, undefined);
  assert.ok(!peer.reason!.includes("\u001b"), "no terminal escape reaches a surface");
  assert.match(
    peer.reason!,
    /^tcp client "x.*y" \(Kubernetes service-account token \(TokenReview\)\)/,
  );
  assert.match(peer.reason!, /from 10\.0\.0\.9:1; the kernel peer is not available over TCP$/);
});
