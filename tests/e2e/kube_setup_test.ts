/**
 * kube-setup as users run it: the installed `authcalator` command (`deno task install`) on real
 * files. Proves the kubeconfig gets the upstream shape `command: <that executable>`,
 * `args: [kube-token]`, that the entry works from any directory, that rerunning after a move
 * repairs it, and that a command that will not last is refused unless `--command PATH` is given.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { baseEnv, MAIN } from "../helpers/cli.ts";
import { installAuthcalator, stableTempDir } from "../helpers/install.ts";
import { GKE_KUBECONFIG } from "../kube/fixtures.ts";
import { startFakeMetadata } from "../kube/fake_metadata.ts";
import { denoDir, pinnedFlags, runExact } from "../kube/pinned.ts";

const installRoot = await stableTempDir("kube-setup-install-");
const AUTHCALATOR = await installAuthcalator(installRoot, await denoDir());
globalThis.addEventListener("unload", () => Deno.removeSync(installRoot, { recursive: true }));

interface Home {
  home: string;
  kubeconfig: string;
  env: Record<string, string>;
}

async function withHome(fn: (h: Home) => Promise<void>, extraEnv: Record<string, string> = {}) {
  const home = await stableTempDir("kube-setup-home-");
  try {
    await Deno.mkdir(`${home}/.kube`);
    const env = { ...baseEnv(), DENO_DIR: await denoDir(), HOME: home, ...extraEnv };
    await fn({ home, kubeconfig: `${home}/.kube/config`, env });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

/** Runs the installed `authcalator kube-setup` (or another installed copy). */
async function kubeSetup(env: Record<string, string>, args: string[] = [], shim = AUTHCALATOR) {
  return await runExact(shim, ["kube-setup", ...args], env);
}

/** Runs kube-setup from source under its pinned flags: `deno run … src/main.ts kube-setup`. */
async function kubeSetupFromSource(env: Record<string, string>, args: string[] = []) {
  const flags = await pinnedFlags("kube-setup", env);
  return await runExact(
    Deno.execPath(),
    ["run", "--quiet", ...flags, MAIN, "kube-setup", ...args],
    env,
  );
}

const modeOf = async (path: string) => (await Deno.stat(path)).mode! & 0o7777;

Deno.test("kube-setup patches GKE users, backs up, and the command it writes works", async () => {
  const fake = startFakeMetadata({ token: "ya29.from-kube-setup" });
  try {
    await withHome(async ({ kubeconfig, env }) => {
      await Deno.writeTextFile(kubeconfig, GKE_KUBECONFIG);
      await Deno.chmod(kubeconfig, 0o640);
      const out = await kubeSetup(env);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(
        out.stdout,
        [
          `kube-setup: saved the previous kubeconfig as ${kubeconfig}.bak`,
          `kube-setup: user gke_proj_zone_one now runs ${AUTHCALATOR} kube-token`,
          `kube-setup: user gke_proj_zone_two now runs ${AUTHCALATOR} kube-token`,
          `kube-setup: updated ${kubeconfig}`,
          "",
        ].join("\n"),
      );
      assert.equal(await Deno.readTextFile(`${kubeconfig}.bak`), GKE_KUBECONFIG);
      assert.equal(await modeOf(`${kubeconfig}.bak`), 0o640);
      assert.equal(await modeOf(kubeconfig), 0o640);

      const text = await Deno.readTextFile(kubeconfig);
      assert.ok(text.startsWith("# head comment\n"));
      const exec = parse(text).users[0].user.exec;
      assert.equal(exec.command, AUTHCALATOR);
      assert.deepEqual(exec.args, ["kube-token"]);

      // Run exactly what kubectl would run, from an unrelated directory.
      const cred = await new Deno.Command(exec.command, {
        args: exec.args,
        cwd: "/",
        env: {
          ...baseEnv(),
          GCE_METADATA_HOST: fake.host,
          KUBERNETES_EXEC_INFO: JSON.stringify({
            kind: "ExecCredential",
            apiVersion: "client.authentication.k8s.io/v1beta1",
            spec: { interactive: false },
          }),
        },
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(cred.code, 0, new TextDecoder().decode(cred.stderr));
      const answer = JSON.parse(new TextDecoder().decode(cred.stdout));
      assert.equal(answer.status.token, "ya29.from-kube-setup");
    }, { GCE_METADATA_HOST: fake.host });
  } finally {
    await fake.close();
  }
});

Deno.test("kube-setup is idempotent: a second run says so, exits 0 and writes nothing", async () => {
  await withHome(async ({ kubeconfig, env }) => {
    await Deno.writeTextFile(kubeconfig, GKE_KUBECONFIG);
    assert.equal((await kubeSetup(env)).code, 0);
    const patched = await Deno.readTextFile(kubeconfig);
    const stat = await Deno.stat(kubeconfig);
    const backup = await Deno.readTextFile(`${kubeconfig}.bak`);
    const again = await kubeSetup(env);
    assert.equal(again.code, 0);
    assert.equal(again.stdout, "");
    assert.equal(
      again.stderr.trim(),
      `kube-setup: 2 user(s) in ${kubeconfig} already run ${AUTHCALATOR} kube-token; nothing changed`,
    );
    assert.equal(await Deno.readTextFile(kubeconfig), patched);
    assert.equal((await Deno.stat(kubeconfig)).ino, stat.ino);
    assert.equal(await Deno.readTextFile(`${kubeconfig}.bak`), backup);
  });
});

Deno.test("kube-setup with several KUBECONFIG entries edits only the first", async () => {
  await withHome(async ({ home, env }) => {
    const first = `${home}/.kube/first`;
    const second = `${home}/.kube/second`;
    await Deno.writeTextFile(first, GKE_KUBECONFIG);
    await Deno.writeTextFile(second, GKE_KUBECONFIG);
    const out = await kubeSetup({ ...env, KUBECONFIG: `${first}:${second}` });
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, new RegExp(`updated ${first}\n`));
    assert.notEqual(await Deno.readTextFile(first), GKE_KUBECONFIG);
    assert.equal(await Deno.readTextFile(second), GKE_KUBECONFIG);
    await assert.rejects(Deno.stat(`${second}.bak`), Deno.errors.NotFound);
  });
});

Deno.test("kube-setup follows a symlinked kubeconfig and keeps the link", async () => {
  await withHome(async ({ home, kubeconfig, env }) => {
    const real = `${home}/.kube/config.real`;
    await Deno.writeTextFile(real, GKE_KUBECONFIG);
    await Deno.chmod(real, 0o600);
    await Deno.symlink("config.real", kubeconfig);
    const out = await kubeSetup(env);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, new RegExp(`updated ${real}\n`));
    assert.ok((await Deno.lstat(kubeconfig)).isSymlink);
    assert.match(await Deno.readTextFile(real), /args:\n {6}- kube-token\n/);
    assert.equal(await modeOf(real), 0o600);
    assert.equal(await Deno.readTextFile(`${kubeconfig}.bak`), GKE_KUBECONFIG);
  });
});

