/**
 * kube-setup as users run it: a real process under the role's pinned permission flags, on real
 * files. Also runs the exec command it writes, under the flags it wrote, against a fake proxy.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { baseEnv, MAIN } from "../helpers/cli.ts";
import { GKE_KUBECONFIG } from "../kube/fixtures.ts";
import { startFakeMetadata } from "../kube/fake_metadata.ts";
import { denoDir, pinnedFlags, runExact } from "../kube/pinned.ts";

interface Home {
  home: string;
  kubeconfig: string;
  env: Record<string, string>;
}

async function withHome(fn: (h: Home) => Promise<void>, extraEnv: Record<string, string> = {}) {
  const home = await Deno.makeTempDir({ prefix: "kube-setup-home-" });
  try {
    await Deno.mkdir(`${home}/.kube`);
    const env = { ...baseEnv(), DENO_DIR: await denoDir(), HOME: home, ...extraEnv };
    await fn({ home, kubeconfig: `${home}/.kube/config`, env });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

/** Runs kube-setup under the flags `authcalator permissions kube-setup` prints for `env`. */
async function kubeSetup(env: Record<string, string>) {
  const flags = await pinnedFlags("kube-setup", env);
  return await runExact(Deno.execPath(), ["run", "--quiet", ...flags, MAIN, "kube-setup"], env);
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
          "kube-setup: user gke_proj_zone_one now runs kube-token",
          "kube-setup: user gke_proj_zone_two now runs kube-token",
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
      const kubeTokenFlags = await pinnedFlags("kube-token", { GCE_METADATA_HOST: fake.host });
      const entry = new URL("../../src/kube/kube_token_entry.ts", import.meta.url).pathname;
      assert.equal(exec.command, await Deno.realPath(Deno.execPath()));
      assert.deepEqual(exec.args, ["run", "--no-config", ...kubeTokenFlags, entry]);

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

Deno.test("kube-setup is idempotent: a second run warns, exits 0 and writes nothing", async () => {
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
      `kube-setup: warning: no user in ${kubeconfig} runs gke-gcloud-auth-plugin; nothing changed`,
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
    assert.match(await Deno.readTextFile(real), /args:\n {6}- run\n/);
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
    assert.match(await Deno.readTextFile(kubeconfig), /kube_token_entry\.ts/);
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
