/**
 * The real google-auth-library against the emulator: each credential type, pointed at the
 * emulator with the library's own options (and, where the library hard-codes Google's URL, with
 * a gaxios request interceptor on the client's transporter).
 */
import assert from "node:assert/strict";
import {
  GoogleAuth,
  Impersonated,
  JWT,
  OAuth2Client,
  UserRefreshClient,
} from "google-auth-library";
import { type Emulator, startEmulator } from "../../src/emulator/mod.ts";
import { CLOUD, get, SA } from "./fixture.ts";

const A = "hop-a@demo-project.iam.gserviceaccount.com";

/** The endpoint overrides of OAuth2Client (UserRefreshClient, and the base of every client). */
function endpoints(base: string) {
  return {
    oauth2TokenUrl: `${base}/token`,
    tokenInfoUrl: `${base}/tokeninfo`,
    oauth2FederatedSignonPemCertsUrl: `${base}/oauth2/v1/certs`,
    oauth2FederatedSignonJwkCertsUrl: `${base}/oauth2/v3/certs`,
  };
}

/**
 * A gaxios request interceptor that sends requests for Google API hosts to `base`, keeping
 * path and query: the only way to redirect clients that hard-code https://oauth2.googleapis.com
 * (JWT / GoogleToken in v11) or that ignore options (impersonated_service_account ADC).
 */
function redirectTo(base: string) {
  return {
    resolved: <T extends { url?: string | URL }>(config: T): Promise<T> => {
      const url = new URL(String(config.url));
      if (url.protocol === "https:" && url.hostname.endsWith(".googleapis.com")) {
        config.url = new URL(`${url.pathname}${url.search}`, base);
      }
      return Promise.resolve(config);
    },
  };
}

