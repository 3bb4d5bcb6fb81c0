/**
 * Remote-gate settings: bundle precedence (CLI > env > file > tls_dir, upstream's B5.4 fixed), the
 * env-bundle warning, a bundle file with loose permissions or a foreign owner, a token file that
 * is missing or empty at start, and a bearer-only client's trust anchor.
 */
import assert from "node:assert/strict";
import {
  BUNDLE_B64_VAR,
  ENV_BUNDLE_WARNING,
  loadRemoteGate,
  RemoteGateConfigError,
} from "../../src/gate_api/remote_config.ts";
import { issueTlsMaterial } from "./remote_tls_fixture.ts";

const parent = await Deno.makeTempDir();
const a = await issueTlsMaterial({ clientName: "from-cli" });
const b = await issueTlsMaterial({ clientName: "from-env" });
const c = await issueTlsMaterial({ clientName: "from-file" });
const d = await issueTlsMaterial({ clientName: "from-dir" });

async function writePrivate(path: string, text: string, mode = 0o600): Promise<string> {
  await Deno.writeTextFile(path, text, { mode });
  await Deno.chmod(path, mode);
  return path;
}

const cliFile = await writePrivate(`${parent}/cli.pem`, a.bundle);
const tomlFile = await writePrivate(`${parent}/toml.pem`, c.bundle);
const tlsDir = await Deno.makeTempDir({ dir: parent });
await writePrivate(`${tlsDir}/client-bundle.pem`, d.bundle);
const url = "https://localhost:8174/";

async function refused(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await promise.then(() => undefined, (e) => e);
  assert.ok(err instanceof RemoteGateConfigError, String(err));
  assert.match(err.message, pattern);
  assert.doesNotMatch(err.message, /PRIVATE KEY-----/);
}

Deno.test("--tls-bundle beats the env bundle, which beats tls_bundle, which beats tls_dir", async () => {
  const env = { [BUNDLE_B64_VAR]: btoa(b.bundle) };
  const all = { gate_url: url, tls_bundle: tomlFile, tls_dir: tlsDir, env };
  const cli = await loadRemoteGate({ ...all, cliTlsBundle: cliFile });
  assert.equal(cli.bundle?.name, "from-cli");
  assert.deepEqual(cli.warnings, []);
  assert.equal(cli.baseUrl, "https://localhost:8174");
  const fromEnv = await loadRemoteGate(all);
  assert.equal(fromEnv.bundle?.name, "from-env");
  assert.deepEqual(fromEnv.warnings, [ENV_BUNDLE_WARNING]);
  assert.match(ENV_BUNDLE_WARNING, /readable by every process in this container/);
  const fromFile = await loadRemoteGate({ ...all, env: {} });
  assert.equal(fromFile.bundle?.name, "from-file");
  assert.equal(fromFile.bundleSource, `the tls_bundle file ${tomlFile}`);
  const fromDir = await loadRemoteGate({ gate_url: url, tls_dir: tlsDir, env: {} });
  assert.equal(fromDir.bundle?.name, "from-dir");
  assert.deepEqual(fromDir.caPems, [fromDir.bundle!.caPem]);
});

Deno.test("no bundle and no token file names every source", async () => {
  await refused(
    loadRemoteGate({ gate_url: url, tls_dir: `${parent}/nowhere`, env: {} }),
    /no TLS client bundle.*--tls-bundle.*tls_dir.*GCP_AUTHCALATOR_TLS_BUNDLE_B64.*gate_token_file/,
  );
});

Deno.test("a bundle file readable by group or others is refused with the chmod", async () => {
  const loose = await writePrivate(`${parent}/loose.pem`, a.bundle, 0o644);
  await refused(
    loadRemoteGate({ gate_url: url, tls_bundle: loose, env: {} }),
    new RegExp(`mode 0644.*chmod 600 ${loose}`),
  );
  const group = await writePrivate(`${parent}/group.pem`, a.bundle, 0o640);
  await refused(loadRemoteGate({ gate_url: url, cliTlsBundle: group, env: {} }), /mode 0640/);
});