Deno.test("kube-setup goes on with a warning when the backup cannot be written", async () => {
  await withHome(async ({ kubeconfig, env }) => {
    await Deno.writeTextFile(kubeconfig, GKE_KUBECONFIG);
    // A directory where the backup should go makes the backup's rename fail.
    await Deno.mkdir(`${kubeconfig}.bak`);
    await Deno.writeTextFile(`${kubeconfig}.bak/keep`, "x");
    const out = await kubeSetup(env);
    assert.equal(out.code, 0, out.stderr);
    assert.match(
      out.stderr,
      new RegExp(`^kube-setup: warning: could not write ${kubeconfig}\\.bak`),
    );
    assert.match(out.stdout, new RegExp(`updated ${kubeconfig}\n`));
    assert.match(await Deno.readTextFile(kubeconfig), /- kube-token/);
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(`${kubeconfig}.bak`))).map((e) => e.name),
      ["keep"],
    );
  });
});

Deno.test("kube-setup refuses a read-only kubeconfig: exit 1, nothing written", async () => {
  await withHome(async ({ home, kubeconfig, env }) => {
    await Deno.writeTextFile(kubeconfig, GKE_KUBECONFIG);
    await Deno.chmod(kubeconfig, 0o444);
    const out = await kubeSetup(env);
    assert.equal(out.code, 1);
    assert.equal(
      out.stderr.trim(),
      `kube-setup: ${kubeconfig} is read-only (mode 444); not changed`,
    );
    assert.equal(await Deno.readTextFile(kubeconfig), GKE_KUBECONFIG);
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(`${home}/.kube`))).map((e) => e.name),
      ["config"],
    );
  });
});

Deno.test("kube-setup on bad, empty, scalar or missing kubeconfigs: exit 1, clear message", async () => {
  const cases: [string | undefined, RegExp][] = [
    ["users: [\n  token: secret-in-file\n", /is not valid YAML at line \d+, column \d+: /],
    ["", /config is empty$/],
    ["# nothing but a comment\n", /config is empty$/],
    ["just-a-scalar\n", /is not a kubeconfig: its top level is not a mapping$/],
    [undefined, /cannot read kubeconfig .*\/config: no such file$/],
  ];
  for (const [content, pattern] of cases) {
    await withHome(async ({ home, kubeconfig, env }) => {
      if (content !== undefined) await Deno.writeTextFile(kubeconfig, content);
      const out = await kubeSetup(env);
      assert.equal(out.code, 1, JSON.stringify(content));
      assert.equal(out.stdout, "");
      assert.match(out.stderr.trim(), /^kube-setup: /);
      assert.match(out.stderr.trim(), pattern);
      assert.doesNotMatch(out.stderr, /secret-in-file/);
      const names = (await Array.fromAsync(Deno.readDir(`${home}/.kube`))).map((e) => e.name);
      assert.deepEqual(names, content === undefined ? [] : ["config"]);
    });
  }
});

