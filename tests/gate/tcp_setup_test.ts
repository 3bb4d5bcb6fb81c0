/**
 * Starting the gate's TCP listener from configuration with init-tls's real material (R2's
 * fixtures): a named client issued by `init-tls --client` is served and audited by name; every bad
 * client form (expired, not yet valid, wrong CA, wrong EKU, unnamed, revoked) is refused; a client
 * revoked with `init-tls --revoke` while the gate runs is refused at its next request, and a
 * corrupted revocation list refuses everyone (fail closed); unsafe TLS material (symlink, loose
 * mode, foreign owner) and a taken port refuse the start with the fix; bearer and TokenReview modes
 * start from their keys.
 */
import assert from "node:assert/strict";
import { MemoryAuditLog } from "../../src/gate/audit.ts";
import { auditWithRemoteClient } from "../../src/gate/remote_client.ts";
import { sha256Hex } from "../../src/gate/bearer_auth.ts";
import { startTcpListener } from "../../src/gate/tcp_setup.ts";
import { checkGateConfig, type GateConfig } from "../../src/gate/gate_config.ts";
import { startKubeApiStandIn } from "../../src/emulator/kube_token_review.ts";
import { loadConfig } from "../../src/cli/config.ts";
import { parsePem } from "../../src/tls/pem.ts";
import { revokeClient } from "../../src/tls/init.ts";
import { FILES } from "../../src/tls/profile.ts";
import { loopbackServer, makeCa } from "./tcp_certs.ts";
import {
  BAD_CLIENT_KINDS,
  badClient,
  goodClient,
  makeTlsDir,
  type TlsDirFixture,
} from "../tls/fixtures.ts";
import { testGate } from "./gate_fixture.ts";

function gateConfig(flags: Record<string, string>): GateConfig {
  const config = checkGateConfig(loadConfig({
    flags: {
      project_id: "p",
      service_account: "sa@p.iam.gserviceaccount.com",
      gate_tls_port: "1",
      ...flags,
    },
    env: { HOME: "/h" },
  }));
  config.gate_tls_port = 0; // any free port (the loader's range starts at 1)
  return config;
}

async function gate(fixture: TlsDirFixture, flags: Record<string, string> = {}, env = {}) {
  const config = gateConfig({ tls_dir: fixture.dir, ...flags });
  const memory = new MemoryAuditLog();
  const { app, layer, logs } = testGate({
    config,
    listener: "tcp",
    audit: auditWithRemoteClient(memory),
  });
  let tcp;
  try {
    tcp = await startTcpListener({ config, env, handler: app.fetch, log: (m) => logs.push(m) });
  } catch (err) {
    await layer.shutdown();
    throw err;
  }
  const clients: Deno.HttpClient[] = [];
  return {
    tcp,
    audit: memory,
    logs,
    clientOf(bundle: string) {
      const [ca, cert, key] = parsePem(bundle, "bundle");
      const client = Deno.createHttpClient({ caCerts: [ca.pem], cert: cert.pem, key: key.pem });
      clients.push(client);
      return client;
    },
    async get(client: Deno.HttpClient, path: string, headers: Record<string, string> = {}) {
      const res = await fetch(`https://localhost:${tcp.server.port}${path}`, { client, headers });
      return { status: res.status, body: await res.json() };
    },
    async [Symbol.asyncDispose]() {
      for (const c of clients) c.close();
      await layer.shutdown();
      await tcp.close();
    },
  };
}

Deno.test("init-tls material: a named client is served and audited by name; the banner says how", async () => {
  const fixture = await makeTlsDir();
  try {
    await using t = await gate(fixture);
    const alice = t.clientOf((await goodClient(fixture, "alice")).bundle);
    assert.equal((await t.get(alice, "/token")).status, 200);
    assert.equal(t.audit.entries.at(-1)!.client, "alice");
    assert.equal(t.audit.entries.at(-1)!.client_auth, "certificate");
    const [listener, material] = t.tcp.facts;
    assert.equal(listener[0], "tcp listener");
    assert.match(listener[1], /^127\.0\.0\.1:\d+, TLS 1\.2\+, clients: client certificates/);
    assert.match(material[1], /DNS:localhost/);
    assert.equal(t.tcp.address, `127.0.0.1:${t.tcp.server.port}`);
  } finally {
    await fixture.cleanup();
  }
});

