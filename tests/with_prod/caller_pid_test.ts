import assert from "node:assert/strict";
import {
  checkCaller,
  descendsFrom,
  findSocketInode,
  MAX_DEPTH,
  procAddresses,
} from "../../src/with_prod/caller_pid.ts";
import { type ProcFS, realProcFS } from "../../src/with_prod/proc_fs.ts";

const HEADER =
  "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";

function row(local: string, remote: string, state: string, inode: string): string {
  return `   0: ${local} ${remote} ${state} 00000000:00000000 00:00000000 00000000  1000        0 ${inode} 1 0000000000000000 20 4 30 10 -1`;
}

/** A /proc made of a table of files, directories and links. */
function fakeProc(files: Record<string, string>, links: Record<string, string> = {}): ProcFS {
  return {
    readText: (p) =>
      p in files ? Promise.resolve(files[p]) : Promise.reject(new Deno.errors.NotFound(p)),
    readDir: (p) => {
      const prefix = p.endsWith("/") ? p : p + "/";
      const names = new Set<string>();
      for (const k of [...Object.keys(files), ...Object.keys(links)]) {
        if (k.startsWith(prefix)) names.add(k.slice(prefix.length).split("/")[0]);
      }
      return names.size ? Promise.resolve([...names]) : Promise.reject(new Deno.errors.NotFound(p));
    },
    readLink: (p) =>
      p in links ? Promise.resolve(links[p]) : Promise.reject(new Deno.errors.NotFound(p)),
  };
}

const CALLER = { hostname: "127.0.0.1", port: 0xA1B2 };
const SERVER = { hostname: "127.0.0.1", port: 0x1F40 };

function status(ppid: number) {
  return `Name:\tx\nState:\tS\nPPid:\t${ppid}\n`;
}

Deno.test("addresses are encoded as the kernel prints them", () => {
  assert.deepEqual(procAddresses({ hostname: "127.0.0.1", port: 8173 }), {
    v4: "0100007F:1FED",
    v6: "0000000000000000FFFF00000100007F:1FED",
  });
  assert.equal(procAddresses({ hostname: "127.0.0.2", port: 1 }).v4, "0200007F:0001");
  assert.equal(procAddresses({ hostname: "::ffff:127.0.0.1", port: 1 }).v4, "0100007F:0001");
  assert.deepEqual(procAddresses({ hostname: "::1", port: 1 }), {});
});

Deno.test("only the ESTABLISHED row with both ends matching is taken", async () => {
  const proc = fakeProc({
    "/proc/net/tcp": [
      HEADER,
      // same caller port, different remote (the 4-tuple misattribution case)
      row("0100007F:A1B2", "0100007F:0050", "01", "111"),
      // right pair, not established
      row("0100007F:A1B2", "0100007F:1F40", "06", "0"),
      row("0100007F:A1B2", "0100007F:1F40", "0A", "222"),
      // the proxy's own accepted socket (reversed ends)
      row("0100007F:1F40", "0100007F:A1B2", "01", "333"),
      row("0100007F:A1B2", "0100007F:1F40", "01", "444"),
    ].join("\n"),
  });
  assert.equal(await findSocketInode(proc, CALLER, SERVER), "444");
});

Deno.test("tcp6 rows with IPv4-mapped addresses are found", async () => {
  const proc = fakeProc({
    "/proc/net/tcp": HEADER + "\n",
    "/proc/net/tcp6": [
      HEADER,
      row(
        "0000000000000000FFFF00000100007F:A1B2",
        "0000000000000000FFFF00000100007F:1F40",
        "01",
        "555",
      ),
    ].join("\n"),
  });
  assert.equal(await findSocketInode(proc, CALLER, SERVER), "555");
});

function tree(holders: Record<number, string[]>, parents: Record<number, number>) {
  const files: Record<string, string> = {
    "/proc/net/tcp": [HEADER, row("0100007F:A1B2", "0100007F:1F40", "01", "777")].join("\n"),
  };
  const links: Record<string, string> = {};
  for (const [pid, ppid] of Object.entries(parents)) files[`/proc/${pid}/status`] = status(ppid);
  for (const [pid, fds] of Object.entries(holders)) {
    fds.forEach((target, i) => links[`/proc/${pid}/fd/${i}`] = target);
  }
  return fakeProc(files, links);
}

