/**
 * The prod layer over a real Unix socket, driven with raw bytes (Deno.connect): a stolen-slot
 * attempt (issue 7, defect 2), a client that leaves mid-body or after queueing (defect 5) and a
 * held session whose holder goes away (the gate side of defect 4). The listener here is Deno.serve
 * with a per-request peer handed to the app as `c.env.peer`, in arrival order, the way the gate's
 * kernel-peer listener hands it; the admin socket is driven in-process as `authcalator approve`.
 */
import assert from "node:assert/strict";
import { renderRequest } from "../../src/commands/pending.ts";
import type { PendingRequestJson } from "../../src/gate/pending.ts";
import type { PeerEnv, PeerIdentity } from "../../src/gate/peer.ts";
import { PROD_BODY_TIMEOUT_MS } from "../../src/gate/request_body.ts";
import { pairingCode } from "../../src/gate_api/pairing_code.ts";
import { HOLD_HEARTBEAT, HOLD_HEARTBEAT_MS } from "../../src/gate_api/session_hold.ts";
import { testGate } from "./gate_fixture.ts";
import { post, RawClient, until } from "./raw_client.ts";

const CMD = ["gcloud", "sql", "connect", "prod-db"];
const ENGINEER: PeerIdentity = {
  verified: true,
  uid: 1000,
  pid: 4242,
  exe: "/usr/local/bin/authcalator",
  argv: ["authcalator", "with-prod", "--", ...CMD],
};
const ATTACKER: PeerIdentity = {
  verified: true,
  uid: 1000,
  pid: 666,
  nsPid: [666, 31],
  exe: "/usr/bin/python3",
  argv: ["python3", "/tmp/steal.py"],
};

