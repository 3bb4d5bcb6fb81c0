/**
 * `authcalator gate --gate-tls-port` as users run it (its pinned permissions, the emulator as
 * Google): TLS material that is unsafe (a symlinked directory, a loose key, a directory others can
 * read) or a bad TCP setting refuses the start with exit 1 and the fix, and leaves no socket
 * behind; good material starts the listener and the banner names it.
 */
import assert from "node:assert/strict";
import {
  freePort,
  PROJECT,
  READY,
  roleEnv,
  SERVICE_ACCOUNT,
  spawnRole,
  startRole,
} from "../../src/testing/chain.ts";
import { initTls } from "../../src/tls/init.ts";
import { FILES } from "../../src/tls/profile.ts";

const dir = await Deno.makeTempDir({ prefix: "authcalator-tcp-start-" });
await Deno.chmod(dir, 0o700);

async function withEmulator(work: (emulatorUrl: string, adc: string) => Promise<void>) {
  const adc = `${dir}/adc.json`;
  const { proc, match } = await startRole("emulator", ["--port", "0", "--write-adc", adc], {
    env: roleEnv(dir),
    ready: READY.emulator,
  });
  try {
    await proc.waitFor(READY.adcWritten, 10_000);
    await work(match[1], adc);
  } finally {
    await proc.stop("SIGTERM");
  }
}

function gateArgs(emulatorUrl: string, run: string, extra: string[]) {
  return [
    "--project-id",
    PROJECT,
    "--service-account",
    SERVICE_ACCOUNT,
    "--socket-path",
    `${run}/g.sock`,
    "--admin-socket-path",
    `${run}/adm/admin.sock`,
    "--google-api-base",
    emulatorUrl,
    ...extra,
  ];
}

Deno.test({
  name: "unsafe TLS material or a bad TCP setting refuses the gate's start; good material serves",
  async fn() {
    const tlsDir = `${dir}/tls`;
    await initTls(tlsDir, { now: new Date() });
    await Deno.symlink(tlsDir, `${dir}/tls-link`);
    await withEmulator(async (emulatorUrl, adc) => {
      const run = `${dir}/run`;
      await Deno.mkdir(run, { mode: 0o700, recursive: true });
      const env = roleEnv(dir, { GOOGLE_APPLICATION_CREDENTIALS: adc, XDG_RUNTIME_DIR: run });
      const refuses = async (extra: string[], pattern: RegExp, code = 1) => {
        const gate = spawnRole("gate", gateArgs(emulatorUrl, run, extra), { env });
        const status = await gate.exited(30_000);
        assert.equal(status.code, code, gate.output());
        assert.match(gate.output(), pattern);
        await assert.rejects(Deno.lstat(`${run}/g.sock`), Deno.errors.NotFound, "no socket left");
      };
      const port = String(freePort());
      await refuses(["--gate-tls-port", port, "--tls-dir", `${dir}/tls-link`], /symlink/);
      await Deno.chmod(`${tlsDir}/${FILES.serverKey}`, 0o644);
      await refuses(["--gate-tls-port", port, "--tls-dir", tlsDir], /server-key\.pem.*chmod 600/);
      await Deno.chmod(`${tlsDir}/${FILES.serverKey}`, 0o600);
      await Deno.chmod(tlsDir, 0o755);
      await refuses(["--gate-tls-port", port, "--tls-dir", tlsDir], /tls.*(0755|chmod 700|mode)/);
      await Deno.chmod(tlsDir, 0o700);
      await refuses(
        ["--gate-tls-port", port, "--tls-dir", tlsDir, "--gate-bind", "gate.example"],
        /gate_bind: must be an IP address/,
        2,
      );

      const { proc, match } = await startRole(
        "gate",
        gateArgs(emulatorUrl, run, ["--gate-tls-port", port, "--tls-dir", tlsDir]),
        { env, ready: /gate listening on unix:\S+ and tcp:(127\.0\.0\.1:\d+)/ },
      );
      try {
        assert.equal(match[1], `127.0.0.1:${port}`);
        assert.match(proc.output(), /tcp listener: +127\.0\.0\.1:\d+, TLS 1\.2\+, clients: client/);
        const plain = await fetch(`http://127.0.0.1:${port}/health`);
        assert.equal(plain.status, 400, "plain HTTP is told to use https");
        await plain.body?.cancel();
      } finally {
        await proc.stop("SIGTERM");
      }
    });
  },
});

globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* already gone */ }
});
