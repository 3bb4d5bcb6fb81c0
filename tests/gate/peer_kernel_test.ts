/**
 * The gate learns its Unix-socket peer from the kernel (issue 7, "informed, bound approvals"):
 * real servers on real sockets, real client processes (python3) whose pid, uid, executable and
 * argv must come back exactly; two clients at once each get their own identity (an attacker
 * copying the engineer's request is told apart); a client in another network namespace (a
 * container's) is still identified; a client that exited before the lookup keeps its kernel
 * pid/uid but no exe/argv; the identification logic's fail-closed branches over a fake libc; and
 * the gate role's pinned permission flags are enough.
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { denoFlags, sampleContext } from "../../src/permissions.ts";
import { type PeerEnv, type PeerIdentity, peerOf } from "../../src/gate/peer.ts";
import { KernelPeers, type PeerSys } from "../../src/gate/peer_kernel.ts";
import type { ProcFS } from "../../src/proc/proc_fs.ts";
import { serveUnix, type UnixServer } from "../../src/gate/unix_socket.ts";
import { baseEnv } from "../helpers/cli.ts";

const linux = Deno.build.os === "linux";
const dec = new TextDecoder();

/** Awaits `promise` for at most `ms`. */
async function within<T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) =>
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)
  );
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

async function withGate(
  app: Hono<{ Bindings: PeerEnv }>,
  fn: (path: string, server: UnixServer) => Promise<void>,
) {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/gate.sock`;
  const server = await serveUnix(path, 0o600, app.fetch);
  try {
    await fn(path, server);
  } finally {
    await server.close(100);
    await Deno.remove(dir, { recursive: true });
  }
}

const whoApp = () =>
  new Hono<{ Bindings: PeerEnv }>().get("/who", async (c) => c.json(await peerOf(c)));

/**
 * A python3 client: connects, prints its pid, waits for a line on stdin (so several can be held
 * connected at once), sends `GET /who`, prints the answer's body. `marker` ends its argv.
 */
const CLIENT = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
print(os.getpid(), flush=True)
sys.stdin.readline()
s.sendall(b"GET /who HTTP/1.1\\r\\nHost: gate\\r\\nConnection: close\\r\\n\\r\\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
head, _, body = data.partition(b"\\r\\n\\r\\n")
if b"chunked" in head.lower():
    out = b""
    while True:
        size, _, rest = body.partition(b"\\r\\n")
        n = int(size, 16)
        if n == 0:
            break
        out += rest[:n]
        body = rest[n + 2:]
    body = out
print(body.decode(), flush=True)
`;

interface Client {
  pid: number;
  proc: Deno.ChildProcess;
  /** Sends the request and returns the identity the gate answered. */
  ask(): Promise<PeerIdentity>;
}

async function startClient(path: string, marker: string, prefix: string[] = []): Promise<Client> {
  const [cmd, ...args] = [...prefix, "python3", "-c", CLIENT, path, marker];
  const proc = new Deno.Command(cmd, { args, stdin: "piped", stdout: "piped", stderr: "inherit" })
    .spawn();
  const lines = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const line = async () => {
    while (!buffered.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error("the client ended early");
      buffered += value;
    }
    const i = buffered.indexOf("\n");
    const out = buffered.slice(0, i);
    buffered = buffered.slice(i + 1);
    return out;
  };
  const pid = Number(await within(line(), `${marker} to connect`));
  const writer = proc.stdin.getWriter();
  return {
    pid,
    proc,
    async ask() {
      await writer.write(new TextEncoder().encode("go\n"));
      await writer.close();
      const body = await within(line(), `${marker}'s answer`);
      await lines.cancel();
      await within(proc.status, `${marker} to exit`);
      return JSON.parse(body);
    },
  };
}

const python = linux
  ? (await new Deno.Command("python3", {
    args: ["-c", "import os,sys;print(os.path.realpath(sys.executable))"],
    stdout: "piped",
  }).output())
  : undefined;
const pythonExe = python ? dec.decode(python.stdout).trim() : "";

Deno.test({
  name: "the peer is the connecting process: pid, uid, exe and argv from the kernel",
  ignore: !linux,
  fn: () =>
    withGate(whoApp(), async (path, server) => {
      const client = await startClient(path, "engineer-marker");
      const who = await client.ask();
      assert.equal(who.verified, true, who.reason);
      assert.equal(who.pid, client.pid);
      assert.equal(who.uid, Deno.uid());
      assert.equal(who.exe, pythonExe);
      assert.equal(server.peersFromKernel, true);
      assert.deepEqual(who.argv?.slice(-2), [path, "engineer-marker"]);
      assert.equal(who.argv?.[1], "-c");
    }),
});

Deno.test({
  name: "two clients connected at once each get their own identity (attacker vs engineer)",
  ignore: !linux,
  fn: () =>
    withGate(whoApp(), async (path) => {
      const engineer = await startClient(path, "engineer");
      const attacker = await startClient(path, "attacker");
      // Both are connected before either asks; the attacker asks first.
      const fromAttacker = await attacker.ask();
      const fromEngineer = await engineer.ask();
      assert.equal(fromAttacker.pid, attacker.pid);
      assert.equal(fromAttacker.argv?.at(-1), "attacker");
      assert.equal(fromEngineer.pid, engineer.pid);
      assert.equal(fromEngineer.argv?.at(-1), "engineer");
      assert.ok(fromAttacker.verified && fromEngineer.verified);
    }),
});

Deno.test({
  name: "many connections in a burst are each attributed to their own process",
  ignore: !linux,
  fn: () =>
    withGate(whoApp(), async (path) => {
      const clients = await Promise.all(
        Array.from({ length: 6 }, (_, i) => startClient(path, `burst-${i}`)),
      );
      const answers = await Promise.all(clients.map((c) => c.ask()));
      answers.forEach((who, i) => {
        assert.equal(who.verified, true, who.reason);
        assert.equal(who.pid, clients[i].pid);
        assert.equal(who.argv?.at(-1), `burst-${i}`);
      });
    }),
});

Deno.test({
  name: "a client in another network namespace (a container's) is still identified",
  ignore: !linux,
  fn: () =>
    withGate(whoApp(), async (path) => {
      // As root a plain new network namespace; otherwise inside a user namespace too.
      const prefix = Deno.uid() === 0 ? ["unshare", "-n"] : ["unshare", "-r", "-n"];
      const client = await startClient(path, "in-a-container", prefix);
      const who = await client.ask();
      assert.equal(who.verified, true, who.reason);
      assert.equal(who.pid, client.pid);
      assert.equal(who.uid, Deno.uid());
      assert.equal(who.argv?.at(-1), "in-a-container");
    }),
});

Deno.test({
  name:
    "a client that exits before the lookup keeps its kernel pid and uid, never a reused pid's exe",
  ignore: !linux,
  async fn() {
    let release: () => void = () => {};
    const released = new Promise<void>((r) => (release = r));
    let seen: (who: PeerIdentity) => void = () => {};
    const identity = new Promise<PeerIdentity>((r) => (seen = r));
    const app = new Hono<{ Bindings: PeerEnv }>().get("/later", async (c) => {
      await released;
      seen(await peerOf(c));
      return c.text("late");
    });
    await withGate(app, async (path) => {
      const child = await new Deno.Command("python3", {
        args: [
          "-c",
          "import socket,sys,os;s=socket.socket(socket.AF_UNIX);s.connect(sys.argv[1]);" +
          "s.sendall(b'GET /later HTTP/1.1\\r\\nHost: g\\r\\n\\r\\n');print(os.getpid())",
          path,
        ],
        stdout: "piped",
        signal: AbortSignal.timeout(10_000),
      }).output();
      const pid = Number(dec.decode(child.stdout).trim());
      release();
      const who = await within(identity, "the late lookup");
      assert.equal(who.pid, pid);
      assert.equal(who.uid, Deno.uid());
      assert.equal(who.exe, undefined);
      assert.equal(who.argv, undefined);
      assert.match(who.reason ?? "", /exited|left/);
    });
  },
});

Deno.test({
  name: "a socket handed to a child after its connector exited is never described as the child",
  ignore: !linux,
  fn: () =>
    withGate(whoApp(), async (path) => {
      // The parent connects and forks; the parent exits; the child asks with the inherited socket.
      const out = await new Deno.Command("python3", {
        args: [
          "-c",
          `
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
parent = os.getpid()
r, w = os.pipe()
if os.fork() == 0:
    os.close(w)
    os.read(r, 1)  # returns at EOF: the parent is gone
    time.sleep(0.05)
    s.sendall(b"GET /who HTTP/1.1\\r\\nHost: g\\r\\nConnection: close\\r\\n\\r\\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    sys.stdout.write(str(parent) + " " + str(os.getpid()) + "\\n" + data.decode())
    sys.stdout.flush()
    os._exit(0)
os.close(r)
os._exit(0)  # closes w: the child proceeds
`,
          path,
        ],
        stdout: "piped",
        signal: AbortSignal.timeout(10_000),
      }).output();
      // The command's stdout closes only when the child has written and exited.
      const text = dec.decode(out.stdout);
      const [pids] = text.split("\n");
      const [parent, child] = pids.split(" ").map(Number);
      const body = text.slice(text.indexOf("{"), text.lastIndexOf("}") + 1);
      const who: PeerIdentity = JSON.parse(body);
      assert.equal(who.pid, parent, "the kernel names the process that connected");
      assert.notEqual(who.pid, child);
      assert.equal(who.exe, undefined, "and it has exited, so nothing else is described");
      assert.match(who.reason ?? "", /exited/);
    }),
});

Deno.test({
  name: "under the gate role's pinned permission flags the peer is identified",
  ignore: !linux,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const ctx = sampleContext();
      ctx.home = `${dir}/home`;
      ctx.runtimeDir = dir;
      ctx.config.socket_path = `${dir}/gate.sock`;
      ctx.config.admin_socket_path = `${dir}/admin/admin.sock`;
      const src = new URL("../../src/", import.meta.url).pathname;
      const fixture = new URL("../fixtures/peer_server.ts", import.meta.url).pathname;
      const flags = denoFlags("gate", ctx).map((f) =>
        f.startsWith("--allow-read=") ? `${f},${src},${fixture}` : f
      );
      const server = new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", ...flags, fixture, ctx.config.socket_path],
        env: baseEnv(),
        clearEnv: true,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const out = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
      try {
        const first = await within(out.read(), "the server to listen", 30_000);
        assert.equal(first.value?.trim(), "ready");
        const client = await startClient(ctx.config.socket_path, "under-gate-flags");
        const who = await client.ask();
        assert.equal(who.verified, true, who.reason);
        assert.equal(who.pid, client.pid);
        assert.equal(who.argv?.at(-1), "under-gate-flags");
      } finally {
        await server.stdin.close();
        await out.cancel();
        const status = await within(server.status, "the server to stop");
        const err = dec.decode(await new Response(server.stderr).arrayBuffer());
        assert.equal(status.code, 0, err);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// ---- The identification logic's branches, over a fake libc. ----

/** A fake kernel: `fds` maps descriptor → socket inode (all bound to PATH unless in `elsewhere`). */
class FakeSys implements PeerSys {
  fds = new Map<number, number>();
  elsewhere = new Set<number>();
  cred: { pid: number; uid: number; gid: number } | undefined = { pid: 4242, uid: 1000, gid: 1000 };
  pidfd: number | undefined = 99;
  alive = true;
  files = new Map<string, string>([
    ["/proc/4242/status", "Name:\tpython3\nUid:\t1000\t1000\t1000\t1000\nNSpid:\t4242\t7\n"],
    ["/proc/4242/cmdline", "python3\0client.py\0"],
  ]);
  links = new Map<string, string>([["/proc/4242/exe", "/usr/bin/python3.11"]]);
  reads = 0;
  closed: number[] = [];
  proc: ProcFS = {
    readDir: (path) =>
      path === "/proc/self/fd"
        ? Promise.resolve([...this.fds.keys()].map(String))
        : Promise.reject(new Error("no")),
    readLink: (path) => {
      const m = /^\/proc\/self\/fd\/(\d+)$/.exec(path);
      const link = m
        ? (this.fds.has(Number(m[1])) ? `socket:[${this.fds.get(Number(m[1]))}]` : undefined)
        : this.links.get(path);
      return link === undefined ? Promise.reject(new Error("no")) : Promise.resolve(link);
    },
    readText: (path) => {
      this.reads++;
      const text = this.files.get(path);
      return text === undefined ? Promise.reject(new Error("no")) : Promise.resolve(text);
    },
  };
  socketPath(fd: number) {
    return this.elsewhere.has(fd) ? "/elsewhere.sock" : PATH;
  }
  inodeOf(fd: number) {
    const inode = this.fds.get(fd);
    return inode === undefined ? undefined : BigInt(inode);
  }
  peerCredentials() {
    return this.cred;
  }
  peerPidFd() {
    return this.pidfd;
  }
  pidFdAlive() {
    return this.alive;
  }
  close(fd: number) {
    this.closed.push(fd);
  }
}

const PATH = "/run/gate.sock";

function fakePeers(setup: (sys: FakeSys) => void = () => {}) {
  const sys = new FakeSys();
  sys.fds.set(3, 100); // the listener
  sys.fds.set(4, 101); // another socket, bound elsewhere
  sys.elsewhere.add(4);
  setup(sys);
  return { sys, peers: new KernelPeers(PATH, { sys }) };
}

Deno.test("one new socket on our path is the accepted connection; its peer is described once", async () => {
  const { sys, peers } = fakePeers();
  sys.fds.set(7, 200);
  const accepted = await peers.accepted();
  const who = await accepted.env.peer!();
  assert.deepEqual(who, {
    verified: true,
    pid: 4242,
    uid: 1000,
    nsPid: [4242, 7],
    exe: "/usr/bin/python3.11",
    argv: ["python3", "client.py"],
  });
  const reads = sys.reads;
  assert.deepEqual(await accepted.env.peer!(), who);
  assert.equal(sys.reads, reads, "memoised per connection");
  assert.deepEqual(sys.closed, [99], "the pidfd is released after the lookup");
  accepted.closed?.();
  assert.deepEqual(sys.closed, [99], "and only once");
});

Deno.test("zero or several new sockets: the connection stays unverified (fail closed)", async () => {
  const { sys, peers } = fakePeers();
  assert.match(
    (await (await peers.accepted()).env.peer!()).reason!,
    /ended before the gate could identify/,
  );
  sys.fds.set(7, 200);
  sys.fds.set(8, 201);
  const both = await (await peers.accepted()).env.peer!();
  assert.equal(both.verified, false);
  assert.match(both.reason!, /several connections/);
  // Those two are now known: the next new one is attributed again.
  sys.fds.set(9, 202);
  assert.equal((await (await peers.accepted()).env.peer!()).verified, true);
  // A descriptor number reused by a new socket is a new connection.
  sys.fds.set(9, 203);
  assert.equal((await (await peers.accepted()).env.peer!()).verified, true);
});

Deno.test("no libc, no credentials, a pid outside our namespace: unverified with the reason", async () => {
  const none = new KernelPeers(PATH, { sys: null });
  assert.equal(await none.ready(), false);
  assert.match((await (await none.accepted()).env.peer!()).reason!, /needs Linux/);

  const { sys, peers } = fakePeers((s) => (s.cred = undefined));
  sys.fds.set(7, 200);
  assert.match((await (await peers.accepted()).env.peer!()).reason!, /no peer credentials/);

  const outside = fakePeers((s) => (s.cred = { pid: 0, uid: 1000, gid: 1000 }));
  outside.sys.fds.set(7, 200);
  const who = await (await outside.peers.accepted()).env.peer!();
  assert.equal(who.verified, false);
  assert.equal(who.uid, 1000);
  assert.match(who.reason!, /outside the gate's PID namespace/);
});

Deno.test("without a pidfd (kernel before 6.5), or for a gone or unreadable process, no exe or argv", async () => {
  const old = fakePeers((s) => (s.pidfd = undefined));
  old.sys.fds.set(7, 200);
  const a = await (await old.peers.accepted()).env.peer!();
  assert.deepEqual([a.verified, a.pid, a.exe, a.argv], [true, 4242, undefined, undefined]);
  assert.match(a.reason!, /Linux 6\.5/);

  const gone = fakePeers((s) => (s.alive = false));
  gone.sys.fds.set(7, 200);
  const b = await (await gone.peers.accepted()).env.peer!();
  assert.deepEqual([b.exe, b.argv], [undefined, undefined]);
  assert.match(b.reason!, /exited/);

  const hidden = fakePeers((s) => {
    s.files.clear();
    s.links.clear();
  });
  hidden.sys.fds.set(7, 200);
  const c = await (await hidden.peers.accepted()).env.peer!();
  assert.equal(c.verified, true);
  assert.match(c.reason!, /not readable/);
});

Deno.test("a connection closed before its lookup releases the pidfd; a late lookup says so", async () => {
  const { sys, peers } = fakePeers();
  sys.fds.set(7, 200);
  const accepted = await peers.accepted();
  accepted.closed?.();
  assert.deepEqual(sys.closed, [99]);
  const who = await accepted.env.peer!();
  assert.deepEqual([who.verified, who.pid, who.exe], [true, 4242, undefined]);
  assert.match(who.reason!, /left before/);
});