async function setup() {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/gate.sock`;
  const { timers, clock, audit, logs, layer, app } = testGate();
  /** Peers handed to the next requests on the socket, in arrival order. */
  const peers: PeerIdentity[] = [];
  const server = Deno.serve(
    { path, transport: "unix", onListen() {} },
    (req) => {
      const peer = peers.shift() ?? { verified: false, reason: "no peer scripted" };
      const env: PeerEnv = { peer: () => Promise.resolve(peer) };
      return app.fetch(req, env);
    },
  );
  const admin = async (p: string, method = "GET") => {
    const res = await layer.adminApp.request(`http://admin${p}`, { method });
    return { status: res.status, body: await res.json() };
  };
  const pendingList = async () => (await admin("/pending")).body.pending as PendingRequestJson[];
  const clients: RawClient[] = [];
  const connect = async () => {
    const c = await RawClient.open(path);
    clients.push(c);
    return c;
  };
  return {
    timers,
    clock,
    audit,
    logs,
    layer,
    app,
    peers,
    admin,
    pendingList,
    connect,
    async [Symbol.asyncDispose]() {
      for (const c of clients) await c.close();
      await layer.shutdown();
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("a process copying the engineer's command cannot hold the queue or pass for them (7.2)", async () => {
  await using t = await setup();
  const wrapped = JSON.stringify(CMD);
  // The attacker asks first, with the engineer's command copied into its header, and holds on.
  t.peers.push(ATTACKER);
  const attacker = await t.connect();
  await attacker.send(post("/session", { "x-wrapped-command": wrapped }));
  await until("the attacker's request to be queued", async () => (await t.pendingList()).length);
  // The engineer's with-prod is still queued, not refused "already pending".
  const engineerId = "0123456789abcdef0123456789abcdef";
  t.peers.push(ENGINEER);
  const engineer = await t.connect();
  await engineer.send(
    post("/session", { "x-wrapped-command": wrapped, "x-pending-id": engineerId }),
  );
  const list = await until("both requests to be queued", async () => {
    const l = await t.pendingList();
    return l.length === 2 ? l : undefined;
  });
  assert.equal(engineer.text, "", "the engineer got no 429");
  const mine = list.find((r) => r.id === engineerId)!;
  const theirs = list.find((r) => r.id !== engineerId)!;
  // Same reported command, told apart by the kernel's facts, the check and the pairing code.
  assert.deepEqual(mine.command, theirs.command);
  assert.equal(mine.pairingCode, await pairingCode(engineerId));
  assert.notEqual(theirs.pairingCode, mine.pairingCode);
  assert.equal(mine.requester?.pid, 4242);
  assert.equal(mine.requester?.check.status, "match");
  assert.equal(theirs.requester?.pid, 666);
  assert.equal(theirs.requester?.namespacePid, 31);
  assert.equal(theirs.requester?.exe, "/usr/bin/python3");
  assert.equal(theirs.requester?.check.status, "mismatch");
  const shown = renderRequest(theirs, t.clock);
  assert.match(
    shown,
    /Requested by: uid 1000, pid 666 \(pid 31 in its namespace\), \/usr\/bin\/python3/,
  );
  assert.match(shown, /!!! MISMATCH/);
  assert.match(
    renderRequest(mine, t.clock),
    /Command check: the requester's kernel argv ends with/,
  );
  assert.match(t.logs.join("\n"), /pending approval [0-9a-f]{32} \[code .*COMMAND MISMATCH/);
  // The human denies the impostor and approves their own; each gets its own answer.
  assert.equal((await t.admin(`/pending/${theirs.id}/deny`, "POST")).status, 200);
  assert.equal((await t.admin(`/pending/${engineerId}/approve`, "POST")).status, 200);
  await until("the engineer's session", () => engineer.jsonLines()[0]);
  assert.match(engineer.text, /^HTTP\/1\.1 200 /);
  assert.match(String(engineer.jsonLines()[0].session_id), /^[0-9a-f]{64}$/);
  await until("the attacker's denial", () => attacker.jsonLines()[0]);
  assert.match(attacker.text, /^HTTP\/1\.1 403 /);
  assert.deepEqual(attacker.jsonLines()[0], {
    error: "Prod access denied by user",
    code: "prod_denied",
  });
  const grant = t.audit.entries.find((e) => e.endpoint === "/session" && e.result === "granted")!;
  assert.equal(grant.peer_pid, 4242);
  assert.equal(grant.command_mismatch, false);
  const denial = t.audit.entries.find((e) => e.endpoint === "/session" && e.result === "denied")!;
  assert.equal(denial.peer_pid, 666);
  assert.equal(denial.peer_exe, "/usr/bin/python3");
  assert.deepEqual(denial.peer_argv, ["python3", "/tmp/steal.py"]);
  assert.equal(denial.command_mismatch, true);
});

Deno.test("one process holds one slot; a flood stops at the global cap", async () => {
  await using t = await setup();
  const ask = async (peer: PeerIdentity) => {
    t.peers.push(peer);
    const c = await t.connect();
    await c.send(post("/session", {}));
    return c;
  };
  await ask(ATTACKER);
  await until("queued", async () => (await t.pendingList()).length === 1);
  const again = await ask(ATTACKER);
  await until("the second answer", () => again.jsonLines()[0]);
  assert.match(again.text, /^HTTP\/1\.1 429 /);
  assert.deepEqual(again.jsonLines()[0], {
    error: "A prod confirmation from this process is already pending",
    code: "prod_rate_limited",
  });
  for (const pid of [667, 668, 669]) await ask({ ...ATTACKER, pid, nsPid: undefined });
  await until("four queued", async () => (await t.pendingList()).length === 4);
  const fifth = await ask(ENGINEER);
  await until("the fifth answer", () => fifth.jsonLines()[0]);
  assert.match(fifth.text, /^HTTP\/1\.1 429 /);
  assert.match(
    String(fifth.jsonLines()[0].error),
    /^Too many prod confirmations pending \(max 4\)/,
  );
});

Deno.test("a client that stops mid-body is dropped at the deadline, never queued (7.5)", async () => {
  await using t = await setup();
  t.peers.push(ATTACKER);
  const slow = await t.connect();
  await slow.send(post("/session", { "content-length": "1000" }, "abc"));
  await until("the body deadline to be armed", () => t.timers.armed > 0);
  assert.deepEqual(await t.pendingList(), [], "nothing is queued while the body is incomplete");
  await t.timers.advance(PROD_BODY_TIMEOUT_MS);
  await until("the 408", () => slow.jsonLines()[0]);
  assert.match(slow.text, /^HTTP\/1\.1 408 /);
  assert.deepEqual(slow.jsonLines()[0], {
    error: "Request body incomplete after 5s; the request was dropped",
    code: "request_body_incomplete",
  });
  assert.deepEqual(await t.pendingList(), []);
  const entry = t.audit.entries.at(-1)!;
  assert.equal(entry.result, "error");
  assert.equal(entry.peer_pid, 666);
  // It held no slot: the same process can ask again at once.
  t.peers.push(ATTACKER);
  const next = await t.connect();
  await next.send(post("/session", {}));
  await until("queued", async () => (await t.pendingList()).length === 1);
});

Deno.test("a client that disconnects mid-body is dropped at once and audited cancelled (7.5)", async () => {
  await using t = await setup();
  t.peers.push(ATTACKER);
  const gone = await t.connect();
  await gone.send(post("/session", { "content-length": "1000" }, "abc"));
  await until("the body deadline to be armed", () => t.timers.armed > 0);
  await gone.close();
  const entry = await until("the audit line", () => t.audit.entries.at(-1));
  assert.equal(entry.result, "cancelled");
  assert.match(entry.error!, /went away before sending its whole request/);
  assert.equal(t.timers.armed, 0, "the deadline was cancelled with the read");
  assert.deepEqual(await t.pendingList(), []);
  assert.ok(!t.audit.entries.some((e) => e.result === "granted"));
});

Deno.test("a queued request whose client leaves is removed at once and cannot be approved (7.5)", async () => {
  await using t = await setup();
  t.peers.push(ENGINEER);
  const c = await t.connect();
  await c.send(post("/session", { "x-wrapped-command": JSON.stringify(CMD) }));
  const [queued] = await until("queued", async () => {
    const l = await t.pendingList();
    return l.length ? l : undefined;
  });
  await c.close();
  await until("the request to leave the queue", async () => (await t.pendingList()).length === 0);
  const approve = await t.admin(`/pending/${queued.id}/approve`, "POST");
  assert.equal(approve.status, 410);
  assert.deepEqual(approve.body, {
    error: "The requester has gone: it disconnected, so there is nothing to approve",
    code: "requester_gone",
  });
  assert.ok(!t.audit.entries.some((e) => e.result === "granted"));
  const entry = await until(
    "the audit line",
    () => t.audit.entries.find((e) => e.endpoint === "/session"),
  );
  assert.equal(entry.result, "cancelled");
});

Deno.test("a held session is revoked when its holder's connection closes (gate side of 7.4)", async () => {
  await using t = await setup();
  t.peers.push(ENGINEER);
  const holder = await t.connect();
  const pendingId = "fedcba9876543210fedcba9876543210";
  await holder.send(post("/session", { "x-session-hold": "1", "x-pending-id": pendingId }));
  await until("queued", async () => (await t.pendingList()).length === 1);
  await t.admin(`/pending/${pendingId}/approve`, "POST");
  const first = await until("the session line", () => holder.jsonLines()[0]);
  assert.match(holder.text, /^HTTP\/1\.1 200 /);
  assert.match(holder.text, /\r\ncontent-type: application\/x-ndjson\r\n/i);
  const sid = String(first.session_id);
  assert.match(sid, /^[0-9a-f]{64}$/);
  assert.equal(first.access_token, "ya29.prod");
  // Heartbeats on the injected timers.
  await t.timers.advance(HOLD_HEARTBEAT_MS);
  await until("a heartbeat", () => holder.jsonLines().length >= 2);
  assert.deepEqual(holder.jsonLines()[1], JSON.parse(HOLD_HEARTBEAT));
  const live = await t.app.request(`http://gate/token?session=${sid}`);
  assert.equal(live.status, 200);
  await live.body?.cancel();
  // The holder dies: the session goes with it.
  await holder.close();
  const revoked = await until(
    "the revocation",
    () => t.audit.entries.find((e) => e.result === "revoked"),
  );
  assert.equal(revoked.error, "held session ended: holder disconnected");
  assert.equal(revoked.pending_id, pendingId);
  const after = await t.app.request(`http://gate/token?session=${sid}`);
  assert.equal(after.status, 401);
  assert.equal(t.timers.armed, 0, "no heartbeat left behind");
  const everything = JSON.stringify(t.audit.entries) + t.logs.join("\n");
  assert.ok(!everything.includes(sid) && !everything.includes("ya29.prod"));
});