async function withAdcFile<T>(json: unknown, fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/adc.json`;
    await Deno.writeTextFile(path, JSON.stringify(json));
    return await fn(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function tokenInfo(emu: Emulator, token: string) {
  return (await get(`${emu.baseUrl}/tokeninfo?access_token=${encodeURIComponent(token)}`)).body;
}

Deno.test("UserRefreshClient with endpoints.oauth2TokenUrl refreshes against the emulator", async () => {
  await using emu = await startEmulator();
  const client = new UserRefreshClient({ endpoints: endpoints(emu.baseUrl) });
  client.fromJSON(emu.authorizedUserAdc());
  const { token } = await client.getAccessToken();
  assert.match(token!, /^ya29\./);
  assert.equal((await tokenInfo(emu, token!)).email, "engineer@example.com");
  assert.ok(client.credentials.expiry_date! > Date.now() + 3500_000);
  // getTokenInfo (bearer header to tokenInfoUrl) and a user ID token verified with the PEM certs.
  const info = await client.getTokenInfo(token!);
  assert.equal(info.email, "engineer@example.com");
  assert.ok(info.scopes.includes(CLOUD));
  const idToken = await client.fetchIdToken("ignored-for-users");
  const ticket = await new OAuth2Client({ endpoints: endpoints(emu.baseUrl) }).verifyIdToken({
    idToken,
    audience: emu.options.engineer.clientId,
  });
  assert.equal(ticket.getPayload()?.email, "engineer@example.com");
  // Two refreshes (getAccessToken, fetchIdToken) and one certs fetch reached the emulator.
  assert.equal(emu.calls("token"), 2);
  assert.equal(emu.calls("certs"), 1);
});

Deno.test("GoogleAuth + authorized_user ADC file + clientOptions.endpoints; reauth and revocation errors surface", async () => {
  await using emu = await startEmulator();
  await withAdcFile(emu.authorizedUserAdc(), async (keyFile) => {
    const auth = new GoogleAuth({
      keyFile,
      scopes: [CLOUD],
      clientOptions: { endpoints: endpoints(emu.baseUrl) },
    });
    const client = await auth.getClient();
    assert.ok(client instanceof UserRefreshClient);
    const token = await auth.getAccessToken();
    assert.equal((await tokenInfo(emu, token!)).sub, emu.options.engineer.uniqueId);
    const headers = await client.getRequestHeaders();
    assert.equal(headers.get("x-goog-user-project"), "demo-project");

    emu.faults.reauthAfter(0);
    const fresh = new GoogleAuth({ keyFile, clientOptions: { endpoints: endpoints(emu.baseUrl) } });
    const reauth = await fresh.getAccessToken().catch((e) => e);
    assert.equal(reauth.constructor.name, "GaxiosError");
    assert.equal(reauth.status, 400);
    assert.equal(reauth.response?.data.error_subtype, "invalid_rapt");
    assert.match(reauth.message, /invalid_rapt/);

    emu.faults.clear().revokeRefreshToken();
    const again = new GoogleAuth({ keyFile, clientOptions: { endpoints: endpoints(emu.baseUrl) } });
    const revoked = await again.getAccessToken().catch((e) => e);
    assert.equal(revoked.constructor.name, "GaxiosError");
    assert.equal(revoked.response?.data.error_description, "Token has been expired or revoked.");
  });
});

Deno.test("JWT from a service-account key: token URL redirected by a transporter interceptor", async () => {
  await using emu = await startEmulator();
  const key = await emu.serviceAccountKey(SA);
  const jwt = new JWT({ email: key.client_email, key: key.private_key, scopes: [CLOUD] });
  jwt.transporter.interceptors.request.add(redirectTo(emu.baseUrl));
  const { token } = await jwt.getAccessToken();
  const info = await tokenInfo(emu, token!);
  assert.equal(info.sub, emu.options.serviceAccounts[0].uniqueId);
  assert.equal(info.scope, CLOUD);
  // The assertion was signed by the library (aud https://oauth2.googleapis.com/token) and verified.
  const idToken = await jwt.fetchIdToken("https://svc.example");
  const ticket = await new OAuth2Client({ endpoints: endpoints(emu.baseUrl) }).verifyIdToken({
    idToken,
    audience: "https://svc.example",
  });
  assert.equal(ticket.getPayload()?.email, SA);
  assert.equal(emu.calls("token"), 2);
});

Deno.test("GoogleAuth + service_account key file: clientOptions.transporter carries the redirect", async () => {
  await using emu = await startEmulator();
  const key = await emu.serviceAccountKey(SA);
  await withAdcFile(key, async (keyFile) => {
    const probe = new JWT();
    probe.transporter.interceptors.request.add(redirectTo(emu.baseUrl));
    const auth = new GoogleAuth({
      keyFile,
      scopes: [CLOUD],
      clientOptions: { transporter: probe.transporter },
    });
    const client = await auth.getClient();
    assert.ok(client instanceof JWT);
    const token = await auth.getAccessToken();
    assert.equal((await tokenInfo(emu, token!)).sub, emu.options.serviceAccounts[0].uniqueId);
  });
  // A key the emulator did not issue is refused: the emulator really checks signatures.
  const other = await startEmulator();
  try {
    const foreign = await other.serviceAccountKey(SA);
    const jwt = new JWT({ email: SA, key: foreign.private_key, scopes: [CLOUD] });
    jwt.transporter.interceptors.request.add(redirectTo(emu.baseUrl));
    const err = await jwt.getAccessToken().catch((e) => e);
    assert.equal(err.constructor.name, "GaxiosError");
    assert.match(err.message, /invalid_grant: Invalid JWT Signature\./);
  } finally {
    await other.stop();
  }
});

Deno.test("Impersonated with option endpoint: access token, delegates, fetchIdToken, and errors", async () => {
  await using emu = await startEmulator({
    serviceAccounts: [{ email: SA }, { email: A, impersonators: ["engineer@example.com"] }, {
      email: "chained@demo-project.iam.gserviceaccount.com",
      impersonators: [A],
    }],
  });
  const source = new UserRefreshClient({ endpoints: endpoints(emu.baseUrl) });
  source.fromJSON(emu.authorizedUserAdc());
  const client = new Impersonated({
    sourceClient: source,
    targetPrincipal: SA,
    targetScopes: [CLOUD],
    lifetime: 600,
    delegates: [],
    endpoint: emu.baseUrl,
  });
  const { token } = await client.getAccessToken();
  assert.equal((await tokenInfo(emu, token!)).sub, emu.options.serviceAccounts[0].uniqueId);
  const expiresIn = client.credentials.expiry_date! - Date.now();
  assert.ok(expiresIn > 590_000 && expiresIn <= 600_000, `expiry from expireTime: ${expiresIn}`);

  const idToken = await client.fetchIdToken("https://svc.example", { includeEmail: true });
  const ticket = await new OAuth2Client({ endpoints: endpoints(emu.baseUrl) }).verifyIdToken({
    idToken,
    audience: "https://svc.example",
  });
  assert.equal(ticket.getPayload()?.email, SA);
  assert.equal(ticket.getPayload()?.azp, SA, "the library asks for useEmailAzp");

  const chained = new Impersonated({
    sourceClient: source,
    targetPrincipal: "chained@demo-project.iam.gserviceaccount.com",
    targetScopes: [CLOUD],
    delegates: [`projects/-/serviceAccounts/${A}`],
    endpoint: emu.baseUrl,
  });
  assert.match((await chained.getAccessToken()).token!, /^ya29\./);

  const denied = new Impersonated({
    sourceClient: source,
    targetPrincipal: "chained@demo-project.iam.gserviceaccount.com",
    targetScopes: [CLOUD],
    endpoint: emu.baseUrl,
  });
  const err = await denied.getAccessToken().catch((e) => e);
  assert.equal(
    err.message,
    "PERMISSION_DENIED: unable to impersonate: Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
  );
  const tooLong = new Impersonated({
    sourceClient: source,
    targetPrincipal: SA,
    targetScopes: [CLOUD],
    lifetime: 7200,
    endpoint: emu.baseUrl,
  });
  assert.match((await tooLong.getAccessToken().catch((e) => e)).message, /^INVALID_ARGUMENT: /);
});

Deno.test("Impersonated: the library retries a 503 and succeeds on the next call", async () => {
  await using emu = await startEmulator();
  const source = new UserRefreshClient({ endpoints: endpoints(emu.baseUrl) });
  source.fromJSON(emu.authorizedUserAdc());
  const client = new Impersonated({
    sourceClient: source,
    targetPrincipal: SA,
    targetScopes: [CLOUD],
    endpoint: emu.baseUrl,
  });
  emu.faults.failNext("generateAccessToken", 1, 503);
  assert.match((await client.getAccessToken()).token!, /^ya29\./);
  assert.equal(emu.calls("generateAccessToken"), 2);
});

Deno.test("impersonated_service_account ADC JSON built into clients with public options", async () => {
  await using emu = await startEmulator({
    serviceAccounts: [{ email: SA, impersonators: [A] }, { email: A }],
  });
  const adc = emu.impersonatedAdc(SA, [A]);
  assert.equal(
    adc.service_account_impersonation_url,
    `${emu.baseUrl}/v1/projects/-/serviceAccounts/${SA}:generateAccessToken`,
  );
  assert.deepEqual(adc.delegates, [`projects/-/serviceAccounts/${A}`]);
  const source = new UserRefreshClient({ endpoints: endpoints(emu.baseUrl) });
  source.fromJSON(adc.source_credentials);
  const target = /([^/]+):generateAccessToken$/.exec(adc.service_account_impersonation_url)![1];
  const client = new Impersonated({
    sourceClient: source,
    targetPrincipal: target,
    delegates: adc.delegates,
    targetScopes: [CLOUD],
    endpoint: emu.baseUrl,
  });
  const { token } = await client.getAccessToken();
  assert.equal((await tokenInfo(emu, token!)).sub, emu.options.serviceAccounts[0].uniqueId);
});

/** The private fields of Impersonated that GoogleAuth leaves pointing at Google. */
type ImpersonatedInternals = { endpoint: string; sourceClient: UserRefreshClient };

Deno.test("GoogleAuth + impersonated_service_account ADC file: ignores clientOptions; redirected after getClient()", async () => {
  await using emu = await startEmulator({
    serviceAccounts: [{ email: SA, impersonators: [A] }, { email: A }],
  });
  const adc = emu.impersonatedAdc(SA, [A]);
  await withAdcFile(adc, async (keyFile) => {
    const auth = new GoogleAuth({
      keyFile,
      scopes: [CLOUD],
      // Not passed on for this credential type: fromImpersonatedJSON drops clientOptions.
      clientOptions: { endpoints: endpoints(emu.baseUrl) },
    });
    const client = await auth.getClient();
    assert.ok(client instanceof Impersonated);
    assert.equal(client.getTargetPrincipal(), SA);
    const internals = client as unknown as ImpersonatedInternals;
    assert.equal(internals.endpoint, "https://iamcredentials.googleapis.com", "URL host ignored");
    assert.equal(
      String(internals.sourceClient.endpoints.oauth2TokenUrl),
      "https://oauth2.googleapis.com/token",
    );
    // Redirecting the source client's transporter carries both calls (refresh and impersonation).
    internals.sourceClient.transporter.interceptors.request.add(redirectTo(emu.baseUrl));
    const token = await auth.getAccessToken();
    assert.equal((await tokenInfo(emu, token!)).sub, emu.options.serviceAccounts[0].uniqueId);
    const idToken = await client.fetchIdToken("aud-1");
    assert.equal(idToken.split(".").length, 3);
  });
  assert.deepEqual(
    emu.requests().map((e) => [e.api, e.status]),
    [["token", 200], ["generateAccessToken", 200], ["tokeninfo", 200], ["generateIdToken", 200]],
  );
});