// Only root can give a file away; elsewhere the test shows as ignored, not passed.
Deno.test({
  name: "a bundle file owned by another user is refused",
  ignore: Deno.uid() !== 0,
}, async () => {
  const foreign = await writePrivate(`${parent}/foreign.pem`, a.bundle);
  await Deno.chown(foreign, 4242, 4242);
  await refused(
    loadRemoteGate({ gate_url: url, tls_bundle: foreign, env: {} }),
    /owned by uid 4242, not by this user/,
  );
});

Deno.test("a missing bundle file and a broken one are named", async () => {
  await refused(
    loadRemoteGate({ gate_url: url, tls_bundle: `${parent}/absent.pem`, env: {} }),
    /the tls_bundle file .*absent\.pem does not exist.*init-tls/,
  );
  const bad = await writePrivate(`${parent}/bad.pem`, a.caPem + a.clientPem);
  await refused(
    loadRemoteGate({ gate_url: url, tls_bundle: bad, env: {} }),
    /expected 2 CERTIFICATE blocks \(CA, then client\) and 1 PRIVATE KEY, found 2 and 0: re-create it/,
  );
  await refused(
    loadRemoteGate({ gate_url: url, env: { [BUNDLE_B64_VAR]: "!!!" } }),
    /GCP_AUTHCALATOR_TLS_BUNDLE_B64 is neither PEM nor base64/,
  );
});

Deno.test("a bundle with a key that is not its client's, extra blocks, or expired is refused", async () => {
  const mismatched = await writePrivate(
    `${parent}/mismatched.pem`,
    [a.caPem, a.clientPem, b.clientKeyPem].join("\n"),
  );
  await refused(
    loadRemoteGate({ gate_url: url, tls_bundle: mismatched, env: {} }),
    /the tls_bundle file .*mismatched\.pem.*init-tls/,
  );
  const three = await writePrivate(`${parent}/three.pem`, a.bundle + a.clientPem);
  await refused(
    loadRemoteGate({ gate_url: url, tls_bundle: three, env: {} }),
    /found 3 and 1/,
  );
  const fine = await writePrivate(`${parent}/fine.pem`, a.bundle);
  await refused(
    loadRemoteGate(
      { gate_url: url, tls_bundle: fine, env: {} },
      new Date(Date.now() + 4 * 365 * 86_400_000),
    ),
    /the tls_bundle file .*fine\.pem/,
  );
});

Deno.test("bearer only: the token file must exist and hold a token at start", async () => {
  await refused(
    loadRemoteGate({ gate_url: url, gate_token_file: `${parent}/no-token`, env: {} }),
    /token file .*no-token does not exist/,
  );
  await Deno.writeTextFile(`${parent}/empty-token`, "");
  await refused(
    loadRemoteGate({ gate_url: url, gate_token_file: `${parent}/empty-token`, env: {} }),
    /is empty/,
  );
  await Deno.writeTextFile(`${parent}/token`, "tok.en.value\n");
  const system = await loadRemoteGate({
    gate_url: url,
    gate_token_file: `${parent}/token`,
    env: {},
  });
  assert.equal(system.bundle, undefined);
  assert.deepEqual(system.caPems, [], "no tls_dir: the system's roots");
  const caDir = await Deno.makeTempDir({ dir: parent });
  await Deno.writeTextFile(`${caDir}/ca.pem`, a.caPem);
  const pinned = await loadRemoteGate({
    gate_url: url,
    gate_token_file: `${parent}/token`,
    tls_dir: caDir,
    env: {},
  });
  assert.deepEqual(pinned.caPems, [a.caPem]);
  await Deno.writeTextFile(`${caDir}/ca.pem`, a.clientPem);
  await refused(
    loadRemoteGate({ gate_url: url, gate_token_file: `${parent}/token`, tls_dir: caDir, env: {} }),
    /is not a CA certificate/,
  );
});

Deno.test("teardown", async () => {
  await Deno.remove(parent, { recursive: true });
});
