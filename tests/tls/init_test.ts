/**
 * init-tls never silently rotates the CA (upstream's weak point B5.2): re-runs keep ca.pem and
 * repair the bundle; leaves close to expiry or from another CA are renewed under the same CA; an
 * expired or half-missing CA is an error naming --rotate-ca; --rotate-ca replaces it and reports
 * which clients break; --san adds names that later runs keep; named clients and revocation.
 */
import assert from "node:assert/strict";
import { InvalidTlsMaterialError, UnsafeTlsFileError } from "../../src/tls/errors.ts";
import { initTls, issueNamedClient, revokeClient } from "../../src/tls/init.ts";
import { FILES, parseSan } from "../../src/tls/profile.ts";
import { readRevoked } from "../../src/tls/revocation.ts";
import { makeTlsDir, openssl, readIssuer } from "./fixtures.ts";

const DAY = 86_400_000;
const read = (dir: string, f: string) => Deno.readTextFile(`${dir}/${f}`);

Deno.test("a re-run keeps the CA and every file; a lost bundle is rebuilt from the same chain", async () => {
  const tls = await makeTlsDir();
  try {
    const before: Record<string, string> = {};
    for (const f of Object.values(FILES).filter((f) => f.endsWith(".pem") && f !== FILES.crl)) {
      before[f] = await read(tls.dir, f);
    }
    const again = await initTls(tls.dir, { now: new Date() });
    assert.equal(again.ca, "kept");
    assert.deepEqual(again.written, []);
    for (const [f, text] of Object.entries(before)) assert.equal(await read(tls.dir, f), text, f);

    await Deno.remove(`${tls.dir}/${FILES.bundle}`);
    const repaired = await initTls(tls.dir, { now: new Date() });
    assert.deepEqual(repaired.written, [FILES.bundle]);
    assert.equal(await read(tls.dir, FILES.bundle), before[FILES.bundle]);

    await Deno.writeTextFile(`${tls.dir}/${FILES.bundle}`, "garbage", { mode: 0o600 });
    await initTls(tls.dir, { now: new Date() });
    assert.equal(await read(tls.dir, FILES.bundle), before[FILES.bundle]);
  } finally {
    await tls.cleanup();
  }
});

Deno.test("leaves expiring within 14 days are renewed under the same CA", async () => {
  const start = new Date("2026-01-01T00:00:00Z");
  const tls = await makeTlsDir({ now: start });
  try {
    const ca = await read(tls.dir, FILES.ca);
    const oldServer = await read(tls.dir, FILES.server);
    const later = new Date(start.getTime() + 80 * DAY);
    const report = await initTls(tls.dir, { now: later });
    assert.equal(report.ca, "kept");
    assert.equal(await read(tls.dir, FILES.ca), ca);
    assert.notEqual(await read(tls.dir, FILES.server), oldServer);
    assert.deepEqual(report.renewed, [
      "server: expires within 14 days",
      "client default: expires within 14 days",
    ]);
    assert.ok(report.written.includes(FILES.bundle));
    const at = String(Math.floor(later.getTime() / 1000));
    const v = await openssl(
      ["verify", "-attime", at, "-CAfile", "ca.pem", "server.pem", "client.pem"],
      tls.dir,
    );
    assert.equal(v.code, 0, v.stderr);
  } finally {
    await tls.cleanup();
  }
});

Deno.test("a server certificate from another CA is re-issued, the CA is kept", async () => {
  const tls = await makeTlsDir();
  const other = await makeTlsDir();
  try {
    const ca = await read(tls.dir, FILES.ca);
    for (const f of [FILES.server, FILES.serverKey]) {
      await Deno.writeTextFile(`${tls.dir}/${f}`, await read(other.dir, f), { mode: 0o600 });
    }
    const report = await initTls(tls.dir, { now: new Date() });
    assert.equal(report.ca, "kept");
    assert.match(report.renewed[0], /^server: .*not issued by this CA/);
    assert.equal(await read(tls.dir, FILES.ca), ca);
    const v = await openssl(["verify", "-CAfile", "ca.pem", "server.pem"], tls.dir);
    assert.equal(v.code, 0, v.stderr);
  } finally {
    await tls.cleanup();
    await other.cleanup();
  }
});

