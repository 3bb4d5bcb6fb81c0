/**
 * The prod layer behind the gate's real Unix-socket listener (serveUnix: own accept loop, kernel
 * peer credentials), with real processes on the other end: `curl` posing as the engineer's
 * with-prod by copying its command into `X-Wrapped-Command`, and this test process as the engineer,
 * whose own kernel argv ends with the command it reports. Issue 7, defect 2, end to end.
 */
import assert from "node:assert/strict";
import { renderRequest } from "../../src/commands/pending.ts";
import type { PendingRequestJson } from "../../src/gate/pending.ts";
import { serveUnix, type UnixHandler } from "../../src/gate/unix_socket.ts";
import { HOLD_HEARTBEAT_MS } from "../../src/gate_api/session_hold.ts";
import { testGate } from "./gate_fixture.ts";
import { post, RawClient, until } from "./raw_client.ts";

const linux = Deno.build.os === "linux";

/** The prod layer on a real gate listener in a temp dir. */
async function start() {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/gate.sock`;
  const { timers, clock, audit, layer, app } = testGate();
  const handler: UnixHandler = (req, env) => app.fetch(req, env);
  const server = await serveUnix(path, 0o600, handler);
  const pendingList = async () =>
    (await (await layer.adminApp.request("http://admin/pending")).json())
      .pending as PendingRequestJson[];
  const decide = (id: string, action: "approve" | "deny") =>
    layer.adminApp.request(`http://admin/pending/${id}/${action}`, { method: "POST" });

  return {
    path,
    clock,
    timers,
    audit,
    app,
    layer,
    pendingList,
    decide,
    async close() {
      await layer.shutdown();
      await server.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test({
  name: "kernel peers: a curl copying the command is told apart from the real requester (7.2)",
  ignore: !linux,
  async fn() {
    const { path, clock, audit, pendingList, decide, close } = await start();
    // What this process really runs: its own kernel argv (the tail stands for the wrapped command).
    const own = (await Deno.readTextFile("/proc/self/cmdline")).split("\0").filter((a) => a);
    const command = own.slice(-2);
    const header = JSON.stringify(command);
    let curl: Deno.ChildProcess | undefined;
    let engineer: RawClient | undefined;
    try {
      curl = new Deno.Command("curl", {
        args: [
          "-sS",
          "--max-time",
          "20",
          "--unix-socket",
          path,
          "-X",
          "POST",
          "-H",
          `X-Wrapped-Command: ${header}`,
          "http://gate/session",
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      const [theirs] = await until("curl's request to be queued", async () => {
        const l = await pendingList();
        return l.length ? l : undefined;
      });
      engineer = await RawClient.open(path);
      const engineerId = "abcdefabcdefabcdefabcdefabcdef01";
      await engineer.send(
        post("/session", { "x-wrapped-command": header, "x-pending-id": engineerId }),
      );
      const list = await until("both requests to be queued", async () => {
        const l = await pendingList();
        return l.length === 2 ? l : undefined;
      });
      const mine = list.find((r) => r.id === engineerId)!;
      assert.deepEqual(mine.command?.argv, theirs.command?.argv, "the same reported command");

      assert.equal(theirs.requester?.verified, true, JSON.stringify(theirs.requester));
      assert.equal(theirs.requester?.pid, curl.pid);
      assert.equal(theirs.requester?.uid, Deno.uid());
      assert.match(theirs.requester?.exe ?? "", /\/curl$/);
      assert.equal(theirs.requester?.check.status, "mismatch");
      assert.match(renderRequest(theirs, clock), /!!! MISMATCH/);

      assert.equal(mine.requester?.verified, true, JSON.stringify(mine.requester));
      assert.equal(mine.requester?.pid, Deno.pid);
      assert.equal(mine.requester?.exe, Deno.execPath());
      assert.equal(mine.requester?.check.status, "match");

      assert.equal((await decide(theirs.id, "deny")).status, 200);
      assert.equal((await curl.status).code, 0, "curl got its (403) answer and ended");
      assert.equal((await decide(engineerId, "approve")).status, 200);
      const session = await until("the engineer's session", () => engineer!.jsonLines()[0]);
      assert.match(String(session.session_id), /^[0-9a-f]{64}$/);
      const denied = audit.entries.find((e) => e.endpoint === "/session" && e.result === "denied")!;
      assert.equal(denied.peer_pid, curl.pid);
      assert.equal(denied.command_mismatch, true);
      const granted = audit.entries.find((e) =>
        e.endpoint === "/session" && e.result === "granted"
      )!;
      assert.equal(granted.peer_pid, Deno.pid);
      assert.equal(granted.command_mismatch, false);
    } finally {
      try {
        curl?.kill();
      } catch { /* exited */ }
      await curl?.status;
      await engineer?.close();
      await close();
    }
  },
});

Deno.test({
  name: "kernel listener: a held session dies with its holder's connection (7.4, gate side)",
  ignore: !linux,
  async fn() {
    const { path, timers, audit, app, pendingList, decide, close } = await start();
    const holder = await RawClient.open(path);
    try {
      await holder.send(post("/session", { "x-session-hold": "1" }));
      const [queued] = await until("queued", async () => {
        const l = await pendingList();
        return l.length ? l : undefined;
      });
      assert.equal(queued.requester?.pid, Deno.pid);
      await decide(queued.id, "approve");
      const first = await until("the session line", () => holder.jsonLines()[0]);
      assert.match(holder.text, /\r\ntransfer-encoding: chunked\r\n/i);
      await timers.advance(HOLD_HEARTBEAT_MS);
      await until("a heartbeat", () => holder.jsonLines().length >= 2);
      const sid = String(first.session_id);
      const live = await app.request(`http://gate/token?session=${sid}`);
      assert.equal(live.status, 200);
      await live.body?.cancel();
      await holder.close();
      const revoked = await until(
        "the revocation",
        () => audit.entries.find((e) => e.result === "revoked"),
      );
      assert.equal(revoked.error, "held session ended: holder disconnected");
      assert.equal((await app.request(`http://gate/token?session=${sid}`)).status, 401);
    } finally {
      await holder.close();
      await close();
    }
  },
});
