import assert from "node:assert/strict";
import { parseCommandArgs } from "../../src/cli/args.ts";
import { findCommand } from "../../src/cli/commands.ts";
import { UsageError } from "../../src/errors.ts";

const cmd = (name: string) => findCommand(name)!;

Deno.test("flag forms: --name value, --name=value, -x value, -xvalue, booleans, repeats", () => {
  const a = parseCommandArgs(cmd("with-prod"), [
    "--project-id",
    "p1",
    "--port=9000",
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
    port: "9000",
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
    ["gate", ["-p"], /^option -p, --port needs a value$/],
    ["approve", ["--yes=no"], /^option --yes does not take a value$/],
    ["approve", ["a", "b"], /^unexpected argument "b"$/],
    ["kube-token", ["--socket-path", "/x"], /^unknown flag --socket-path$/],
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