Deno.test("an expired or half-missing CA is an error naming --rotate-ca, never a silent rotation", async () => {
  const start = new Date("2026-01-01T00:00:00Z");
  const tls = await makeTlsDir({ now: start });
  try {
    const ca = await read(tls.dir, FILES.ca);
    await assert.rejects(
      initTls(tls.dir, { now: new Date(start.getTime() + 1200 * DAY) }),
      (err: Error) =>
        err instanceof InvalidTlsMaterialError && /expired/.test(err.message) &&
        /--rotate-ca/.test(err.message) && /re-issued/.test(err.message),
    );
    assert.equal(await read(tls.dir, FILES.ca), ca);
    await Deno.remove(`${tls.dir}/${FILES.caKey}`);
    await assert.rejects(
      initTls(tls.dir, { now: start }),
      (err: Error) => /ca-key\.pem is missing/.test(err.message) && /--rotate-ca/.test(err.message),
    );
    assert.equal(await read(tls.dir, FILES.ca), ca);
  } finally {
    await tls.cleanup();
  }
});

Deno.test("--rotate-ca replaces the CA, keeps extra SANs and reports the named clients it breaks", async () => {
  const tls = await makeTlsDir({ sans: ["DNS:gate.example"] });
  try {
    const ca = await read(tls.dir, FILES.ca);
    await issueNamedClient(tls.dir, "alice", new Date());
    await issueNamedClient(tls.dir, "bob", new Date());
    await revokeClient(tls.dir, "bob", new Date());
    const report = await initTls(tls.dir, { now: new Date(), rotateCa: true });
    assert.equal(report.ca, "rotated");
    assert.deepEqual(report.invalidatedClients, ["alice", "bob"]);
    assert.notEqual(await read(tls.dir, FILES.ca), ca);
    assert.ok(report.serverSans.includes("DNS:gate.example"));
    await assert.rejects(Deno.lstat(`${tls.dir}/${FILES.clientsDir}`), Deno.errors.NotFound);
    await assert.rejects(Deno.lstat(`${tls.dir}/${FILES.crl}`), Deno.errors.NotFound);
    const v = await openssl(["verify", "-CAfile", "ca.pem", "server.pem", "client.pem"], tls.dir);
    assert.equal(v.code, 0, v.stderr);
  } finally {
    await tls.cleanup();
  }
});

Deno.test("--san adds names (re-issuing the server certificate) and later runs keep them", async () => {
  const tls = await makeTlsDir();
  try {
    const ca = await read(tls.dir, FILES.ca);
    const report = await initTls(tls.dir, {
      now: new Date(),
      sans: [parseSan("gate.corp.example"), parseSan("192.0.2.7"), parseSan("::1")],
    });
    assert.equal(await read(tls.dir, FILES.ca), ca);
    assert.match(report.renewed[0], /adding SAN DNS:gate\.corp\.example, IP:192\.0\.2\.7, IP:::1/);
    const plain = await initTls(tls.dir, { now: new Date() });
    assert.deepEqual(plain.written, []);
    assert.ok(plain.serverSans.includes("DNS:gate.corp.example"));
    const text = await openssl(
      ["x509", "-in", "server.pem", "-noout", "-ext", "subjectAltName"],
      tls.dir,
    );
    assert.match(
      text.stdout,
      /DNS:gate\.corp\.example, IP Address:192\.0\.2\.7, IP Address:0:0:0:0:0:0:0:1/,
    );
  } finally {
    await tls.cleanup();
  }
});

Deno.test("--san refuses what is not a DNS name or an IP address", () => {
  for (
    const bad of [
      "*.example.com",
      "a..b",
      "-x.example",
      "IP:300.1.1.1",
      "IP:gate",
      "a_b.example",
      "",
    ]
  ) {
    assert.throws(() => parseSan(bad), /--san/, bad);
  }
  assert.equal(parseSan("Gate.Example."), "DNS:gate.example");
  assert.equal(parseSan("DNS:localhost"), "DNS:localhost");
  assert.equal(parseSan("10.0.0.1"), "IP:10.0.0.1");
});

