import assert from "node:assert/strict";
import {
  assertDistinctSockets,
  ensurePrivateDir,
  removeStaleSocket,
  serveUnix,
  UnsafePathError,
} from "../../src/gate/unix_socket.ts";

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A crash leaves a socket file nobody listens on: make one with a process that binds and exits. */
async function makeDeadSocket(path: string) {
  const cmd = new Deno.Command("python3", {
    args: ["-c", `import socket;s=socket.socket(socket.AF_UNIX);s.bind(${JSON.stringify(path)})`],
  });
  assert.equal((await cmd.output()).code, 0);
  assert.ok((await Deno.lstat(path)).isSocket);
}

const modeOf = async (p: string) => (await Deno.lstat(p)).mode! & 0o777;

Deno.test("ensurePrivateDir creates a missing directory with the mode", () =>
  withTempDir(async (dir) => {
    await ensurePrivateDir(`${dir}/a/b`, 0o750);
    assert.equal(await modeOf(`${dir}/a/b`), 0o750);
  }));

Deno.test("ensurePrivateDir accepts a tighter directory and refuses a looser one", () =>
  withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/tight`, { mode: 0o700 });
    await Deno.chmod(`${dir}/tight`, 0o700);
    await ensurePrivateDir(`${dir}/tight`, 0o750);
    await Deno.mkdir(`${dir}/loose`);
    await Deno.chmod(`${dir}/loose`, 0o755);
    await assert.rejects(
      ensurePrivateDir(`${dir}/loose`, 0o750),
      (e: Error) =>
        e instanceof UnsafePathError &&
        /permissions 0755, looser than 0750; run: chmod 0750/.test(e.message),
    );
  }));

Deno.test("ensurePrivateDir refuses a symlink and a non-directory", () =>
  withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/real`, { mode: 0o700 });
    await Deno.symlink(`${dir}/real`, `${dir}/link`);
    await assert.rejects(ensurePrivateDir(`${dir}/link`, 0o700), /is a symlink/);
    await Deno.writeTextFile(`${dir}/file`, "");
    await assert.rejects(ensurePrivateDir(`${dir}/file`, 0o700), /is not a directory/);
  }));

Deno.test("ensurePrivateDir refuses a directory owned by someone else", async (t) => {
  if (Deno.uid() !== 0) {
    // Only root can create a foreign-owned directory; CI runs as root.
    throw new Error("this test must run as root to chown");
  }
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/foreign`, { mode: 0o700 });
    await Deno.chown(`${dir}/foreign`, 65534, 65534);
    await assert.rejects(ensurePrivateDir(`${dir}/foreign`, 0o700), /owned by uid 65534/);
    await t.step("and a foreign socket is not removed", async () => {
      const path = `${dir}/f.sock`;
      await makeDeadSocket(path);
      await Deno.chown(path, 65534, 65534);
      await assert.rejects(removeStaleSocket(path), /owned by uid 65534/);
    });
  });
});

Deno.test("removeStaleSocket: missing is fine; non-socket, symlink and live socket are refused", () =>
  withTempDir(async (dir) => {
    await removeStaleSocket(`${dir}/none.sock`);
    await Deno.writeTextFile(`${dir}/plain`, "x");
    await assert.rejects(removeStaleSocket(`${dir}/plain`), /exists and is not a socket/);
    await Deno.symlink(`${dir}/plain`, `${dir}/ln.sock`);
    await assert.rejects(removeStaleSocket(`${dir}/ln.sock`), /is a symlink/);
    const live = Deno.listen({ transport: "unix", path: `${dir}/live.sock` });
    try {
      await assert.rejects(
        removeStaleSocket(`${dir}/live.sock`),
        /another instance is already running/,
      );
      assert.ok((await Deno.lstat(`${dir}/live.sock`)).isSocket);
    } finally {
      live.close();
    }
  }));

Deno.test("removeStaleSocket removes a dead socket we own", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/dead.sock`;
    await makeDeadSocket(path);
    assert.ok((await Deno.lstat(path)).isSocket);
    await removeStaleSocket(path);
    await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
  }));

Deno.test("serveUnix binds with the mode under a tight umask and serves", () =>
  withTempDir(async (dir) => {
    const old = Deno.umask(0o077);
    try {
      const srv = await serveUnix(`${dir}/g.sock`, 0o660, () => new Response("hi"));
      try {
        assert.equal(await modeOf(`${dir}/g.sock`), 0o660);
        const client = Deno.createHttpClient({
          proxy: { transport: "unix", path: `${dir}/g.sock` },
        });
        const res = await fetch("http://localhost/x", { client });
        assert.equal(await res.text(), "hi");
        client.close();
        await assert.rejects(
          serveUnix(`${dir}/g.sock`, 0o660, () => new Response("")),
          /already running/,
        );
      } finally {
        await srv.close();
      }
      await assert.rejects(Deno.lstat(`${dir}/g.sock`), Deno.errors.NotFound);
    } finally {
      Deno.umask(old);
    }
  }));

Deno.test("assertDistinctSockets sees through symlinked parents", () =>
  withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/real`);
    await Deno.symlink(`${dir}/real`, `${dir}/alias`);
    await assertDistinctSockets({ a: `${dir}/real/a.sock`, b: `${dir}/real/b.sock` });
    await assert.rejects(
      assertDistinctSockets({
        socket_path: `${dir}/real/a.sock`,
        admin_socket_path: `${dir}/alias/a.sock`,
      }),
      /admin_socket_path resolves to the same path as socket_path/,
    );
  }));
