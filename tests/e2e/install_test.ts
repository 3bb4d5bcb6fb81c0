/**
 * `deno task install` from a clean HOME (issue 8, item 1): it installs ONE `authcalator` command
 * that works where `deno` is not on PATH (deno came from npx), applies the checkout's import map
 * from any directory (a stray deno.json there does not apply), and runs each subcommand as its
 * role. Reproduces `deno install -g … src/main.ts`'s "Import "hono/body-limit" not a dependency"
 * and "exec deno: not found".
 */
import assert from "node:assert/strict";
import { ROOT } from "../helpers/cli.ts";
import { installAuthcalator, installedCheckout, stableTempDir } from "../helpers/install.ts";
import { denoDir, runExact } from "../kube/pinned.ts";

/** A clean environment without deno on PATH. */
function cleanEnv(home: string, dd: string): Record<string, string> {
  return { PATH: "/usr/bin:/bin", HOME: home, DENO_DIR: dd, NO_COLOR: "1" };
}

Deno.test("deno task install: one authcalator command that works without deno on PATH", async () => {
  const home = await stableTempDir("install-home-");
  try {
    const dd = await denoDir();
    const authcalator = await installAuthcalator(`${home}/.deno`, dd);
    assert.equal(authcalator, `${home}/.deno/bin/authcalator`);
    assert.equal((await Deno.stat(authcalator)).mode! & 0o777, 0o755);
    const shim = await Deno.readTextFile(authcalator);
    assert.match(shim, new RegExp(`^DENO=${await Deno.realPath(Deno.execPath())}$`, "m"));
    assert.match(shim, /--config "\$CHECKOUT\/deno\.json"/);

    // From an unrelated directory holding a deno.json that would break the import map.
    const elsewhere = `${home}/elsewhere`;
    await Deno.mkdir(elsewhere);
    await Deno.writeTextFile(`${elsewhere}/deno.json`, '{"imports":{"hono":"./nope.ts"}}');
    const env = cleanEnv(home, dd);
    const run = (args: string[]) =>
      new Deno.Command(authcalator, {
        args,
        cwd: elsewhere,
        env,
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output().then((o) => ({
        code: o.code,
        stdout: new TextDecoder().decode(o.stdout),
        stderr: new TextDecoder().decode(o.stderr),
      }));
    const version = await run(["version"]);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);
    const help = await run(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /usage: authcalator <command> \[flags\]/);
    // The emulator loads hono through the import map: it must start from this directory.
    const perms = await run(["permissions", "metadata-proxy"]);
    assert.equal(perms.code, 0, perms.stderr);
    const checkout = await installedCheckout();
    assert.match(perms.stdout, new RegExp(`${checkout}src/main\\.ts metadata-proxy$`, "m"));
    const emulator = new Deno.Command(authcalator, {
      args: ["emulator", "--port", "0"],
      cwd: elsewhere,
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = emulator.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    const deadline = setTimeout(() => emulator.kill("SIGKILL"), 30_000);
    while (!/emulator listening on http:\/\/127\.0\.0\.1:\d+/.test(seen)) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    clearTimeout(deadline);
    emulator.kill("SIGTERM");
    await reader.cancel();
    await emulator.stderr.cancel();
    await emulator.status;
    assert.match(seen, /emulator listening on/);

    // kube-token goes straight to its own entry point: fast, and no CLI parsing.
    const kube = await run(["kube-token"]);
    assert.equal(kube.code, 1);
    assert.equal(kube.stdout, "");
    assert.match(kube.stderr, /^kube-token: cannot reach the metadata server at 127\.0\.0\.1:8173/);
    const usage = await run(["no-such-command"]);
    assert.equal(usage.code, 2);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("deno task install refuses unknown arguments with exit 2 and prints the shim on --dry-run", async () => {
  const bad = await runExact(Deno.execPath(), [
    "run",
    "-A",
    `${ROOT}scripts/install.ts`,
    "--rot",
    "x",
  ], {
    HOME: "/nonexistent",
    DENO_DIR: await denoDir(),
  });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /install: unknown argument "--rot"\nusage: deno task install/);
  const noRoot = await runExact(Deno.execPath(), [
    "run",
    "-A",
    `${ROOT}scripts/install.ts`,
    "--root",
  ], {
    HOME: "/nonexistent",
    DENO_DIR: await denoDir(),
  });
  assert.equal(noRoot.code, 2);
  assert.match(noRoot.stderr, /install: --root needs a directory/);
  const dry = await runExact(Deno.execPath(), [
    "run",
    "-A",
    `${ROOT}scripts/install.ts`,
    "--dry-run",
  ], {
    HOME: "/nonexistent",
    DENO_DIR: await denoDir(),
  });
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^#!\/bin\/sh\n/);
  assert.match(dry.stdout, /'--allow-net=127\.0\.0\.1,localhost,\[::1\]'/);
});

Deno.test("deno task install warns when deno itself sits in an npx cache", async () => {
  const deno = await Deno.realPath(Deno.execPath());
  const root = await stableTempDir("install-warn-");
  try {
    const out = await runExact(
      Deno.execPath(),
      ["run", "-A", `${ROOT}scripts/install.ts`, "--root", root],
      { HOME: root, DENO_DIR: await denoDir() },
    );
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, new RegExp(`^installed ${root}/bin/authcalator \\(deno: `));
    if (/\/_npx\//.test(deno)) {
      assert.match(
        out.stderr,
        /install: warning: deno \S+ may not last \(it is in an npx cache, which npm may clean at any time\)/,
      );
    } else {
      assert.doesNotMatch(out.stderr, /warning: deno/);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("deno task install --root with a relative path means the caller's directory", async () => {
  const where = await stableTempDir("install-rel-");
  try {
    const out = await runExact(
      Deno.execPath(),
      ["task", "--quiet", "--config", `${ROOT}deno.json`, "install", "--root", "tools"],
      { HOME: where, DENO_DIR: await denoDir() },
      where,
    );
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, new RegExp(`^installed ${where}/tools/bin/authcalator `));
    assert.ok((await Deno.stat(`${where}/tools/bin/authcalator`)).isFile);
  } finally {
    await Deno.remove(where, { recursive: true });
  }
});

Deno.test("the shim quotes odd paths and dispatches each subcommand to its role's set", async () => {
  const { shimText } = await import("../../scripts/install.ts");
  const dir = await Deno.makeTempDir({ prefix: "authcalator-shim-" });
  try {
    // A fake deno that prints its argv, one word per line, and the executable variable.
    const fakeDeno = `${dir}/fake deno`;
    await Deno.writeTextFile(
      fakeDeno,
      '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\necho "EXE=${AUTHCALATOR_EXECUTABLE-unset}"\n',
      { mode: 0o755 },
    );
    const checkout = `${dir}/it's a checkout`;
    const shim = `${dir}/bin/authcalator`;
    await Deno.mkdir(`${dir}/bin`);
    await Deno.writeTextFile(shim, shimText({ deno: fakeDeno, checkout, version: "9.9.9" }), {
      mode: 0o755,
    });
    const run = async (...args: string[]) => {
      const out = await runExact(shim, args, {});
      assert.equal(out.code, 0, out.stderr);
      return out.stdout.trim().split("\n");
    };
    assert.deepEqual(await run("kube-token"), [
      "run",
      "--quiet",
      "--no-config",
      "--no-prompt",
      "--allow-net=127.0.0.1,localhost,[::1]",
      "--allow-env=GCE_METADATA_HOST,KUBERNETES_EXEC_INFO",
      `${checkout}/src/kube/kube_token_entry.ts`,
      "EXE=unset",
    ]);
    const main = (set: string, ...rest: string[]) => [
      "run",
      "--quiet",
      "--no-prompt",
      "--config",
      `${checkout}/deno.json`,
      `-P=${set}`,
      `${checkout}/src/main.ts`,
      ...rest,
    ];
    assert.deepEqual(await run("kube-token", "--help"), [
      ...main("kube-token", "kube-token", "--help"),
      "EXE=unset",
    ]);
    assert.deepEqual(await run("approve", "x y"), [
      ...main("admin-client", "approve", "x y"),
      "EXE=unset",
    ]);
    assert.deepEqual(await run("with-prod", "--", "sh", "-c", "echo *"), [
      ...main("with-prod", "with-prod", "--", "sh", "-c", "echo *"),
      "EXE=unset",
    ]);
    assert.deepEqual(await run("nope"), [...main("version", "nope"), "EXE=unset"]);
    // Only kube-setup learns the shim's own path (with-prod's children never see it).
    assert.deepEqual(await run("kube-setup"), [...main("kube-setup", "kube-setup"), `EXE=${shim}`]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