Deno.test("a grandchild holding the socket is allowed", async () => {
  const proc = tree({ 300: ["pipe:[1]", "socket:[777]"], 100: ["socket:[999]"] }, {
    300: 200,
    200: 100,
    100: 1,
  });
  const v = await checkCaller(proc, CALLER, SERVER, 100);
  assert.deepEqual(v, {
    allowed: true,
    why: "caller is in the wrapped command's tree",
    pids: [300],
  });
});

Deno.test("a process outside the tree is refused", async () => {
  const proc = tree({ 400: ["socket:[777]"] }, { 400: 50, 50: 1, 100: 1 });
  const v = await checkCaller(proc, CALLER, SERVER, 100);
  assert.equal(v.allowed, false);
  assert.match(v.why, /process 400 is outside/);
});

Deno.test("a socket shared with an outsider is refused", async () => {
  const proc = tree({ 300: ["socket:[777]"], 400: ["socket:[777]"] }, { 300: 100, 400: 1, 100: 1 });
  assert.equal((await checkCaller(proc, CALLER, SERVER, 100)).allowed, false);
});

Deno.test("no row, no holder, unreadable status or a cycle: refused", async () => {
  const empty = fakeProc({ "/proc/net/tcp": HEADER });
  assert.equal(
    (await checkCaller(empty, CALLER, SERVER, 100)).why,
    "no established connection found",
  );
  const noHolder = tree({ 300: ["socket:[1]"] }, { 300: 100 });
  assert.equal(
    (await checkCaller(noHolder, CALLER, SERVER, 100)).why,
    "no process holds the socket",
  );
  const noStatus = tree({ 300: ["socket:[777]"] }, {});
  assert.equal((await checkCaller(noStatus, CALLER, SERVER, 100)).allowed, false);
  const cycle = tree({ 300: ["socket:[777]"] }, { 300: 301, 301: 300 });
  assert.equal((await checkCaller(cycle, CALLER, SERVER, 100)).allowed, false);
});

Deno.test("the PPid chain is followed at most MAX_DEPTH links", async () => {
  const files: Record<string, string> = {};
  const top = 10_000;
  for (let pid = top; pid > top - MAX_DEPTH - 5; pid--) {
    files[`/proc/${pid}/status`] = status(pid - 1);
  }
  const proc = fakeProc(files);
  assert.equal(await descendsFrom(proc, top, top - MAX_DEPTH), true);
  assert.equal(await descendsFrom(proc, top, top - MAX_DEPTH - 1), false);
});

Deno.test("real /proc: our child is in our tree, a reparented grandchild is not", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const connect = `exec 3<>/dev/tcp/127.0.0.1/${port}; read -t 10 line <&3`;
  const verdicts: boolean[] = [];
  const spawnChild = (script: string) =>
    new Deno.Command("bash", { args: ["-c", script], stdout: "null", stderr: "null" }).spawn();
  // A direct child.
  const child = spawnChild(connect);
  // A grandchild whose parent exits at once: it is reparented away from us.
  const orphanParent = spawnChild(`(bash -c '${connect}' &) ; exit 0`);
  await orphanParent.status;
  const conns: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const conn = await listener.accept();
      conns.push(conn);
      const remote = conn.remoteAddr as Deno.NetAddr;
      const local = conn.localAddr as Deno.NetAddr;
      const v = await checkCaller(realProcFS, remote, local, Deno.pid);
      verdicts.push(v.allowed);
    }
    // One of the two is ours, the other is not (accept order is not fixed).
    assert.deepEqual(verdicts.sort(), [false, true]);
  } finally {
    for (const c of conns) {
      await c.write(new TextEncoder().encode("bye\n")).catch(() => {});
      c.close();
    }
    listener.close();
    await child.status;
  }
});
