import assert from "node:assert/strict";
import { configKeysOf, parseCommandArgs } from "../../src/cli/args.ts";
import { CONFIG_KEYS } from "../../src/cli/config_keys.ts";
import { didYouMean, editDistance, nearest } from "../../src/cli/suggest.ts";
import { findCommand } from "../../src/cli/commands.ts";
import { UsageError } from "../../src/errors.ts";

const cmd = (name: string) => findCommand(name)!;

Deno.test("flag forms: --name value, --name=value, -x value, -xvalue, booleans, repeats", () => {
  const a = parseCommandArgs(cmd("with-prod"), [
    "--project-id",
    "p1",
    "--token-ttl-seconds=900",
    "-e",
    "A=1",
    "-eB=2",
    "--env=C=3",
    "--no-quota-project",
    "-c",
    "/etc/x.toml",
    "--",
    "gcloud",
  ]);
  assert.deepEqual(a.configFlags, {
    project_id: "p1",
    token_ttl_seconds: "900",
    env: ["A=1", "B=2", "C=3"],
    no_quota_project: true,
  });
  assert.equal(a.configPath, "/etc/x.toml");
  assert.deepEqual(a.positionals, ["gcloud"]);
});

Deno.test("the last value of a repeated single flag wins", () => {
  const a = parseCommandArgs(cmd("gate"), ["--project-id", "a", "--project-id", "b"]);
  assert.equal(a.configFlags.project_id, "b");
});

Deno.test("with-prod stops at the first positional, so the command keeps its own flags", () => {
  const a = parseCommandArgs(cmd("with-prod"), [
    "--project",
    "p",
    "gcloud",
    "--project",
    "x",
    "-h",
  ]);
  assert.equal(a.flags.project, "p");
  assert.equal(a.help, false);
  assert.deepEqual(a.positionals, ["gcloud", "--project", "x", "-h"]);
  const b = parseCommandArgs(cmd("with-prod"), ["--", "--weird-command"]);
  assert.deepEqual(b.positionals, ["--weird-command"]);
});

Deno.test("other commands take positionals anywhere and '--' ends options", () => {
  const a = parseCommandArgs(cmd("approve"), ["--yes", "abc"]);
  assert.deepEqual([a.flags.yes, a.positionals], [true, ["abc"]]);
  const b = parseCommandArgs(cmd("approve"), ["abc", "--yes"]);
  assert.deepEqual([b.flags.yes, b.positionals], [true, ["abc"]]);
  const c = parseCommandArgs(cmd("pending"), ["--", "-x"]);
  assert.deepEqual(c.positionals, ["-x"]);
});

Deno.test("bad forms are usage errors with clear messages", () => {
  const cases: [string, string[], RegExp][] = [
    ["gate", ["--nope"], /^unknown flag --nope$/],
    ["gate", ["-z"], /^unknown flag -z$/],
    ["gate", ["--project-id"], /^option --project-id needs a value$/],
    ["metadata-proxy", ["-p"], /^option -p, --port needs a value$/],
    ["approve", ["--yes=no"], /^option --yes does not take a value$/],
    ["approve", ["a", "b"], /^unexpected argument "b"$/],
    ["kube-token", ["--socket-path", "/x"], /^unknown flag --socket-path \(a flag of /],
    ["gate", ["--projetc-id", "p"], /^unknown flag --projetc-id \(did you mean --project-id\?\)$/],
    ["gate", ["--service", "x"], /^unknown flag --service \(did you mean --service-account\?\)$/],
    [
      "gate",
      ["--port", "1"],
      /^unknown flag --port \(a flag of metadata-proxy, emulator, permissions, not of this command\)$/,
    ],
    ["approve", ["--project-id", "p"], /^unknown flag --project-id \(a flag of gate, /],
    [
      "metadata-proxy",
      ["--pam-policy", "x"],
      /^unknown flag --pam-policy \(a flag of gate, with-prod, permissions, not of this command\)$/,
    ],
  ];
  for (const [name, args, pattern] of cases) {
    assert.throws(
      () => parseCommandArgs(cmd(name), args),
      (e: Error) => e instanceof UsageError && pattern.test(e.message),
      args.join(" "),
    );
  }
});

Deno.test("-h and --help ask for help", () => {
  assert.equal(parseCommandArgs(cmd("gate"), ["-h"]).help, true);
  assert.equal(parseCommandArgs(cmd("kube-token"), ["--help"]).help, true);
});

Deno.test("each command takes only its own config keys as flags", () => {
  assert.deepEqual(configKeysOf(cmd("approve")).map((k) => k.key), ["admin_socket_path"]);
  assert.deepEqual(configKeysOf(cmd("kube-token")), []);
  const gate = configKeysOf(cmd("gate")).map((k) => k.key);
  for (const key of ["project_id", "service_account", "socket_path", "admin_socket_path"]) {
    assert.ok(gate.includes(key), key);
  }
  for (const key of ["port", "gate_url", "tls_bundle", "env"]) assert.ok(!gate.includes(key), key);
  const proxy = configKeysOf(cmd("metadata-proxy")).map((k) => k.key);
  assert.ok(proxy.includes("port") && !proxy.includes("admin_socket_path"));
  // permissions computes any role's flags, so it takes every key.
  assert.equal(configKeysOf(cmd("permissions")).length, CONFIG_KEYS.length);
});

Deno.test("nearest: typos within a third of the length, transpositions, unique prefixes", () => {
  const names = ["gate", "metadata-proxy", "with-prod", "pending", "approve", "deny", "kube-token"];
  assert.equal(nearest("gatee", names), "gate");
  assert.equal(nearest("aprove", names), "approve");
  assert.equal(nearest("apporve", names), "approve");
  assert.equal(nearest("metadata", names), "metadata-proxy");
  assert.equal(nearest("kube", names), "kube-token");
  assert.equal(nearest("frobnicate", names), undefined);
  assert.equal(nearest("", names), undefined);
  assert.equal(nearest("x", names), undefined);
  assert.equal(editDistance("ab", "ba"), 1);
  assert.equal(didYouMean("denny", names), " (did you mean deny?)");
  assert.equal(didYouMean("zzz", names), "");
});