Deno.test("rerunning kube-setup from a moved install repairs the entries an earlier run wrote", async () => {
  const movedRoot = await stableTempDir("kube-setup-moved-");
  try {
    const moved = await installAuthcalator(movedRoot, await denoDir());
    await withHome(async ({ kubeconfig, env }) => {
      await Deno.writeTextFile(kubeconfig, GKE_KUBECONFIG);
      assert.equal((await kubeSetup(env)).code, 0);
      // The old install goes away (an upgrade or a move); the new one runs kube-setup again.
      const out = await kubeSetup(env, [], moved);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, new RegExp(`user gke_proj_zone_one now runs ${moved} kube-token`));
      const users = parse(await Deno.readTextFile(kubeconfig)).users;
      for (const name of ["gke_proj_zone_one", "gke_proj_zone_two"]) {
        const exec = users.find((u: { name: string }) => u.name === name).user.exec;
        assert.deepEqual([exec.command, ...exec.args], [moved, "kube-token"]);
      }
      // Users that never ran the GKE plugin are still not touched.
      assert.equal(
        users.find((u: { name: string }) => u.name === "static-user").user.token,
        "kubernetes-static-token",
      );
      const aws = users.find((u: { name: string }) => u.name === "other-exec").user.exec;
      assert.equal(aws.command, "aws");
    });
  } finally {
    await Deno.remove(movedRoot, { recursive: true });
  }
});

Deno.test("kube-setup run by `deno run` (no installed command) refuses and names --command", async () => {
  await withHome(async ({ kubeconfig, env }) => {
    await Deno.writeTextFile(kubeconfig, GKE_KUBECONFIG);
    const out = await kubeSetupFromSource(env);
    assert.equal(out.code, 1);
    assert.equal(out.stdout, "");
    assert.match(
      out.stderr,
      /^kube-setup: this is `deno run` of \/.*\/src\/main\.ts, not an installed command, and kubeconfig needs the `authcalator` command that will run kube-token\. Install authcalator/,
    );
    assert.match(out.stderr, /--command PATH/);
    assert.equal(await Deno.readTextFile(kubeconfig), GKE_KUBECONFIG);
  });
});

Deno.test("kube-setup refuses a command in a temp dir or an npx cache", async () => {
  const places: [string, RegExp][] = [
    ["/tmp/checkout/bin/authcalator", /is under \/tmp, a temporary directory/],
    [
      "/home/u/.npm/_npx/0a1b2c/node_modules/.bin/authcalator",
      /is in an npx cache, which npm may clean at any time/,
    ],
  ];
  for (const [shim, why] of places) {
    await withHome(async ({ kubeconfig, env }) => {
      await Deno.writeTextFile(kubeconfig, GKE_KUBECONFIG);
      const out = await kubeSetupFromSource({ ...env, AUTHCALATOR_EXECUTABLE: shim });
      assert.equal(out.code, 1, out.stderr);
      assert.match(out.stderr, new RegExp(`will not write the authcalator command ${shim}`));
      assert.match(out.stderr, why);
      assert.match(out.stderr, /--command PATH/);
      assert.equal(await Deno.readTextFile(kubeconfig), GKE_KUBECONFIG);
    });
  }
});

Deno.test("kube-setup --command PATH writes that command, from anywhere", async () => {
  await withHome(async ({ kubeconfig, env }) => {
    await Deno.writeTextFile(kubeconfig, GKE_KUBECONFIG);
    const out = await kubeSetupFromSource(
      { ...env, AUTHCALATOR_EXECUTABLE: "/tmp/x/authcalator" },
      ["--command", "/opt/authcalator/bin/authcalator"],
    );
    assert.equal(out.code, 0, out.stderr);
    const exec = parse(await Deno.readTextFile(kubeconfig)).users[0].user.exec;
    assert.deepEqual([exec.command, ...exec.args], [
      "/opt/authcalator/bin/authcalator",
      "kube-token",
    ]);
  });
});

Deno.test("kube-setup --command with a relative path or no value is a usage error (exit 2)", async () => {
  await withHome(async ({ kubeconfig, env }) => {
    await Deno.writeTextFile(kubeconfig, GKE_KUBECONFIG);
    const relative = await kubeSetup(env, ["--command", "bin/authcalator"]);
    assert.equal(relative.code, 2);
    assert.match(relative.stderr, /--command must be an absolute path .*"bin\/authcalator"/);
    const missing = await kubeSetup(env, ["--command"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /option --command needs a value/);
    assert.equal(await Deno.readTextFile(kubeconfig), GKE_KUBECONFIG);
  });
});