Deno.test("every bad client form is refused (handshake or 403), and nothing is granted", async () => {
  const fixture = await makeTlsDir();
  try {
    await using t = await gate(fixture);
    for (const kind of BAD_CLIENT_KINDS) {
      const bad = await badClient(fixture, kind);
      const client = t.clientOf(bad.bundle);
      let status: number | "handshake refused";
      try {
        status = (await t.get(client, "/token")).status;
      } catch (err) {
        assert.ok(err instanceof TypeError, `${kind}: ${err}`);
        status = "handshake refused";
      }
      assert.ok(status === 403 || status === "handshake refused", `${kind}: got ${status}`);
    }
    assert.equal(t.audit.entries.length, 0);
  } finally {
    await fixture.cleanup();
  }
});

Deno.test("init-tls --revoke while the gate runs: refused at the next request; a corrupt list refuses all", async () => {
  const fixture = await makeTlsDir();
  try {
    await using t = await gate(fixture);
    const carol = t.clientOf((await goodClient(fixture, "carol")).bundle);
    const dave = t.clientOf((await goodClient(fixture, "dave")).bundle);
    assert.equal((await t.get(carol, "/health")).status, 200);
    await revokeClient(fixture.dir, "carol", new Date());
    const refused = await t.get(carol, "/health");
    assert.equal(refused.status, 403);
    assert.equal(refused.body.code, "client_certificate_refused");
    assert.match(refused.body.error, /client carol is revoked/);
    assert.equal((await t.get(dave, "/health")).status, 200, "others are unaffected");
    // A revocation list that cannot be trusted: nobody, until it is fixed.
    const crl = `${fixture.dir}/${FILES.crl}`;
    const good = await Deno.readTextFile(crl);
    await Deno.writeTextFile(crl, "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n");
    const closed = await t.get(dave, "/health");
    assert.equal(closed.status, 503);
    assert.equal(closed.body.code, "revocation_list_unusable");
    assert.match(t.logs.join("\n"), /revocation list .* is unusable/);
    await Deno.writeTextFile(crl, good);
    assert.equal((await t.get(dave, "/health")).status, 200);
  } finally {
    await fixture.cleanup();
  }
});

Deno.test("unsafe TLS material refuses the start: symlinked dir, loose key, foreign owner", async () => {
  const fixture = await makeTlsDir();
  try {
    const link = `${fixture.root}/link`;
    await Deno.symlink(fixture.dir, link);
    await assert.rejects(gate({ ...fixture, dir: link }), /symlink/);
    await Deno.chmod(`${fixture.dir}/${FILES.serverKey}`, 0o640);
    await assert.rejects(gate(fixture), /server-key\.pem has mode 0640.*chmod 600/);
    await Deno.chmod(`${fixture.dir}/${FILES.serverKey}`, 0o600);
    await Deno.chmod(fixture.dir, 0o750);
    await assert.rejects(gate(fixture), /0750|permissions|mode/);
    await Deno.chmod(fixture.dir, 0o700);
    if (Deno.uid() === 0) {
      await Deno.chown(`${fixture.dir}/${FILES.server}`, 65534, 65534);
      await assert.rejects(gate(fixture), /owned by uid 65534/);
      await Deno.chown(`${fixture.dir}/${FILES.server}`, 0, 0);
    }
    await Deno.remove(`${fixture.dir}/${FILES.server}`);
    await assert.rejects(gate(fixture), /init-tls/);
  } finally {
    await fixture.cleanup();
  }
});

Deno.test("a port in use refuses the start and names the flag", async () => {
  const fixture = await makeTlsDir();
  const holder = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const config = gateConfig({ tls_dir: fixture.dir });
    config.gate_tls_port = (holder.addr as Deno.NetAddr).port;
    await assert.rejects(
      startTcpListener({ config, env: {}, handler: () => new Response(), log: () => {} }),
      /is in use: .*--gate-tls-port/,
    );
  } finally {
    holder.close();
    await fixture.cleanup();
  }
});

