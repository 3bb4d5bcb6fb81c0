/**
 * init-tls writes upstream's files and certificate profiles (remote-pam-operator.md B2), cross-
 * checked with openssl rather than with our own parser: ECDSA P-256 / SHA-256, critical
 * BasicConstraints and EKUs, the CA's KeyUsage, the default server SANs, PKCS#8 keys, 16-byte
 * positive serials, 0600 files in a 0700 directory, and the bundle layout.
 */
import assert from "node:assert/strict";
import { FILES } from "../../src/tls/profile.ts";
import { makeTlsDir, openssl } from "./fixtures.ts";

async function text(cert: string, cwd: string): Promise<string> {
  const out = await openssl(["x509", "-in", cert, "-noout", "-text"], cwd);
  assert.equal(out.code, 0, out.stderr);
  return out.stdout;
}

Deno.test("the chain verifies with openssl and each certificate has upstream's profile", async () => {
  const tls = await makeTlsDir({ sans: ["DNS:gate.example", "IP:10.1.2.3"] });
  try {
    const cwd = tls.dir;
    const verify = await openssl(["verify", "-CAfile", "ca.pem", "server.pem", "client.pem"], cwd);
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stdout, /server\.pem: OK/);
    assert.match(verify.stdout, /client\.pem: OK/);
    const purpose = await openssl(
      ["verify", "-CAfile", "ca.pem", "-purpose", "sslclient", "server.pem"],
      cwd,
    );
    assert.notEqual(purpose.code, 0, "the server certificate must not pass as a TLS client");

    const ca = await text("ca.pem", cwd);
    assert.match(ca, /Subject: CN = gcp-authcalator CA/);
    assert.match(ca, /Issuer: CN = gcp-authcalator CA/);
    assert.match(ca, /ecdsa-with-SHA256/);
    assert.match(ca, /NIST CURVE: P-256|prime256v1/);
    assert.match(ca, /Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    assert.match(ca, /Key Usage: critical\s+Certificate Sign, CRL Sign/);

    const server = await text("server.pem", cwd);
    assert.match(server, /Subject: CN = gcp-authcalator server/);
    assert.match(server, /Basic Constraints: critical\s+CA:FALSE/);
    assert.match(server, /Extended Key Usage: critical\s+TLS Web Server Authentication\n/);
    assert.match(
      server,
      /DNS:localhost, DNS:host\.docker\.internal, IP Address:127\.0\.0\.1, DNS:gate\.example, IP Address:10\.1\.2\.3/,
    );
    assert.doesNotMatch(server, /X509v3 Key Usage/);

    const client = await text("client.pem", cwd);
    assert.match(client, /Subject: CN = gcp-authcalator client/);
    assert.match(client, /Extended Key Usage: critical\s+TLS Web Client Authentication\n/);
    assert.doesNotMatch(client, /Subject Alternative Name/);

    for (const cert of ["ca.pem", "server.pem", "client.pem"]) {
      const serial = await openssl(["x509", "-in", cert, "-noout", "-serial"], cwd);
      const hex = serial.stdout.trim().replace("serial=", "");
      assert.equal(hex.length, 32, `${cert} serial is 16 bytes`);
      assert.ok(parseInt(hex.slice(0, 2), 16) < 0x80, `${cert} serial is positive`);
    }
    for (const key of ["ca-key.pem", "server-key.pem", "client-key.pem"]) {
      const pem = await Deno.readTextFile(`${cwd}/${key}`);
      assert.match(pem, /^-----BEGIN PRIVATE KEY-----\n/);
      assert.ok(pem.split("\n").every((l) => l.length <= 64));
      const check = await openssl(["pkey", "-in", key, "-noout", "-text"], cwd);
      assert.equal(check.code, 0, check.stderr);
      assert.match(check.stdout, /P-256|prime256v1/);
    }
  } finally {
    await tls.cleanup();
  }
});

Deno.test("the CA outlives its leaves: 3 years against 90 days, backdated 5 minutes", async () => {
  const now = new Date("2026-03-01T12:00:00Z");
  const tls = await makeTlsDir({ now });
  try {
    const dates = async (f: string) => {
      const out = await openssl(["x509", "-in", f, "-noout", "-startdate", "-enddate"], tls.dir);
      const [, start] = /notBefore=(.*)/.exec(out.stdout)!;
      const [, end] = /notAfter=(.*)/.exec(out.stdout)!;
      return [new Date(start).getTime(), new Date(end).getTime()];
    };
    const day = 86_400_000;
    const [caStart, caEnd] = await dates("ca.pem");
    assert.equal(caStart, now.getTime() - 5 * 60_000);
    assert.equal(caEnd, now.getTime() + 1095 * day);
    for (const leaf of ["server.pem", "client.pem"]) {
      const [start, end] = await dates(leaf);
      assert.equal(start, now.getTime() - 5 * 60_000);
      assert.equal(end, now.getTime() + 90 * day);
    }
  } finally {
    await tls.cleanup();
  }
});

Deno.test("files are 0600 in a 0700 directory and the bundle is CA, client, key", async () => {
  const tls = await makeTlsDir();
  try {
    assert.equal((await Deno.stat(tls.dir)).mode! & 0o777, 0o700);
    const names = [];
    for await (const e of Deno.readDir(tls.dir)) names.push(e.name);
    assert.deepEqual(
      names.sort(),
      [
        FILES.bundle,
        FILES.caKey,
        FILES.ca,
        FILES.clientKey,
        FILES.client,
        FILES.serverKey,
        FILES.server,
      ].sort(),
    );
    for (const name of names) {
      assert.equal((await Deno.stat(`${tls.dir}/${name}`)).mode! & 0o777, 0o600, name);
    }
    const read = (f: string) => Deno.readTextFile(`${tls.dir}/${f}`);
    const expected = [await read(FILES.ca), await read(FILES.client), await read(FILES.clientKey)]
      .map((p) => p.trimEnd()).join("\n") + "\n";
    assert.equal(await read(FILES.bundle), expected);
  } finally {
    await tls.cleanup();
  }
});
