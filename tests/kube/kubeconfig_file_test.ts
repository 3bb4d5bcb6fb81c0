import assert from "node:assert/strict";
import {
  KubeconfigWriteError,
  readKubeconfig,
  writeBackup,
  writeKubeconfig,
} from "../../src/kube/kubeconfig_file.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "kubeconfig-file-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const modeOf = async (path: string) => (await Deno.stat(path)).mode! & 0o7777;
const listing = async (dir: string) =>
  (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();

Deno.test("writeBackup copies to <path>.bak with the source's mode, leaving no temp file", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/config`;
    await Deno.writeTextFile(path, "original: 1\n");
    await Deno.chmod(path, 0o640);
    await Deno.writeTextFile(`${path}.bak`, "stale backup\n");
    assert.equal(await writeBackup(path), `${path}.bak`);
    assert.equal(await Deno.readTextFile(`${path}.bak`), "original: 1\n");
    assert.equal(await modeOf(`${path}.bak`), 0o640);
    assert.deepEqual(await listing(dir), ["config", "config.bak"]);
  });
});

Deno.test("writeKubeconfig replaces the file atomically and keeps its mode", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/config`;
    await Deno.writeTextFile(path, "old\n");
    await Deno.chmod(path, 0o604);
    const inodeBefore = (await Deno.stat(path)).ino;
    assert.equal(await writeKubeconfig(path, "new\n"), path);
    assert.equal(await Deno.readTextFile(path), "new\n");
    assert.equal(await modeOf(path), 0o604);
    // A rename, not an in-place write: the inode changed.
    assert.notEqual((await Deno.stat(path)).ino, inodeBefore);
    assert.deepEqual(await listing(dir), ["config"]);
  });
});

Deno.test("writeKubeconfig follows a symlink and writes its target", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/real`);
    const target = `${dir}/real/kubeconfig`;
    await Deno.writeTextFile(target, "old\n");
    await Deno.chmod(target, 0o600);
    await Deno.symlink("real/kubeconfig", `${dir}/config`);
    assert.equal(await writeKubeconfig(`${dir}/config`, "new\n"), await Deno.realPath(target));
    assert.ok((await Deno.lstat(`${dir}/config`)).isSymlink, "the link is still a link");
    assert.equal(await Deno.readLink(`${dir}/config`), "real/kubeconfig");
    assert.equal(await Deno.readTextFile(target), "new\n");
    assert.equal(await modeOf(target), 0o600);
    assert.deepEqual(await listing(`${dir}/real`), ["kubeconfig"]);
  });
});

Deno.test("writeKubeconfig refuses a read-only file and leaves it alone", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/config`;
    await Deno.writeTextFile(path, "old\n");
    await Deno.chmod(path, 0o444);
    await assert.rejects(writeKubeconfig(path, "new\n"), (err: Error) => {
      assert.ok(err instanceof KubeconfigWriteError);
      assert.match(err.message, /config is read-only \(mode 444\); not changed$/);
      return true;
    });
    assert.equal(await Deno.readTextFile(path), "old\n");
    assert.deepEqual(await listing(dir), ["config"]);
  });
});

Deno.test({
  name: "writeKubeconfig keeps another user's ownership (needs root to chown)",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    await withDir(async (dir) => {
      const path = `${dir}/config`;
      await Deno.writeTextFile(path, "old\n");
      await Deno.chown(path, 4321, 4322);
      await Deno.chmod(path, 0o600);
      await writeKubeconfig(path, "new\n");
      await writeBackup(path);
      for (const p of [path, `${path}.bak`]) {
        const info = await Deno.stat(p);
        assert.deepEqual([info.uid, info.gid, info.mode! & 0o7777], [4321, 4322, 0o600], p);
      }
    });
  },
});

Deno.test("readKubeconfig explains a missing file in one line", async () => {
  await withDir(async (dir) => {
    await assert.rejects(
      readKubeconfig(`${dir}/nope`),
      new RegExp(`^KubeconfigWriteError: cannot read kubeconfig ${dir}/nope: no such file$`),
    );
    await assert.rejects(readKubeconfig(dir), /cannot read kubeconfig .*: is a directory$/);
  });
});
