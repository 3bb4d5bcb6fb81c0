/**
 * `authcalator init-tls` as a real process under its pinned permission set: create, re-run (CA
 * kept), --client, --revoke, --bundle-b64, --show-path, --rotate-ca (stderr says what breaks),
 * and bad input (a bad --san is a usage error, exit 2; an unknown client exit 1, one clear line).
 */
import assert from "node:assert/strict";
import { decodeBase64 } from "../../src/tls/pem.ts";
import { FILES } from "../../src/tls/profile.ts";
import { ROOT, runCli } from "../helpers/cli.ts";

const PINNED = ["--config", `${ROOT}/deno.json`, "-P=init-tls"];

Deno.test("init-tls end to end: create, keep, name, revoke, print, rotate", async () => {
  const root = await Deno.makeTempDir({ prefix: "authcalator-init-tls-" });
  const dir = `${root}/tls`;
  const cli = (args: string[]) =>
    runCli(["init-tls", ...args], {
      permissions: PINNED,
      env: { GCP_AUTHCALATOR_TLS_DIR: dir },
      cwd: ROOT,
    });
  try {
    const first = await cli(["--san", "gate.example,10.9.8.7"]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /created a new CA/);
    assert.match(first.stdout, /DNS:gate\.example, IP:10\.9\.8\.7/);
    const ca = await Deno.readTextFile(`${dir}/${FILES.ca}`);

    const again = await cli([]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /kept the existing CA/);
    assert.match(again.stdout, /Nothing needed changing/);
    assert.equal(again.stderr, "");
    assert.equal(await Deno.readTextFile(`${dir}/${FILES.ca}`), ca);

    const client = await cli(["--client", "ws-1"]);
    assert.equal(client.code, 0, client.stderr);
    assert.match(client.stdout, /Issued client ws-1 .*clients\/ws-1\.bundle\.pem/s);

    const b64 = await cli(["--client", "ws-2", "--bundle-b64"]);
    assert.equal(b64.code, 0, b64.stderr);
    assert.equal(b64.stdout.trim().split("\n").length, 1);
    const decoded = new TextDecoder().decode(decodeBase64(b64.stdout.trim()));
    assert.equal(decoded, await Deno.readTextFile(`${dir}/clients/ws-2.bundle.pem`));

    const shared = await cli(["--bundle-b64"]);
    assert.equal(
      new TextDecoder().decode(decodeBase64(shared.stdout.trim())),
      await Deno.readTextFile(`${dir}/${FILES.bundle}`),
    );

    const revoke = await cli(["--revoke", "ws-1"]);
    assert.equal(revoke.code, 0, revoke.stderr);
    assert.match(revoke.stdout, /Revoked client ws-1 \(serial [0-9a-f]+\)/);

    const path = await cli(["--show-path"]);
    assert.equal(path.stdout, `${dir}\n`);

    const unknown = await cli(["--revoke", "nobody"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^init-tls: no client named "nobody"/);

    const badSan = await cli(["--san", "*.example.com"]);
    assert.equal(badSan.code, 2);
    assert.match(badSan.stderr, /error: --san "\*\.example\.com": not a DNS name/);

    const mixed = await cli(["--show-path", "--client", "x"]);
    assert.equal(mixed.code, 2);

    const rotated = await cli(["--rotate-ca"]);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stdout, /ROTATED the CA/);
    assert.match(
      rotated.stderr,
      /Every bundle issued from the old CA stops working: client-bundle\.pem .*named clients ws-1, ws-2 .*Restart the gate/,
    );
    assert.notEqual(await Deno.readTextFile(`${dir}/${FILES.ca}`), ca);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
