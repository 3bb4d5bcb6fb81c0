/**
 * The release and JSR install paths, as far as this machine can build them: the build plan makes
 * one `authcalator-<os>-<arch>` binary per platform plus SHA256SUMS (deno compile cannot fetch its
 * runtime here, so the script runs with --dry-run), every subcommand of that binary holds only its
 * role's permission kinds after start-up under the compiled permission set, and the JSR package
 * carries src/ and nothing else (no tests, scripts, benchmarks or src/testing).
 */
import assert from "node:assert/strict";
import {
  checksums,
  COMPILE_PERMISSIONS,
  COMPILE_V8_FLAGS,
  plan,
  rolesNeedingAll,
  TARGETS,
} from "../scripts/build.ts";
import { COMMAND_ROLES, DAEMON_V8_FLAGS, KINDS, kindsOf, type Role } from "../src/permissions.ts";
import { baseEnv, ROOT } from "./helpers/cli.ts";

const PROBE = new URL("./fixtures/probe.ts", import.meta.url).pathname;

Deno.test("the release builds one authcalator-<os>-<arch> binary per target from src/main.ts", () => {
  const steps = plan("dist");
  assert.deepEqual(
    steps.map((s) => s.output),
    TARGETS.map((t) => `dist/authcalator-${t.name}`),
  );
  for (const [i, target] of TARGETS.entries()) {
    assert.deepEqual(steps[i].args, [
      "compile",
      "--quiet",
      ...COMPILE_PERMISSIONS,
      "--v8-flags=--max-semi-space-size=4",
      "--target",
      target.triple,
      "--output",
      `dist/authcalator-${target.name}`,
      "src/main.ts",
    ]);
  }
  // The binary holds all permissions only because with-prod's role needs every kind.
  const roles = [...new Set(Object.values(COMMAND_ROLES))] as Role[];
  assert.deepEqual(rolesNeedingAll(roles), ["with-prod"]);
  assert.deepEqual(COMPILE_PERMISSIONS, ["--allow-all"]);
  // The daemons' V8 flag (src/permissions.ts) travels in the binary as it does in their pinned flags.
  assert.deepEqual(COMPILE_V8_FLAGS, [DAEMON_V8_FLAGS]);
});

Deno.test("scripts/build.ts --dry-run prints the compile lines and the checksum step; bad args exit 2", async () => {
  const run = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--allow-all", `${ROOT}scripts/build.ts`, ...args],
      cwd: ROOT,
      env: baseEnv(),
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
  const out = await run(["--dry-run", "--out", "out"]);
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const lines = text.trim().split("\n");
  assert.equal(lines.length, TARGETS.length + 1);
  for (const [i, target] of TARGETS.entries()) {
    assert.equal(
      lines[i],
      `deno compile --quiet --allow-all --v8-flags=--max-semi-space-size=4 --target ${target.triple} --output out/authcalator-${target.name} src/main.ts`,
    );
  }
  assert.match(lines.at(-1)!, /^then: SHA256SUMS of authcalator-linux-x64, .* in out$/);
  const bad = await run(["--dry-run", "--outdir", "x"]);
  assert.equal(bad.code, 2);
  assert.match(new TextDecoder().decode(bad.stderr), /unknown argument "--outdir"/);
  const noValue = await run(["--out"]);
  assert.equal(noValue.code, 2);
  assert.match(new TextDecoder().decode(noValue.stderr), /--out needs a directory/);
});

Deno.test("SHA256SUMS has sha256sum's format and verifies with sha256sum -c", async () => {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-sums-" });
  try {
    await Deno.writeTextFile(`${dir}/authcalator-linux-x64`, "binary one");
    await Deno.writeFile(`${dir}/authcalator-darwin-arm64`, new Uint8Array([0, 1, 2, 255]));
    const sums = await checksums(dir, ["authcalator-linux-x64", "authcalator-darwin-arm64"]);
    assert.match(
      sums,
      /^[0-9a-f]{64} {2}authcalator-darwin-arm64\n[0-9a-f]{64} {2}authcalator-linux-x64\n$/,
    );
    await Deno.writeTextFile(`${dir}/SHA256SUMS`, sums);
    const check = await new Deno.Command("sha256sum", {
      args: ["-c", "SHA256SUMS"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(check.code, 0, new TextDecoder().decode(check.stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** What `action` on a harmless target reports under the compiled set after `command`'s revocation. */
async function probeAfterRevocation(role: Role, kind: string, dir: string): Promise<string> {
  const target: Record<string, string> = {
    read: "/etc/hostname",
    write: `${dir}/w-${role}`,
    run: "true",
    env: "HOME",
    net: "127.0.0.1:9",
    sys: "hostname",
  };
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...COMPILE_PERMISSIONS, PROBE, "revoke", role, kind, target[kind]],
    env: baseEnv(),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("under the binary's permission set, each subcommand keeps only its role's kinds", async () => {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-revoke-" });
  try {
    for (const [command, role] of Object.entries(COMMAND_ROLES)) {
      const kinds = kindsOf(role);
      for (const kind of KINDS.filter((k) => k !== "sys")) {
        const result = await probeAfterRevocation(role, kind, dir);
        const kept = kinds === "all" || kinds.includes(kind);
        if (kept) assert.notEqual(result, "NotCapable", `${command}: ${kind} must stay`);
        else assert.equal(result, "NotCapable", `${command}: ${kind} must be revoked`);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the JSR package carries src/ (minus src/testing) and the docs, nothing else", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty", "--no-check"],
    cwd: ROOT,
    env: baseEnv(),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
  const root = `file://${ROOT}`;
  const files = [...text.matchAll(/^\s+(file:\/\/\S+)/gm)].map((m) => m[1].slice(root.length));
  assert.ok(files.includes("src/main.ts"), text);
  assert.ok(files.includes("src/kube/kube_token_entry.ts"));
  assert.ok(files.includes("README.md") && files.includes("LICENSE"));
  const stray = files.filter((f) =>
    !(f.startsWith("src/") || ["README.md", "LICENSE", "CHANGELOG.md", "deno.json"].includes(f)) ||
    f.startsWith("src/testing/") || /_test\.ts$|bench/.test(f)
  );
  assert.deepEqual(stray, []);
});

Deno.test("the release workflow runs the build script, verifies checksums and a publish dry run", async () => {
  const yml = await Deno.readTextFile(new URL("../.github/workflows/release.yml", import.meta.url));
  assert.match(yml, /scripts\/build\.ts --out dist/);
  assert.match(yml, /sha256sum -c SHA256SUMS/);
  assert.match(yml, /publish --dry-run/);
});
