import assert from "node:assert/strict";
import type { Invocation } from "../../src/cli/commands.ts";
import { optionsFromFlags, writePrivateFile } from "../../src/commands/emulator.ts";
import { UsageError } from "../../src/errors.ts";
import { denoFlags, sampleContext } from "../../src/permissions.ts";
import { runCli, startCli } from "../helpers/cli.ts";
import { postForm } from "./fixture.ts";

function invocation(flags: Invocation["flags"]): Invocation {
  return { command: "emulator", positionals: [], flags, env: {} };
}

Deno.test("emulator flags: defaults and overrides become options", () => {
  assert.deepEqual(optionsFromFlags(invocation({})), {
    port: 0,
    projects: [{ id: "demo-project", number: "123456789012" }],
    engineer: { email: "engineer@example.com" },
    serviceAccounts: [{
      email: "dev-runner@demo-project.iam.gserviceaccount.com",
      impersonators: ["engineer@example.com"],
    }],
  });
  const o = optionsFromFlags(invocation({
    port: "8080",
    "project-id": "my-proj",
    "project-number": "42",
    "engineer-email": "me@corp.example",
  }));
  assert.equal(o.port, 8080);
  assert.deepEqual(o.projects, [{ id: "my-proj", number: "42" }]);
  assert.deepEqual(o.serviceAccounts, [{
    email: "dev-runner@my-proj.iam.gserviceaccount.com",
    impersonators: ["me@corp.example"],
  }]);
});

Deno.test("emulator flags: bad port, project, number and emails are usage errors", () => {
  const bad: [Invocation["flags"], RegExp][] = [
    [{ port: "65536" }, /--port/],
    [{ port: "-1" }, /--port/],
    [{ port: "80a" }, /--port/],
    [{ port: "" }, /--port/],
    [{ "project-id": "Demo_Project" }, /--project-id/],
    [{ "project-number": "01" }, /--project-number/],
    [{ "project-number": "12ab" }, /--project-number/],
    [{ "engineer-email": "engineer" }, /--engineer-email/],
    [{ "service-account": "dev-runner@" }, /--service-account/],
    [{ "write-adc": " " }, /--write-adc/],
  ];
  for (const [flags, pattern] of bad) {
    assert.throws(() => optionsFromFlags(invocation(flags)), (e: unknown) => {
      assert.ok(e instanceof UsageError, JSON.stringify(flags));
      assert.match(e.message, pattern);
      return true;
    });
  }
});

Deno.test("writePrivateFile tightens an existing loose file to 0600 and replaces its content", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/adc.json`;
    await Deno.writeTextFile(path, "old content that is longer than the new one", { mode: 0o644 });
    await Deno.chmod(path, 0o644);
    await writePrivateFile(path, "{}\n");
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal(await Deno.readTextFile(path), "{}\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("authcalator emulator: a bad flag exits 2 with a usage message", async () => {
  const res = await runCli(["emulator", "--port", "99999"], {
    permissions: denoFlags("emulator", sampleContext()),
  });
  assert.equal(res.code, 2);
  assert.match(res.stderr, /--port must be a number from 0 to 65535/);
});

Deno.test("authcalator emulator (role permissions): ready line, 0600 ADC file that works, SIGTERM exits 0", async () => {
  const dir = await Deno.makeTempDir();
  const adcPath = `${dir}/application_default_credentials.json`;
  const proc = startCli(["emulator", "--port", "0", "--write-adc", adcPath], {
    permissions: denoFlags("emulator", sampleContext()),
  });
  try {
    const [, base] = await proc.waitFor(/^emulator listening on (http:\/\/127\.0\.0\.1:\d+)$/m);
    await proc.waitFor(/^authorized_user ADC written to .*application_default_credentials\.json$/m);
    assert.equal((await Deno.stat(adcPath)).mode! & 0o777, 0o600);
    const adc = JSON.parse(await Deno.readTextFile(adcPath));
    assert.equal(adc.type, "authorized_user");
    assert.equal(adc.quota_project_id, "demo-project");
    const res = await postForm(`${base}/token`, {
      grant_type: "refresh_token",
      client_id: adc.client_id,
      client_secret: adc.client_secret,
      refresh_token: adc.refresh_token,
    });
    assert.equal(res.status, 200);
    await proc.waitFor(/emulator: POST \/token -> 200 \(engineer@example\.com\)/);
    const status = await proc.stop("SIGTERM");
    assert.equal(status.code, 0, proc.output());
    assert.ok(!proc.output().includes(adc.refresh_token), "the refresh token is never printed");
    assert.ok(!proc.output().includes(res.body.access_token), "tokens are never printed");
  } finally {
    await proc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("authcalator emulator: SIGINT also stops it cleanly with exit 0", async () => {
  const proc = startCli(["emulator"], { permissions: denoFlags("emulator", sampleContext()) });
  try {
    await proc.waitFor(/^emulator listening on http:\/\/127\.0\.0\.1:\d+$/m);
    const status = await proc.stop("SIGINT");
    assert.equal(status.code, 0, proc.output());
  } finally {
    await proc.stop();
  }
});
