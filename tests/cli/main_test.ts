import assert from "node:assert/strict";
import { runCli } from "../helpers/cli.ts";
import { COMMANDS } from "../../src/cli/commands.ts";

Deno.test("--help and help list every command; exit 0", async () => {
  for (const args of [["--help"], ["-h"], ["help"]]) {
    const r = await runCli(args);
    assert.equal(r.code, 0);
    for (const c of COMMANDS) assert.match(r.stdout, new RegExp(`\\n  ${c.name} `));
  }
});

Deno.test("version and --version print the deno.json version", async () => {
  const meta = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  for (const args of [["version"], ["--version"], ["-v"]]) {
    const r = await runCli(args, { permissions: [] });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), meta.version);
  }
});

Deno.test("no command: usage on stderr, exit 2", async () => {
  const r = await runCli([]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /error: no command given/);
  assert.equal(r.stdout, "");
});

Deno.test("unknown command: the nearest name, usage on stderr, exit 2", async () => {
  const r = await runCli(["gatee"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^error: unknown command 'gatee' \(did you mean gate\?\)\n/);
  assert.match(r.stderr, /usage: authcalator <command>/);
  const far = await runCli(["frobnicate"]);
  assert.equal(far.code, 2);
  assert.match(far.stderr, /^error: unknown command 'frobnicate'\n/);
  const typo = await runCli(["aprove", "abc"]);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /did you mean approve\?/);
});

Deno.test("per-command --help: only that command's flags, required ones marked, an example", async () => {
  const approve = await runCli(["approve", "--help"]);
  assert.equal(approve.code, 0);
  assert.match(approve.stdout, /--admin-socket-path <path>/);
  for (const foreign of ["--pam-policy", "--tls-dir", "--port", "--project-id", "--socket-path "]) {
    assert.ok(!approve.stdout.includes(foreign), `approve --help lists ${foreign}`);
  }
  assert.match(approve.stdout, /\nexamples:\n {2}authcalator approve [0-9a-f]{32}\n?$/);
  const gate = await runCli(["gate", "--help"]);
  assert.equal(gate.code, 0, gate.stderr);
  assert.match(
    gate.stdout,
    /--project-id <id> +GCP project id \(required: flag, GCP_AUTHCALATOR_PROJECT_ID or project_id in the file\)/,
  );
  assert.match(gate.stdout, /--service-account <email> .*\(required: flag, /);
  assert.doesNotMatch(gate.stdout, /--port|--gate-url|--tls-bundle/);
  const proxy = await runCli(["metadata-proxy", "--help"]);
  assert.match(proxy.stdout, /--project-id <id> .*\(required/);
  assert.doesNotMatch(proxy.stdout, /--service-account <email> .*\(required/);
  assert.doesNotMatch(proxy.stdout, /--admin-socket-path|--pam-policy|--audit-max-bytes/);
  // Every command's help is short and ends with an example.
  for (const c of COMMANDS) {
    const r = await runCli([c.name, "--help"]);
    assert.match(r.stdout, new RegExp(`\\nexamples:\\n {2}authcalator ${c.name}`), c.name);
    assert.ok(
      r.stdout.split("\n").length < 60,
      `${c.name} --help is ${r.stdout.split("\n").length} lines`,
    );
  }
});

Deno.test("usage errors exit 2 for every command (approve/deny without an id included)", async () => {
  const cases: [string[], RegExp][] = [
    [["approve"], /missing the pending request ID/],
    [["deny"], /missing the pending request ID|request ID/],
    [["with-prod", "--project", "p"], /with-prod requires a command to wrap/],
    [["metadata-proxy", "--port", "99999"], /port/],
    [["emulator", "--port", "x"], /port/],
    [["kube-token", "extra"], /unexpected argument "extra"/],
    [["kube-setup", "--command"], /option --command needs a value/],
    [["kube-setup", "--command", "relative/authcalator"], /--command must be an absolute path/],
    [["permissions"], /a role is required/],
    [["pending", "a", "b"], /unexpected argument "b"/],
    [["version", "--verbose"], /unknown flag --verbose/],
  ];
  for (const [args, pattern] of cases) {
    const r = await runCli(args, {
      env: { HOME: "/nonexistent", XDG_RUNTIME_DIR: "/nonexistent" },
    });
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, pattern, args.join(" "));
    assert.match(r.stderr, new RegExp(`Run 'authcalator ${args[0]} --help' for usage`));
  }
});

Deno.test("every command has --help on stdout, exit 0", async () => {
  for (const c of COMMANDS) {
    const r = await runCli([c.name, "--help"]);
    assert.equal(r.code, 0, `${c.name}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`usage: authcalator ${c.name}`));
  }
});

Deno.test("unknown flags, missing flag values and extra arguments exit 2 with a clear message", async () => {
  const cases: [string[], RegExp][] = [
    [["gate", "--bogus"], /error: unknown flag --bogus/],
    [["kube-token", "--project-id", "x"], /error: unknown flag --project-id/],
    [["gate", "--project-id"], /error: option --project-id.*needs a value/],
    [["version", "extra"], /error: unexpected argument "extra"/],
    [["permissions", "gate", "extra"], /error: unexpected argument "extra"/],
  ];
  for (const [args, pattern] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.match(r.stderr, /--help/);
  }
});

Deno.test("configuration errors exit 2 and name the key", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/c.toml`, 'project_id = "p"\nbogus_key = 1\n');
    const r = await runCli(["gate", "--config", `${dir}/c.toml`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bogus_key: unknown key/);
    const r2 = await runCli(["metadata-proxy", "--port", "x"]);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /port: must be a whole number/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gate requires project_id and service_account, and refuses keys it does not serve", async () => {
  const r = await runCli(["gate"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /project_id: required/);
  assert.match(r.stderr, /service_account: required/);
  const r2 = await runCli([
    "gate",
    "--project-id",
    "p",
    "--service-account",
    "sa@p.iam.gserviceaccount.com",
    "--pam-policy",
    "x",
    "--gate-tls-port",
    "8443",
  ]);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /pam_policy: PAM is not served by this release/);
  assert.doesNotMatch(r2.stderr, /gate_tls_port/, "the TCP listener is served");
});

Deno.test("permissions prints pinned flags for a role; unknown role exits 2", async () => {
  const r = await runCli([
    "permissions",
    "metadata-proxy",
    "--socket-path",
    "/run/x/g.sock",
    "--port",
    "9999",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^deno run --no-prompt /);
  assert.match(r.stdout, /--allow-net=127\.0\.0\.1:9999,unix:\/run\/x\/g\.sock,localhost/);
  // Only Deno.uid() of the sys kind (a client bundle must be the proxy user's own file).
  assert.doesNotMatch(r.stdout, /--allow-run|--allow-sys(?!=uid )|--allow-all/);
  assert.match(r.stdout, / --allow-sys=uid /);
  assert.match(r.stdout, /src\/main\.ts metadata-proxy\n$/);
  const bad = await runCli(["permissions", "root"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown role 'root'/);
  const none = await runCli(["permissions"]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /a role is required/);
});
