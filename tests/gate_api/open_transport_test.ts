/**
 * From configuration to transport: no gate_url is the Unix socket; gate_url picks TCP + TLS, and
 * `--tls-bundle` beats GCP_AUTHCALATOR_TLS_BUNDLE_B64, which beats tls_bundle from the env or the
 * file (upstream let the env bundle beat the flag, B5.4). gate_token_file is a config key.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../src/cli/config.ts";
import { openGateTransport } from "../../src/gate_api/open_transport.ts";
import { RemoteGateConfigError } from "../../src/gate_api/remote_config.ts";
import { issueTlsMaterial, startStandInGate } from "./remote_tls_fixture.ts";

const parent = await Deno.makeTempDir();
const flagged = await issueTlsMaterial({ clientName: "flag" });
const enved = await issueTlsMaterial({ clientName: "env" });
const flagFile = `${parent}/flag.pem`;
await Deno.writeTextFile(flagFile, flagged.bundle, { mode: 0o600 });
const envFile = `${parent}/env.pem`;
await Deno.writeTextFile(envFile, enved.bundle, { mode: 0o600 });

async function clientNameSeen(
  flags: Record<string, unknown>,
  env: Record<string, string>,
): Promise<{ name?: string; warnings: string[] }> {
  // Both gates trust both CAs' clients only if issued by them; one gate per material.
  const gates = [await startStandInGate(flagged), await startStandInGate(enved)];
  const warnings: string[] = [];
  try {
    for (const gate of gates) {
      const config = loadConfig({
        flags: { ...flags, gate_url: `https://localhost:${gate.port}` },
        env: { XDG_RUNTIME_DIR: "/run/user/1", ...env },
      });
      const transport = await openGateTransport(config, env, (w) => warnings.push(w));
      try {
        const res = await transport.send({
          method: "GET",
          path: "/health",
          signal: AbortSignal.timeout(10_000),
        }).catch(() => undefined);
        await res?.body?.cancel();
      } finally {
        transport.close();
      }
      if (gate.seen.length) return { name: gate.seen[0].clientName, warnings };
    }
    return { warnings };
  } finally {
    for (const gate of gates) await gate.close();
  }
}

Deno.test("no gate_url: the Unix socket, with a warning when remote-only settings are given", async () => {
  const config = loadConfig({ flags: { socket_path: "/run/x/gate.sock" }, env: {} });
  const warnings: string[] = [];
  const transport = await openGateTransport(config, {}, (w) => warnings.push(w));
  try {
    assert.equal(transport.where, "the gate at /run/x/gate.sock");
    assert.deepEqual(warnings, []);
  } finally {
    transport.close();
  }
  const stray = loadConfig({
    flags: { socket_path: "/run/x/gate.sock", gate_token_file: "/t/token" },
    env: {},
  });
  const strayWarnings: string[] = [];
  const unix = await openGateTransport(stray, {}, (w) => strayWarnings.push(w));
  unix.close();
  assert.deepEqual(strayWarnings, [
    "gate_token_file is set but gate_url is not, so the gate's Unix socket /run/x/gate.sock is " +
    "used; set gate_url to reach a remote gate",
  ]);
});

Deno.test("--tls-bundle beats the env bundle, which beats GCP_AUTHCALATOR_TLS_BUNDLE", async () => {
  const b64 = btoa(enved.bundle);
  const viaFlag = await clientNameSeen(
    { tls_bundle: flagFile },
    { GCP_AUTHCALATOR_TLS_BUNDLE_B64: b64 },
  );
  assert.equal(viaFlag.name, "flag");
  assert.deepEqual(viaFlag.warnings, []);
  const viaB64 = await clientNameSeen({}, {
    GCP_AUTHCALATOR_TLS_BUNDLE_B64: b64,
    GCP_AUTHCALATOR_TLS_BUNDLE: flagFile,
  });
  assert.equal(viaB64.name, "env");
  assert.ok(viaB64.warnings.length >= 1);
  for (const warning of viaB64.warnings) {
    assert.match(warning, /readable by every process in this container/);
  }
  const viaEnvFile = await clientNameSeen({}, { GCP_AUTHCALATOR_TLS_BUNDLE: envFile });
  assert.equal(viaEnvFile.name, "env");
});

Deno.test("gate_token_file is a config key (flag, env, ~ expanded) and is checked at start", async () => {
  const config = loadConfig({
    flags: { gate_url: "https://gate.example:8174" },
    env: { GCP_AUTHCALATOR_GATE_TOKEN_FILE: "~/tok", HOME: parent },
  });
  assert.equal(config.gate_token_file, `${parent}/tok`);
  const err = await openGateTransport(config, {}, () => {}).then(() => undefined, (e) => e);
  assert.ok(err instanceof RemoteGateConfigError);
  assert.match(err.message, new RegExp(`token file ${parent}/tok does not exist`));
  await Deno.writeTextFile(`${parent}/tok`, "t.o.k");
  const transport = await openGateTransport(config, {}, () => {});
  try {
    assert.equal(transport.where, "the gate at https://gate.example:8174");
  } finally {
    transport.close();
  }
});

Deno.test("teardown", async () => {
  await Deno.remove(parent, { recursive: true });
});
