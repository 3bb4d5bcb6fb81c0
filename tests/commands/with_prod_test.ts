/** with-prod's failures before anything is asked: usage, configuration, an unreachable gate. */
import assert from "node:assert/strict";
import { runCli } from "../helpers/cli.ts";
import { denoDirEnv } from "../e2e/prod_stack.ts";

Deno.test("with-prod without a command is a usage error", async () => {
  const r = await runCli(["with-prod", "--project", "p"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /with-prod requires a command to wrap/);
});

Deno.test("with-prod without a project says how to give one", async () => {
  const r = await runCli(["with-prod", "--", "true"], {
    env: { HOME: "/nonexistent", ...denoDirEnv() },
  });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /with-prod needs a target project: --project/);
});

Deno.test("with-prod with an unreachable gate fails in the preflight and runs nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await runCli([
      "with-prod",
      "--socket-path",
      `${dir}/missing.sock`,
      "--project",
      "p",
      "--",
      "bash",
      "-c",
      `touch ${dir}/ran`,
    ], { env: { XDG_RUNTIME_DIR: dir, HOME: dir, ...denoDirEnv() } });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /with-prod: failed to acquire prod token: cannot reach the gate at .*missing\.sock/,
    );
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names, [], "no sandbox, no marker");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("with-prod refuses gate_url (TCP + mTLS is not in this release)", async () => {
  const r = await runCli([
    "with-prod",
    "--project",
    "p",
    "--gate-url",
    "https://gate.example:8443",
    "--",
    "true",
  ]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /gate_url .* is not supported by this release/);
});
