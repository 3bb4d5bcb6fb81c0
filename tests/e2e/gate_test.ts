/** The gate as a real process under its pinned permissions, backed by the embedded emulator. */
import assert from "node:assert/strict";
import { type Emulator, startEmulator } from "../../src/emulator/mod.ts";
import { type GatePaths, gatePaths, socketGet, startGate } from "../helpers/gate_process.ts";

async function withWorld(
  fn: (w: { emulator: Emulator; paths: GatePaths; dir: string }) => Promise<void>,
) {
  const emulator = await startEmulator();
  const dir = await Deno.makeTempDir({ prefix: "authcalator-gate-e2e-" });
  try {
    const paths = await gatePaths(dir);
    await Deno.writeTextFile(paths.adc, JSON.stringify(emulator.authorizedUserAdc()));
    await fn({ emulator, paths, dir });
  } finally {
    await emulator.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

const modeOf = async (p: string) => (await Deno.lstat(p)).mode! & 0o777;

Deno.test("gate serves the dev API on its socket with the right modes; SIGTERM removes the socket", () =>
  withWorld(async ({ emulator, paths, dir }) => {
    const gate = await startGate(paths, emulator.baseUrl, dir);
    try {
      assert.match(gate.output(), /gate listening on unix:/);
      assert.equal(await modeOf(paths.socket), 0o660);
      assert.equal(await modeOf(paths.adminSocket), 0o600);
      assert.equal(await modeOf(paths.runDir), 0o700);
      assert.equal(await modeOf(`${paths.runDir}/gcp-authcalator-admin`), 0o700);
      const health = await socketGet(paths.socket, "/health");
      assert.equal(health.status, 200);
      assert.equal(health.body.status, "ok");
      assert.deepEqual((await socketGet(paths.socket, "/identity")).body, {
        email: "engineer@example.com",
      });
      assert.deepEqual((await socketGet(paths.socket, "/project-number")).body, {
        project_number: "123456789012",
      });
      assert.deepEqual((await socketGet(paths.socket, "/universe-domain")).body, {
        universe_domain: "googleapis.com",
      });
      const token = await socketGet(paths.socket, "/token?token_ttl_seconds=600");
      assert.equal(token.status, 200);
      assert.match(String(token.body.access_token), /^ya29\./);
      assert.equal(token.body.token_type, "Bearer");
      assert.ok(Number(token.body.expires_in) > 590 && Number(token.body.expires_in) <= 600);
      assert.equal((await socketGet(paths.socket, "/token?token_ttl_seconds=10")).status, 400);
      assert.equal((await socketGet(paths.socket, "/nope")).status, 404);
      assert.equal((await socketGet(paths.socket, "/token", { method: "POST" })).status, 405);
      assert.equal((await socketGet(paths.adminSocket, "/health")).status, 200);
      assert.equal(
        (await socketGet(paths.socket, "/pending")).status,
        404,
        "/pending is admin-only",
      );

      const audit = (await Deno.readTextFile(paths.auditLog)).trim().split("\n").map((l) =>
        JSON.parse(l)
      );
      assert.equal(await modeOf(paths.auditLog), 0o600);
      const granted = audit.find((e) => e.endpoint === "/token" && e.result === "granted");
      assert.deepEqual(Object.keys(granted).sort(), [
        "endpoint",
        "level",
        "result",
        "scopes",
        "socket",
        "timestamp",
        "token_ttl_seconds",
      ]);
      assert.equal(granted.socket, "main");
      const auditText = await Deno.readTextFile(paths.auditLog);
      assert.ok(!auditText.includes(String(token.body.access_token)));
      assert.ok(!/ya29\.|1\/\//.test(auditText + gate.output()), "no token in audit or logs");
    } finally {
      const status = await gate.stop("SIGTERM");
      assert.equal(status.code, 0, gate.output());
    }
    await assert.rejects(Deno.lstat(paths.socket), Deno.errors.NotFound);
    await assert.rejects(Deno.lstat(paths.adminSocket), Deno.errors.NotFound);
  }));

Deno.test("200 concurrent cold token requests make exactly one generateAccessToken", () =>
  withWorld(async ({ emulator, paths, dir }) => {
    const gate = await startGate(paths, emulator.baseUrl, dir);
    try {
      emulator.resetLog();
      const results = await Promise.all(
        Array.from({ length: 200 }, () => socketGet(paths.socket, "/token")),
      );
      assert.ok(results.every((r) => r.status === 200));
      assert.equal(new Set(results.map((r) => r.body.access_token)).size, 1);
      assert.equal(emulator.calls("generateAccessToken"), 1);
    } finally {
      await gate.stop();
    }
  }));

Deno.test("credentials_expired names the host; a replaced ADC file heals the gate without restart", () =>
  withWorld(async ({ emulator, paths, dir }) => {
    const gate = await startGate(paths, emulator.baseUrl, dir);
    try {
      assert.equal((await socketGet(paths.socket, "/token")).status, 200);
      emulator.faults.revokeRefreshToken();
      const expired = await socketGet(
        paths.socket,
        "/token?scopes=https://www.googleapis.com/auth/devstorage.read_only",
      );
      assert.equal(expired.status, 500);
      assert.equal(expired.body.code, "credentials_expired");
      assert.match(String(expired.body.error), new RegExp(`on host "${Deno.hostname()}"`));
      assert.match(String(expired.body.error), /gcloud auth application-default login/);
      const identity = await socketGet(paths.socket, "/identity");
      assert.equal(identity.body.code, "credentials_expired");

      await Deno.writeTextFile(paths.adc, JSON.stringify(emulator.loginAgain()));
      const healed = await socketGet(
        paths.socket,
        "/token?scopes=https://www.googleapis.com/auth/devstorage.read_only",
      );
      assert.equal(healed.status, 200, JSON.stringify(healed.body));
      assert.deepEqual((await socketGet(paths.socket, "/identity")).body, {
        email: "engineer@example.com",
      });
      const audit = await Deno.readTextFile(paths.auditLog);
      assert.match(audit, /"result":"error"/);
      assert.ok(!/ya29\.|1\/\//.test(audit + gate.output()));
    } finally {
      await gate.stop();
    }
  }));

Deno.test("a second gate on a live socket refuses; after a crash the stale socket is recovered", () =>
  withWorld(async ({ emulator, paths, dir }) => {
    const first = await startGate(paths, emulator.baseUrl, dir);
    const second = await startGate(paths, emulator.baseUrl, dir);
    const status = await second.exited();
    assert.equal(status.code, 1);
    assert.match(second.output(), /another instance is already running on .*gcp-authcalator\.sock/);
    assert.equal(
      (await socketGet(paths.socket, "/health")).status,
      200,
      "the live gate is untouched",
    );
    await first.stop("SIGKILL");
    assert.ok((await Deno.lstat(paths.socket)).isSocket, "a crash leaves the socket file");
    const third = await startGate(paths, emulator.baseUrl, dir);
    try {
      assert.equal((await socketGet(paths.socket, "/health")).status, 200);
    } finally {
      assert.equal((await third.stop("SIGINT")).code, 0);
    }
  }));

Deno.test("the gate refuses a loose or symlinked socket directory and leaves nothing behind", () =>
  withWorld(async ({ emulator, paths, dir }) => {
    await Deno.chmod(paths.runDir, 0o755);
    const loose = await startGate(paths, emulator.baseUrl, dir);
    assert.equal((await loose.exited()).code, 1, loose.output());
    assert.match(loose.output(), /permissions 0755, looser than 0700/);
    await Deno.chmod(paths.runDir, 0o700);
    await Deno.mkdir(`${dir}/real`, { mode: 0o700 });
    await Deno.symlink(`${dir}/real`, `${paths.runDir}/gcp-authcalator-admin`);
    const linked = await startGate(paths, emulator.baseUrl, dir);
    assert.equal((await linked.exited()).code, 1);
    assert.match(linked.output(), /gcp-authcalator-admin is a symlink/);
    await assert.rejects(Deno.lstat(paths.socket), Deno.errors.NotFound);
  }));
