/**
 * Defects 8 and 9 of issue 7: Google's answers are validated and its failures mapped. Malformed
 * 2xx answers (no or past or garbled expiry, no token, not JSON) become a clear 502 instead of a
 * token served with `expires_in: null` / `0` or a TypeError from inside google-auth-library;
 * Google's 429 becomes 429 with Retry-After, 503 stays 503, other 5xx become 502, and nothing the
 * container sees names the emulator/Google URL, a local address or the host's ADC path.
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import type { ApiName, Malformation } from "../../src/emulator/mod.ts";
import { errorResponse } from "../../src/gate/app.ts";
import { googleFailure } from "../../src/gate/credentials_error.ts";
import { HttpError } from "../../src/errors.ts";
import { CLOUD, failure, KEY_SA, world } from "./google_world.ts";

const LIBRARY_CRASHES = /Cannot create property|only a getter|Cannot read prop|undefined|null/;

function assertClean(err: HttpError, baseUrl: string, dir: string) {
  assert.ok(err instanceof HttpError, String(err));
  for (const leak of [baseUrl, "127.0.0.1", dir, "http://"]) {
    assert.ok(!err.message.includes(leak), `"${leak}" leaked: ${err.message}`);
  }
  assert.doesNotMatch(err.message, LIBRARY_CRASHES);
}

Deno.test("generateAccessToken answers without a usable token or expiry are refused with a 502 naming the field", () =>
  world(async ({ emulator, service, dir }) => {
    const tokens = await service(emulator.authorizedUserAdc());
    const cases: [Malformation, RegExp][] = [
      ["missing_expiry", /generateAccessToken answer has no expireTime/],
      ["past_expiry", /generateAccessToken answer has an expireTime in the past/],
      ["garbled_expiry", /generateAccessToken answer has an unparseable expireTime/],
      ["missing_token", /generateAccessToken answer has no accessToken/],
      ["not_object", /generateAccessToken answer is not a JSON object/],
    ];
    for (const [kind, message] of cases) {
      emulator.faults.malformNext("generateAccessToken", kind);
      const scopes = [`https://${kind}.example/scope`]; // a cold cache entry per case
      const { err } = await failure(tokens.devToken(scopes, 600));
      assert.equal(err.status, 502, `${kind}: ${err.message}`);
      assert.equal(err.code, "google_bad_answer");
      assert.match(err.message, message);
      assert.match(err.message, /^Google's/, "no library prefix");
      assertClean(err, emulator.baseUrl, dir);
      // Nothing was cached: the next request mints a good token.
      const t = await tokens.devToken(scopes, 600);
      assert.ok(t.expiresAt > Date.now() + 500_000, `${kind}: healed`);
    }
  }));

Deno.test("a bad_json or expiry-less answer to the ADC refresh is a clear 502, not a library TypeError", () =>
  world(async ({ emulator, service, dir }) => {
    const cases: [string, () => void, RegExp][] = [
      [
        "bad_json",
        () => emulator.faults.badJsonNext("token"),
        /OAuth2 token answer is not a JSON object/,
      ],
      [
        "missing expires_in",
        () => emulator.faults.malformNext("token", "missing_expiry"),
        /OAuth2 token answer has no numeric expires_in/,
      ],
      [
        "negative expires_in",
        () => emulator.faults.malformNext("token", "past_expiry"),
        /expires_in that is not positive/,
      ],
      [
        "no access_token",
        () => emulator.faults.malformNext("token", "missing_token"),
        /OAuth2 token answer has no access_token/,
      ],
    ];
    for (const [name, arm, message] of cases) {
      const tokens = await service(emulator.authorizedUserAdc());
      arm();
      const { err } = await failure(tokens.prodToken([CLOUD], 300));
      assert.equal(err.status, 502, `${name}: ${err.message}`);
      assert.match(err.message, message);
      assertClean(err, emulator.baseUrl, dir);
      assert.match((await tokens.prodToken([CLOUD], 300)).accessToken, /^ya29\./, name);
    }
  }));

Deno.test("malformed generateIdToken, tokeninfo and Resource Manager answers are clear 502s", () =>
  world(async ({ emulator, service, dir }) => {
    const tokens = await service(emulator.authorizedUserAdc());
    const cases: [ApiName, () => Promise<unknown>, RegExp][] = [
      ["generateIdToken", () => tokens.idToken("https://a.example", true), /generateIdToken/],
      ["tokeninfo", () => tokens.identityEmail(), /tokeninfo answer is not a JSON object/],
      ["getProject", () => tokens.projectNumber(), /Resource Manager .* is not a JSON object/],
    ];
    for (const [api, call, message] of cases) {
      emulator.faults.badJsonNext(api);
      const { err } = await failure(call());
      assert.equal(err.status, 502, `${api}: ${err.message}`);
      assert.match(err.message, message);
      assertClean(err, emulator.baseUrl, dir);
      await call();
    }
    emulator.faults.malformNext("generateIdToken", "missing_token");
    const { err } = await failure(tokens.idToken("https://b.example", true));
    assert.match(err.message, /generateIdToken answer has no token/);
  }));

Deno.test("a service-account key that is not base64 is a clear ADC error, not 'only a getter'", () =>
  world(async ({ emulator, service, dir }) => {
    const key = await emulator.serviceAccountKey(KEY_SA);
    key.private_key =
      "-----BEGIN PRIVATE KEY-----\n%%% not base64 %%%\n-----END PRIVATE KEY-----\n";
    const tokens = await service(key);
    const { err } = await failure(tokens.devToken([CLOUD], 600));
    assert.equal(err.status, 500);
    assert.equal(err.code, "adc_invalid");
    assert.match(err.message, /private_key is not a PKCS#8 RSA key/);
    assertClean(err, emulator.baseUrl, dir);
    assert.ok(!err.message.includes("not base64"), "no key material is quoted");
  }));

Deno.test("a bad_json answer to the service-account JWT exchange is a clear 502", () =>
  world(async ({ emulator, service, dir }) => {
    const tokens = await service(await emulator.serviceAccountKey(KEY_SA));
    emulator.faults.badJsonNext("token");
    const { err } = await failure(tokens.devToken([CLOUD], 600));
    assert.equal(err.status, 502, err.message);
    assert.match(err.message, /OAuth2 token answer is not a JSON object/);
    assertClean(err, emulator.baseUrl, dir);
    assert.match((await tokens.devToken([CLOUD], 600)).accessToken, /^ya29\./);
  }));

Deno.test("Google 429 becomes 429 with Google's Retry-After, or a default when it sent none", () =>
  world(async ({ emulator, service, dir }) => {
    const tokens = await service(emulator.authorizedUserAdc());
    emulator.faults.rateLimitNext("generateAccessToken", 1, 17);
    const limited = (await failure(tokens.devToken([CLOUD], 600))).err;
    assert.equal(limited.status, 429);
    assert.equal(limited.code, "google_rate_limited");
    assert.deepEqual(limited.headers, { "retry-after": "17" });
    assert.match(limited.message, /Google is rate-limiting the gate while minting a dev token/);
    assertClean(limited, emulator.baseUrl, dir);
    emulator.faults.failNext("getProject", 1, 429);
    const bare = (await failure(tokens.projectNumber())).err;
    assert.equal(bare.status, 429);
    assert.deepEqual(bare.headers, { "retry-after": "10" });
    emulator.faults.failNext("token", 1, 429);
    const refresh = (await failure((await service(emulator.authorizedUserAdc())).prodToken(
      [CLOUD],
      300,
    ))).err;
    assert.equal(refresh.status, 429, refresh.message);
  }));

Deno.test("Google 503 stays 503 (with Retry-After); other 5xx become 502; all name the cause", () =>
  world(async ({ emulator, service, dir }) => {
    const tokens = await service(emulator.authorizedUserAdc());
    const cases: [number, number, string][] = [
      [503, 503, "google_unavailable"],
      [
        500,
        502,
        "google_error",
      ],
      [502, 502, "google_error"],
      [504, 502, "google_error"],
    ];
    for (const [google, gate, code] of cases) {
      emulator.faults.failNext("generateAccessToken", 1, google);
      const { err } = await failure(tokens.devToken([CLOUD], 600));
      assert.equal(err.status, gate, `${google}: ${err.message}`);
      assert.equal(err.code, code);
      assert.match(err.message, new RegExp(`Google answered ${google} while minting a dev token`));
      assert.match(err.message, /on Google's side/);
      if (google === 503) assert.equal(err.headers["retry-after"], "10");
      assertClean(err, emulator.baseUrl, dir);
    }
    // The same on the gate's own REST calls and on the refresh.
    emulator.faults.failNext("tokeninfo", 1, 500);
    assert.equal((await failure(tokens.identityEmail())).err.status, 502);
    emulator.faults.failNext("token", 1, 503);
    const fresh = await service(emulator.authorizedUserAdc());
    assert.equal((await failure(fresh.prodToken([CLOUD], 300))).err.status, 503);
  }));

Deno.test("expiry of a relative expires_in is dated from when the answer arrived", () =>
  world(async ({ emulator, service }) => {
    const tokens = await service(emulator.authorizedUserAdc());
    emulator.faults.latency("token", 400);
    const t = await tokens.prodToken([CLOUD], 43_200);
    const arrivedBy = Date.now();
    // Google says 3599 s; counted from the request's start it would be ~400 ms shorter.
    assert.ok(t.expiresAt >= arrivedBy - 100 + 3_599_000, `${arrivedBy + 3_599_000 - t.expiresAt}`);
    assert.ok(t.expiresAt <= arrivedBy + 3_599_000);
  }));

Deno.test("errorResponse answers with the error's headers and logs the detail the client must not see", async () => {
  const logged: string[] = [];
  const app = new Hono();
  app.get("/", () => {
    const cause = Object.assign(new Error("quota"), {
      response: {
        status: 429,
        headers: new Headers({ "retry-after": "33" }),
        data: { error: { code: 429, message: "Quota exceeded.", status: "RESOURCE_EXHAUSTED" } },
      },
    });
    throw googleFailure(cause, "laptop-1", "minting a dev token");
  });
  app.onError((err, c) => errorResponse(c, err, (m) => logged.push(m)));
  const res = await app.request("/");
  assert.equal(res.status, 429);
  assert.equal(res.headers.get("retry-after"), "33");
  const body = await res.json();
  assert.equal(body.code, "google_rate_limited");
  assert.match(body.error, /RESOURCE_EXHAUSTED: Quota exceeded/);
  assert.equal(logged.length, 1);
  assert.match(logged[0], /^gate: minting a dev token failed: quota/);
});

Deno.test("the container redactor hides the ADC path, endpoints, other URLs and addresses, keeps doc links", async () => {
  const { containerRedactor } = await import("../../src/gate/credentials_error.ts");
  const redact = containerRedactor(["/home/eng/.config/gcloud/adc.json", "http://10.1.2.3:8080"]);
  assert.equal(
    redact(
      "read /home/eng/.config/gcloud/adc.json via http://10.1.2.3:8080/token from 127.0.0.1:5555 " +
        "[::1]:80 https://iamcredentials.googleapis.com/v1/x see https://cloud.google.com/iam/docs",
    ),
    "read <the ADC file> via <Google endpoint>/token from <address> <address> <Google endpoint> " +
      "see https://cloud.google.com/iam/docs",
  );
});
