/**
 * The gate's Google side against the embedded emulator, through the real google-auth-library:
 * the same code path that talks to Google in production, with only the base URL swapped.
 */
import assert from "node:assert/strict";
import { HttpError } from "../../src/errors.ts";
import { ADC_TARGET, DEV, KEY_SA, world } from "./google_world.ts";

function decodeJwt(jwt: string): Record<string, unknown> {
  const part = jwt.split(".")[1].replaceAll("-", "+").replaceAll("_", "/");
  return JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
}

Deno.test("authorized_user ADC: dev token by impersonation, cached per scopes and TTL", () =>
  world(async ({ emulator, service }) => {
    const tokens = await service(emulator.authorizedUserAdc());
    const a = await tokens.devToken(["https://www.googleapis.com/auth/cloud-platform"], 600);
    assert.match(a.accessToken, /^ya29\./);
    const lifetime = a.expiresAt - Date.now();
    assert.ok(lifetime > 590_000 && lifetime <= 600_000, `lifetime ${lifetime}`);
    const b = await tokens.devToken(["https://www.googleapis.com/auth/cloud-platform"], 600);
    assert.equal(b.accessToken, a.accessToken);
    assert.equal(emulator.calls("generateAccessToken"), 1);
    await tokens.devToken(["https://www.googleapis.com/auth/devstorage.read_only"], 600);
    assert.equal(emulator.calls("generateAccessToken"), 2);
  }));

Deno.test("concurrent cold dev-token requests coalesce into one mint", () =>
  world(async ({ emulator, service }) => {
    const tokens = await service(emulator.authorizedUserAdc());
    const all = await Promise.all(
      Array.from(
        { length: 50 },
        () => tokens.devToken(["https://www.googleapis.com/auth/cloud-platform"], 3600),
      ),
    );
    assert.equal(new Set(all.map((t) => t.accessToken)).size, 1);
    assert.equal(emulator.calls("generateAccessToken"), 1);
  }));

Deno.test("identity, project number, universe domain, ID token and prod token", () =>
  world(async ({ emulator, service }) => {
    const tokens = await service(emulator.authorizedUserAdc());
    assert.equal(await tokens.identityEmail(), "engineer@example.com");
    assert.equal(await tokens.identityEmail(), "engineer@example.com");
    assert.equal(emulator.calls("tokeninfo"), 1, "identity is cached");
    assert.equal(await tokens.projectNumber(), "123456789012");
    assert.equal(await tokens.universeDomain(), "googleapis.com");
    const id = decodeJwt(await tokens.idToken("https://svc.example", true));
    assert.equal(id.aud, "https://svc.example");
    assert.equal(id.email, DEV);
    const bare = decodeJwt(await tokens.idToken("https://svc.example", false));
    assert.equal(bare.email, undefined);
    const prod = await tokens.prodToken(["https://www.googleapis.com/auth/cloud-platform"], 300);
    assert.match(prod.accessToken, /^ya29\./);
    assert.ok(prod.expiresAt <= Date.now() + 300_000, "prod expiry is capped at the TTL");
  }));

Deno.test("service_account key ADC: the JWT-bearer exchange goes to the configured endpoint", () =>
  world(async ({ emulator, service }) => {
    const tokens = await service(await emulator.serviceAccountKey(KEY_SA));
    const t = await tokens.devToken(["https://www.googleapis.com/auth/cloud-platform"], 900);
    assert.match(t.accessToken, /^ya29\./);
    assert.equal(emulator.calls("token"), 1);
    assert.equal(emulator.calls("generateAccessToken"), 1);
  }));

Deno.test("impersonated_service_account ADC: dev token through the ADC's own impersonation", () =>
  world(async ({ emulator, service }) => {
    const tokens = await service(emulator.impersonatedAdc(ADC_TARGET));
    const t = await tokens.devToken(["https://www.googleapis.com/auth/cloud-platform"], 900);
    assert.match(t.accessToken, /^ya29\./);
    assert.equal(
      emulator.calls("generateAccessToken"),
      2,
      "one hop for the ADC, one for the dev SA",
    );
  }));