Deno.test("bearer mode from gate_bearer_tokens_file", async () => {
  const fixture = await makeTlsDir();
  try {
    const list = `${fixture.root}/tokens`;
    await Deno.writeTextFile(list, `${await sha256Hex("tok-" + "x".repeat(30))} ws-1\n`, {
      mode: 0o600,
    });
    await using t = await gate(fixture, { gate_bearer_tokens_file: list });
    const client = Deno.createHttpClient({ caCerts: [fixture.caPem] });
    try {
      assert.equal((await t.get(client, "/token")).status, 401);
      const ok = await t.get(client, "/token", { authorization: `Bearer tok-${"x".repeat(30)}` });
      assert.equal(ok.status, 200);
      assert.equal(t.audit.entries.at(-1)!.client, "ws-1");
      assert.match(t.tcp.facts[0][1], /bearer tokens listed by SHA-256/);
    } finally {
      client.close();
    }
  } finally {
    await fixture.cleanup();
  }
});

Deno.test("TokenReview mode from its keys; outside a cluster without gate_kube_api_url: the fix", async () => {
  const fixture = await makeTlsDir();
  const kubeCa = await makeCa(fixture.root, "kube CA");
  const apiCert = await loopbackServer(kubeCa);
  const api = startKubeApiStandIn({
    cert: apiCert.cert,
    key: apiCert.key,
    reviewers: { "gate-sa": "allowed" },
  });
  try {
    await Deno.writeTextFile(`${fixture.root}/ca.crt`, kubeCa.cert);
    await Deno.writeTextFile(`${fixture.root}/token`, "gate-sa");
    const keys = {
      gate_token_review_audience: "authcalator",
      gate_allowed_service_accounts: "system:serviceaccount:ws:agent",
      gate_kube_ca_file: `${fixture.root}/ca.crt`,
      gate_kube_token_file: `${fixture.root}/token`,
    };
    await assert.rejects(gate(fixture, keys), /set gate_kube_api_url/);
    await assert.rejects(
      gate(fixture, { ...keys, gate_kube_api_url: api.url, gate_kube_ca_file: "/nonexistent" }),
      /the Kubernetes API's CA \/nonexistent cannot be read.*gate_kube_ca_file/,
    );
    await using t = await gate(fixture, { ...keys, gate_kube_api_url: api.url });
    const client = Deno.createHttpClient({ caCerts: [fixture.caPem] });
    try {
      const token = api.issue("ws", "agent", { audiences: ["authcalator"] });
      assert.equal(
        (await t.get(client, "/health", { authorization: `Bearer ${token}` })).status,
        200,
      );
      assert.equal(t.audit.entries.length, 0, "/health audits nothing");
      assert.equal(
        (await t.get(client, "/token", { authorization: `Bearer ${token}` })).status,
        200,
      );
      assert.equal(t.audit.entries.at(-1)!.client, "system:serviceaccount:ws:agent");
      assert.equal(t.audit.entries.at(-1)!.client_auth, "token_review");
    } finally {
      client.close();
    }
    // In a pod, the API comes from the environment.
    await using inPod = await gate(fixture, keys, {
      KUBERNETES_SERVICE_HOST: "127.0.0.1",
      KUBERNETES_SERVICE_PORT: new URL(api.url).port,
    });
    assert.match(inPod.tcp.facts[0][1], new RegExp(`at ${api.url}, audience authcalator`));
  } finally {
    await api.close();
    await fixture.cleanup();
  }
});

Deno.test("material expiring within 14 days is in the banner and the start warnings", async () => {
  const fixture = await makeTlsDir({ now: new Date(Date.now() - 80 * 86400_000) });
  try {
    await using t = await gate(fixture);
    const expiry = t.tcp.facts.filter(([k]) => k === "TLS EXPIRY").map(([, v]) => v);
    assert.ok(
      expiry.some((l) => /TLS server certificate expires in \d+ day/.test(l)),
      expiry.join("\n"),
    );
    assert.ok(t.tcp.warnings.some((l) => /TLS server certificate expires in/.test(l)));
  } finally {
    await fixture.cleanup();
  }
});