Deno.test("--client issues a named certificate from the same CA; a live name is not re-issued", async () => {
  const tls = await makeTlsDir();
  try {
    const issued = await issueNamedClient(tls.dir, "ws-7", new Date());
    const v = await openssl(["verify", "-CAfile", "ca.pem", "clients/ws-7.pem"], tls.dir);
    assert.equal(v.code, 0, v.stderr);
    const subject = await openssl(
      [
        "x509",
        "-in",
        "clients/ws-7.pem",
        "-noout",
        "-subject",
        "-ext",
        "subjectAltName,extendedKeyUsage",
      ],
      tls.dir,
    );
    assert.match(subject.stdout, /subject=CN = ws-7/);
    assert.match(subject.stdout, /URI:urn:authcalator:client:ws-7/);
    assert.match(subject.stdout, /TLS Web Client Authentication/);
    assert.equal((await Deno.stat(issued.bundlePath)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${tls.dir}/clients`)).mode! & 0o777, 0o700);
    const keyCheck = await openssl(["x509", "-in", issued.bundlePath, "-noout", "-pubkey"]);
    assert.equal(keyCheck.code, 0);

    await assert.rejects(
      issueNamedClient(tls.dir, "ws-7", new Date()),
      /already issued .* revoke it first: authcalator init-tls --revoke ws-7/,
    );
    await revokeClient(tls.dir, "ws-7", new Date());
    const again = await issueNamedClient(tls.dir, "ws-7", new Date());
    assert.notEqual(again.serial, issued.serial);
    for (const bad of ["default", "Has Space", "UPPER", "-x", "a".repeat(64), "a.b", ""]) {
      await assert.rejects(
        issueNamedClient(tls.dir, bad, new Date()),
        InvalidTlsMaterialError,
        bad,
      );
    }
  } finally {
    await tls.cleanup();
  }
});

Deno.test("--revoke takes a name, default or a serial; refuses the server, the CA and unknown names", async () => {
  const tls = await makeTlsDir();
  try {
    const issuer = await readIssuer(tls.dir);
    const a = await issueNamedClient(tls.dir, "a", new Date());
    assert.deepEqual(await revokeClient(tls.dir, "a", new Date()), {
      serial: a.serial.replace(/^0+/, ""),
      name: "a",
      added: true,
    });
    assert.equal((await revokeClient(tls.dir, "a", new Date())).added, false);
    const byDefault = await revokeClient(tls.dir, "default", new Date());
    assert.equal(byDefault.name, "default");
    const bySerial = await revokeClient(tls.dir, "0A:BC:DE:F0:12", new Date());
    assert.equal(bySerial.serial, "abcdef012");
    const listed = (await readRevoked(tls.dir, issuer.cert)).map((e) => e.serial);
    assert.equal(listed.length, 3);
    assert.ok(listed.includes("abcdef012"));
    const crl = await openssl(["crl", "-in", FILES.crl, "-CAfile", "ca.pem", "-noout"], tls.dir);
    assert.match(crl.stderr + crl.stdout, /verify OK/);
    const serverSerial =
      (await openssl(["x509", "-in", "server.pem", "-noout", "-serial"], tls.dir))
        .stdout.trim().slice("serial=".length);
    await assert.rejects(
      revokeClient(tls.dir, serverSerial, new Date()),
      /server\.pem certificate, not a client/,
    );
    await assert.rejects(
      revokeClient(tls.dir, "nobody", new Date()),
      /no client named "nobody" .*known: default, a/,
    );
    assert.equal((await Deno.stat(`${tls.dir}/${FILES.crl}`)).mode! & 0o777, 0o600);
  } finally {
    await tls.cleanup();
  }
});

Deno.test("unsafe material is refused, never regenerated over", async () => {
  const tls = await makeTlsDir();
  try {
    const ca = await read(tls.dir, FILES.ca);
    await Deno.chmod(tls.dir, 0o750);
    await assert.rejects(initTls(tls.dir, { now: new Date() }), UnsafeTlsFileError);
    await Deno.chmod(tls.dir, 0o700);
    await Deno.chmod(`${tls.dir}/${FILES.caKey}`, 0o644);
    await assert.rejects(initTls(tls.dir, { now: new Date() }), /mode 0644.*chmod 600/);
    await Deno.chmod(`${tls.dir}/${FILES.caKey}`, 0o600);
    await Deno.rename(`${tls.dir}/${FILES.server}`, `${tls.root}/elsewhere.pem`);
    await Deno.symlink(`${tls.root}/elsewhere.pem`, `${tls.dir}/${FILES.server}`);
    await assert.rejects(initTls(tls.dir, { now: new Date() }), /server\.pem is a symlink/);
    assert.equal(await read(tls.dir, FILES.ca), ca);
  } finally {
    await tls.cleanup();
  }
});
