import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  createDiscardingTokenCache,
  createSandbox,
  GCLOUD_PROPERTIES,
  OWNER_FILE,
  SANDBOX_PREFIX,
  sandboxParent,
  sweepStaleSandboxes,
  UNOWNED_GRACE_MS,
  writeFileAtomic,
} from "../../src/with_prod/sandbox.ts";
import { processStamp } from "../../src/with_prod/process_stamp.ts";
import { realProcFS } from "../../src/with_prod/proc_fs.ts";

Deno.test("the sandbox is 0700, stamped with its owner, and holds no credential", async () => {
  const parent = await Deno.makeTempDir();
  try {
    const sb = await createSandbox(`${parent}/run`, "4242 99");
    assert.equal((await Deno.stat(`${parent}/run`)).mode! & 0o777, 0o700);
    assert.equal((await Deno.stat(sb.dir)).mode! & 0o777, 0o700);
    assert.ok(sb.dir.startsWith(`${parent}/run/${SANDBOX_PREFIX}`));
    const names = (await Array.fromAsync(Deno.readDir(sb.dir))).map((e) => e.name).sort();
    assert.deepEqual(names, ["access_tokens.db", "gce", OWNER_FILE, "properties"]);
    for (const name of names) {
      assert.equal((await Deno.stat(`${sb.dir}/${name}`)).mode! & 0o777, 0o600, name);
    }
    assert.equal(await Deno.readTextFile(`${sb.dir}/${OWNER_FILE}`), "4242 99\n");
    assert.equal(await Deno.readTextFile(`${sb.dir}/properties`), GCLOUD_PROPERTIES);
    assert.doesNotMatch(GCLOUD_PROPERTIES, /access_token_file|credential_file_override/);
    assert.equal(await Deno.readTextFile(`${sb.dir}/gce`), "True");
    await sb.remove();
    await assert.rejects(() => Deno.stat(sb.dir), Deno.errors.NotFound);
    await sb.remove(); // idempotent
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("gcloud's token cache keeps nothing: gcloud's own REPLACE INTO succeeds and stores no row", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/access_tokens.db`;
    await createDiscardingTokenCache(path);
    const db = new DatabaseSync(path);
    try {
      // What gcloud runs (googlecloudsdk/core/credentials/creds.py, AccessTokenCache).
      db.exec(
        'CREATE TABLE IF NOT EXISTS "access_tokens" (account_id TEXT PRIMARY KEY, ' +
          "access_token TEXT, token_expiry TIMESTAMP, rapt_token TEXT, id_token TEXT)",
      );
      db.prepare('SELECT id_token FROM "access_tokens" LIMIT 1').all();
      db.prepare(
        'REPLACE INTO "access_tokens" (account_id, access_token, token_expiry, rapt_token, ' +
          "id_token) VALUES (?,?,?,?,?)",
      ).run("eng@example.com", "ya29.must-not-persist", "2030-01-01", null, null);
      db.prepare('UPDATE "access_tokens" SET access_token = ?').run("ya29.nor-this");
      assert.deepEqual(db.prepare('SELECT * FROM "access_tokens"').all(), []);
    } finally {
      db.close();
    }
    const bytes = await Deno.readFile(path);
    assert.ok(!new TextDecoder("latin1").decode(bytes).includes("ya29."), "no token bytes on disk");
    // An existing name is never opened as the database.
    await assert.rejects(() => createDiscardingTokenCache(path), Deno.errors.AlreadyExists);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the sweep removes sandboxes of dead owners and unowned old ones, nothing else", async () => {
  const parent = await Deno.makeTempDir();
  try {
    const own = (await processStamp(realProcFS, Deno.pid))!;
    const live = await createSandbox(parent, own);
    const dead = await createSandbox(parent, `${Deno.pid} 1`); // our PID, another start time
    const garbage = await createSandbox(parent, "not a stamp");
    const unownedNew = `${parent}/${SANDBOX_PREFIX}new`;
    const unownedOld = `${parent}/${SANDBOX_PREFIX}old`;
    await Deno.mkdir(unownedNew);
    await Deno.mkdir(unownedOld);
    const old = new Date(Date.now() - UNOWNED_GRACE_MS - 1000);
    await Deno.utime(unownedOld, old, old);
    const other = `${parent}/someone-elses-dir`;
    await Deno.mkdir(other);
    await Deno.writeTextFile(`${other}/${OWNER_FILE}`, "1 1");
    const victim = await Deno.makeTempDir();
    await Deno.symlink(victim, `${parent}/${SANDBOX_PREFIX}link`);

    const removed = await sweepStaleSandboxes(parent, realProcFS);
    assert.deepEqual(removed.sort(), [dead.dir, garbage.dir, unownedOld].sort());
    for (const kept of [live.dir, unownedNew, other, victim]) {
      assert.ok((await Deno.stat(kept)).isDirectory, kept);
    }
    await Deno.remove(victim);
    // A parent that does not exist yet is nothing to sweep.
    assert.deepEqual(await sweepStaleSandboxes(`${parent}/missing`, realProcFS), []);
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
