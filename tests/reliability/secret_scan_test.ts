/**
 * The secret scan itself, and the widest run it guards. First: the scanner recognises every
 * credential shape the emulator (like Google) issues, finds exact known values, leaves pending
 * ids and ordinary lines alone, and never quotes a secret in its findings. Then one world drives
 * every path that handles a credential (dev, ID and prod tokens, an approved prod session and
 * its tokens, a revoked refresh token, Google errors that echo request bodies) and the scan of
 * every line the gate and proxy printed, every audit line and every container-facing answer
 * must come back clean (issue 7: "a secret scan of every log and audit line the suite produced").
 */
import assert from "node:assert/strict";
import { startEmulator } from "../../src/emulator/mod.ts";
import { describeFindings, findHostDetails, findSecrets, redactSecrets } from "./secret_scan.ts";
import { gateGet, proxyGet, startWorld, TOKEN_PATH, type World } from "./world.ts";

Deno.test("secret scan: recognises the emulator's credential shapes and never quotes them", async () => {
  await using emulator = await startEmulator();
  const engineer = emulator.options.engineer;
  const access = emulator.issueAccessToken(engineer.email);
  const key = await emulator.serviceAccountKey(emulator.options.serviceAccounts[0].email);
  const idToken = emulator.authorizedUserAdc(); // carries refresh token and client secret
  const sessionId = "ab".repeat(32);
  const lines = [
    `gate: minted ${access}`,
    `refresh_token=${engineer.refreshToken}`,
    `secret ${engineer.clientSecret}`,
    JSON.stringify(key),
    `session ${sessionId} opened`,
    `id eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlLWJ5dGVz`,
    JSON.stringify(idToken),
  ];
  const findings = findSecrets("sample", lines.join("\n"), [engineer.refreshToken]);
  const kinds = new Set(findings.map((f) => f.kind));
  for (
    const kind of [
      "access token",
      "refresh token",
      "client secret",
      "private key",
      "session id",
      "jwt",
      "known secret",
    ]
  ) {
    assert.ok(kinds.has(kind), `${kind} not recognised`);
  }
  assert.deepEqual(new Set(findings.map((f) => f.line)), new Set([1, 2, 3, 4, 5, 6, 7]));
  const text = describeFindings(findings) + redactSecrets(lines.join("\n"));
  for (const secret of [access, engineer.refreshToken, engineer.clientSecret, sessionId]) {
    assert.ok(!text.includes(secret), "a finding quotes the secret it found");
  }
  assert.ok(!text.includes(key.private_key.split("\n")[1]), "a finding quotes key material");

  const clean = [
    "gate: pending approval dd250ceb973b6898f28bc1cce78e1a0e — engineer@example.com",
    '{"ts":"2026-11-27T11:00:00Z","endpoint":"/token","result":"granted","session_ref":"a1b2c3d4e5f6"}',
    "metadata-proxy listening on http://127.0.0.1:8173",
  ];
  assert.deepEqual(findSecrets("clean", clean.join("\n"), [engineer.refreshToken]), []);
  assert.equal(findHostDetails("body", "see /home/me/adc.json", ["/home/me/adc.json"]).length, 1);
});

async function adminPost(world: World, route: string): Promise<number> {
  const client = Deno.createHttpClient({
    proxy: { transport: "unix", path: world.adminSocketPath },
  });
  try {
    const res = await fetch(`http://localhost${route}`, {
      method: "POST",
      client,
      signal: AbortSignal.timeout(10_000),
    });
    await res.body?.cancel();
    return res.status;
  } finally {
    client.close();
  }
}

async function pendingId(world: World): Promise<string> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const client = Deno.createHttpClient({
      proxy: { transport: "unix", path: world.adminSocketPath },
    });
    try {
      const res = await fetch("http://localhost/pending", {
        client,
        signal: AbortSignal.timeout(10_000),
      });
      const { pending } = await res.json();
      if (pending?.length) return pending[0].id;
    } finally {
      client.close();
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the prod request was never queued");
}

Deno.test("secret scan: every credential path of gate and proxy leaves no secret in any output, audit line or answer", async () => {
  await using world = await startWorld();
  const note = (source: string, r: { text: string }) => world.noteBody(source, r.text);

  // Dev, ID tokens and metadata through the proxy; dev and ID tokens from the gate directly.
  note("proxy token", await proxyGet(world, TOKEN_PATH));
  note(
    "proxy id token",
    await proxyGet(
      world,
      "/computeMetadata/v1/instance/service-accounts/default/identity?audience=https://a.example&format=full",
    ),
  );
  note("gate token", await gateGet(world, "/token?token_ttl_seconds=600"));
  note("gate id token", await gateGet(world, "/id-token?audience=https://b.example"));

  // An approved prod session, its token, and its end.
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: world.socketPath } });
  try {
    const asked = fetch("http://localhost/session", {
      method: "POST",
      client,
      headers: { "X-Wrapped-Command": JSON.stringify(["gcloud", "projects", "list"]) },
      signal: AbortSignal.timeout(30_000),
    });
    const id = await pendingId(world);
    assert.equal(await adminPost(world, `/pending/${id}/approve`), 200);
    const res = await asked;
    const text = await res.text();
    assert.equal(res.status, 200, redactSecrets(text));
    const session = JSON.parse(text).session_id as string;
    world.noteBody("gate session (a credential: only with-prod sees it)", text);
    const viaSession = await gateGet(world, `/token?session=${session}`);
    assert.equal(viaSession.status, 200, redactSecrets(viaSession.text));
    note("gate session token", viaSession);
    const ended = await fetch(`http://localhost/session?id=${session}`, {
      method: "DELETE",
      client,
      signal: AbortSignal.timeout(10_000),
    });
    note("gate session end", { text: await ended.text() });
    assert.equal(ended.status, 200);
    const afterEnd = await gateGet(world, `/token?session=${session}`);
    assert.notEqual(afterEnd.status, 200, "an ended session mints nothing");
    note("gate ended session", afterEnd);
  } finally {
    client.close();
  }

  // Failures whose raw text names host things: a connection reset (Google's URL and address),
  // an ADC file gone from its place (its host path). The container must see neither.
  world.emulator.faults.resetNext("generateAccessToken", 20);
  note("gate reset", await gateGet(world, "/token?scopes=https://x.example/reset"));
  note("proxy reset", await proxyGet(world, `${TOKEN_PATH}?scopes=https://x.example/reset2`));
  world.emulator.faults.clear();
  await Deno.remove(world.adcPath);
  const missing = await proxyGet(world, `${TOKEN_PATH}?scopes=https://x.example/no-adc`);
  note("proxy without ADC", missing);
  assert.notEqual(missing.status, 200);
  await world.touchAdc(); // the engineer puts it back: served again, no restart
  const back = await proxyGet(world, `${TOKEN_PATH}?scopes=https://x.example/adc-back`);
  note("proxy with ADC back", back);
  assert.equal(back.status, 200, redactSecrets(back.text));

  // Google errors that could echo credentials: bad JSON, a revoked refresh token.
  world.emulator.faults.badJsonNext("generateAccessToken");
  note("gate bad json", await gateGet(world, "/token?scopes=https://x.example/bad-json"));
  world.emulator.faults.revokeRefreshToken();
  await world.touchAdc();
  note("proxy revoked", await proxyGet(world, `${TOKEN_PATH}?scopes=https://x.example/revoked`));

  world.assertNoCrashes();

  await world.assertNoLeaks();
  const audit = await world.auditText();
  assert.match(audit, /"result":"granted"/, "the grants were audited (and scanned)");
});
