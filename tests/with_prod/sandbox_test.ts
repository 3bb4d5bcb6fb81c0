import assert from "node:assert/strict";
import { createSandbox, sandboxParent, writeFileAtomic } from "../../src/with_prod/sandbox.ts";

Deno.test("the sandbox is 0700 with 0600 files; gcloud properties point at the token file", async () => {
  const parent = await Deno.makeTempDir();
  try {
    const sb = await createSandbox(`${parent}/run`, "ya29.first");
    assert.equal((await Deno.stat(`${parent}/run`)).mode! & 0o777, 0o700);
    assert.equal((await Deno.stat(sb.dir)).mode! & 0o777, 0o700);
    assert.ok(sb.dir.startsWith(`${parent}/run/authcalator-gcloud-`));
    assert.equal(await Deno.readTextFile(sb.tokenFile), "ya29.first");
    assert.equal((await Deno.stat(sb.tokenFile)).mode! & 0o777, 0o600);
    assert.equal(
      await Deno.readTextFile(`${sb.dir}/properties`),
      `[auth]\naccess_token_file = ${sb.tokenFile}\n`,
    );
    assert.equal((await Deno.stat(`${sb.dir}/properties`)).mode! & 0o777, 0o600);
    await sb.remove();
    await assert.rejects(() => Deno.stat(sb.dir), Deno.errors.NotFound);
    await sb.remove(); // idempotent
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("an atomic rewrite replaces a planted symlink instead of writing through it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/victim`, "untouched");
    await Deno.symlink(`${dir}/victim`, `${dir}/access_token`);
    await writeFileAtomic(`${dir}/access_token`, "ya29.new");
    assert.equal(await Deno.readTextFile(`${dir}/victim`), "untouched");
    assert.equal((await Deno.lstat(`${dir}/access_token`)).isSymlink, false);
    assert.equal(await Deno.readTextFile(`${dir}/access_token`), "ya29.new");
    // No temporary names left behind.
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names.sort(), ["access_token", "victim"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a failed write leaves the old file and no temporary name", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeFileAtomic(`${dir}/t`, "old");
    await Deno.chmod(dir, 0o500);
    if (Deno.uid() !== 0) {
      await assert.rejects(() => writeFileAtomic(`${dir}/t`, "new"));
      assert.equal(await Deno.readTextFile(`${dir}/t`), "old");
    }
  } finally {
    await Deno.chmod(dir, 0o700);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sandbox parent: XDG_RUNTIME_DIR, else XDG_CACHE_HOME/authcalator, else ~/.cache/authcalator", () => {
  assert.equal(sandboxParent({ XDG_RUNTIME_DIR: "/run/u", HOME: "/h" }), "/run/u");
  assert.equal(sandboxParent({ XDG_CACHE_HOME: "/c", HOME: "/h" }), "/c/authcalator");
  assert.equal(sandboxParent({ HOME: "/h" }), "/h/.cache/authcalator");
});
