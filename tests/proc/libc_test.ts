/**
 * The libc calls behind the gate's kernel peer identity, against the real kernel: descriptor
 * listing, inodes, bound paths, peer credentials and pidfds must agree with what `/proc` and Deno
 * report. A wrong struct offset or syscall number would fail here, not silently in the gate.
 */
import assert from "node:assert/strict";
import { loadLibc } from "../../src/proc/libc.ts";

const linux = Deno.build.os === "linux";

Deno.test({
  name: "libc: descriptors, inodes, bound path and peer credentials agree with /proc",
  ignore: !linux,
  async fn() {
    const libc = loadLibc();
    assert.ok(libc);
    const dir = await Deno.makeTempDir();
    const path = `${dir}/l.sock`;
    const listener = Deno.listen({ transport: "unix", path });
    const client = await Deno.connect({ transport: "unix", path });
    const server = await listener.accept();
    try {
      const fds = libc.listDir("/proc/self/fd")!;
      const ours: number[] = [];
      for (const name of fds) {
        const fd = Number(name);
        let link: string;
        try {
          link = await Deno.readLink(`/proc/self/fd/${name}`);
        } catch {
          continue; // the listing's own descriptor, closed since
        }
        const m = /^socket:\[(\d+)\]$/.exec(link);
        if (!m) continue;
        assert.equal(libc.inodeOf(fd), BigInt(m[1]), `inode of fd ${fd}`);
        if (libc.socketPath(fd) === path) ours.push(fd);
      }
      assert.equal(ours.length, 2, "the listener and the accepted socket are bound to the path");
      for (const fd of ours) {
        const cred = libc.peerCredentials(fd);
        if (!cred || cred.pid === 0) continue; // the listener has no peer
        assert.deepEqual(cred, { pid: Deno.pid, uid: Deno.uid(), gid: Deno.gid() });
        const pidfd = libc.peerPidFd(fd);
        assert.ok(pidfd !== undefined && pidfd > 2);
        assert.equal(libc.pidFdAlive(pidfd), true);
        libc.close(pidfd);
      }
      assert.equal(libc.socketPath(-1), undefined, "a bad descriptor is no error");
      assert.equal(libc.inodeOf(-1), undefined);
      assert.equal(libc.peerCredentials(-1), undefined);
      assert.equal(libc.listDir(`${dir}/missing`), undefined);
      assert.equal(libc.readFile(`${dir}/missing`), undefined);
      assert.equal(libc.readLink(`${dir}/missing`), undefined);
    } finally {
      client.close();
      server.close();
      listener.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "libc: a pidfd of an exited process reports it gone",
  ignore: !linux,
  async fn() {
    const libc = loadLibc()!;
    const dir = await Deno.makeTempDir();
    const path = `${dir}/l.sock`;
    const listener = Deno.listen({ transport: "unix", path });
    try {
      const child = new Deno.Command("python3", {
        args: [
          "-c",
          "import socket,sys;s=socket.socket(socket.AF_UNIX);s.connect(sys.argv[1]);s.recv(1)",
          path,
        ],
      }).spawn();
      const server = await listener.accept();
      const fd = libc.listDir("/proc/self/fd")!.map(Number).find((n) =>
        libc.socketPath(n) === path && (libc.peerCredentials(n)?.pid ?? 0) === child.pid
      );
      assert.ok(fd !== undefined, "the accepted socket is found");
      const pidfd = libc.peerPidFd(fd)!;
      assert.equal(libc.pidFdAlive(pidfd), true);
      server.close(); // the child's recv returns and it exits
      await child.status;
      assert.equal(libc.pidFdAlive(pidfd), false);
      libc.close(pidfd);
    } finally {
      listener.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