Deno.test("reauth: credentials_expired names the gate host; a new login heals without restart", () =>
  world(async ({ emulator, service, dir }) => {
    const tokens = await service(emulator.authorizedUserAdc());
    await tokens.devToken(["a"], 600);
    emulator.faults.revokeRefreshToken();
    const err = await tokens.devToken(["b"], 600).catch((e) => e);
    assert.ok(err instanceof HttpError);
    assert.equal(err.status, 500);
    assert.equal(err.code, "credentials_expired");
    assert.match(err.message, /on host "laptop-1"/);
    assert.match(err.message, /gcloud auth application-default login/);
    assert.ok(!/ya29\.|1\/\//.test(err.message), err.message);
    // The cached token for "a" is dropped too: every cache is reset on reauth.
    assert.equal((await tokens.devToken(["a"], 600).catch((e) => e)).code, "credentials_expired");
    await Deno.writeTextFile(`${dir}/adc.json`, JSON.stringify(emulator.loginAgain()));
    const healed = await tokens.devToken(["b"], 600);
    assert.match(healed.accessToken, /^ya29\./);
    assert.equal(await tokens.identityEmail(), "engineer@example.com");
  }));

Deno.test("a missing or malformed ADC file is a clear error that quotes no secret", () =>
  world(async ({ service, dir, emulator }) => {
    const tokens = await service(emulator.authorizedUserAdc());
    await Deno.remove(`${dir}/adc.json`);
    const missing = await tokens.devToken(["a"], 600).catch((e) => e);
    assert.equal(missing.code, "credentials_expired");
    assert.match(missing.message, /Could not load the default credentials: <the ADC file> does/);
    assert.ok(!missing.message.includes(dir), missing.message);
    const secret = emulator.authorizedUserAdc().refresh_token;
    await Deno.writeTextFile(
      `${dir}/adc.json`,
      `{"type":"authorized_user","refresh_token":"${secret}"`,
    );
    const broken = await tokens.devToken(["a"], 600).catch((e) => e);
    assert.equal(broken.status, 500);
    assert.equal(broken.code, "adc_invalid");
    assert.match(broken.message, /Application Default Credentials are unusable: .*not valid JSON/);
    assert.ok(!broken.message.includes(secret));
    assert.ok(!broken.message.includes(dir), "the host path stays in the gate's log");
    assert.match(broken.logDetail, new RegExp(`${dir}/adc.json: not valid JSON`));
    await Deno.writeTextFile(`${dir}/adc.json`, JSON.stringify({ type: "external_account" }));
    const odd = await tokens.devToken(["a"], 600).catch((e) => e);
    assert.match(odd.message, /unsupported credential type "external_account"/);
  }));

Deno.test("Google refusals become 502s with the reason and the fix; a stalled body hits the deadline", () =>
  world(async ({ emulator, service }) => {
    const tokens = await service(emulator.authorizedUserAdc(), 500);
    emulator.faults.failNext("generateAccessToken", 3, 403, "Permission denied on resource");
    const denied = await tokens.devToken(["a"], 600).catch((e) => e);
    assert.equal(denied.status, 502);
    assert.equal(denied.code, "google_refused");
    assert.match(denied.message, /Google refused minting a dev token \(403: .*Permission denied/);
    assert.match(denied.message, /roles\/iam.serviceAccountTokenCreator/);
    emulator.faults.clear();
    emulator.faults.stallBody("generateAccessToken", 1);
    const stalled = await tokens.devToken(["c"], 600).catch((e) => e);
    assert.equal(stalled.status, 504);
    assert.match(stalled.message, /did not answer in time while minting a dev token/);
    const retry = await tokens.devToken(["c"], 600);
    assert.match(retry.accessToken, /^ya29\./, "the failed mint freed its single-flight slot");
  }));
