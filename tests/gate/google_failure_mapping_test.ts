/**
 * The mapping of Google failures to the gate's answers (credentials_error.ts) and the answer
 * checks (google_answers.ts), on their bad forms: odd Retry-After values, error bodies of both
 * Google shapes, reauth words inside a 5xx, ID-token-only grants, nonsense expiries.
 */
import assert from "node:assert/strict";
import { googleFailure, needsReauth } from "../../src/gate/credentials_error.ts";
import { checkGoogleAnswer, GoogleAnswerError } from "../../src/google/google_answers.ts";
import { GoogleStatusError } from "../../src/google/google_status.ts";
import { DeadlineError } from "../../src/http/deadline_fetch.ts";
import { AdcError } from "../../src/google/adc.ts";

/** An error shaped like a GaxiosError with Google's answer. */
function answered(status: number, data: unknown, headers: Record<string, string> = {}) {
  return Object.assign(new Error(`Request failed with status code ${status}`), {
    name: "GaxiosError",
    response: { status, data, headers: new Headers(headers) },
  });
}

const rest = (code: number, status: string, message: string) => ({
  error: { code, status, message },
});

Deno.test("Retry-After: seconds and HTTP dates pass; anything else becomes the 10 s default", () => {
  const cases: [string, string][] = [
    ["120", "120"],
    ["Wed, 21 Oct 2026 07:28:00 GMT", "Wed, 21 Oct 2026 07:28:00 GMT"],
    ["soon", "10"],
    ["-5", "10"],
    ["1e9", "10"],
    ["99999999", "10"],
    ["", "10"],
  ];
  for (const [given, sent] of cases) {
    const err = googleFailure(
      answered(429, rest(429, "RESOURCE_EXHAUSTED", "Quota"), { "retry-after": given }),
      "h",
      "minting",
    );
    assert.equal(err.headers["retry-after"], sent, `Retry-After ${JSON.stringify(given)}`);
  }
  const theirs = googleFailure(new GoogleStatusError(503, "down", "30"), "h", "x");
  assert.deepEqual([theirs.status, theirs.headers], [503, { "retry-after": "30" }]);
});

Deno.test("both of Google's error shapes are quoted; reauth words in a 5xx are not a reauth", () => {
  const oauth = googleFailure(
    answered(400, { error: "invalid_request", error_description: "Missing parameter" }),
    "h",
    "refreshing",
  );
  assert.equal(oauth.status, 502);
  assert.match(oauth.message, /invalid_request: Missing parameter/);
  const fiveHundred = answered(500, rest(500, "INTERNAL", "invalid_token cache broke"));
  assert.equal(needsReauth(fiveHundred), false);
  assert.equal(googleFailure(fiveHundred, "h", "x").status, 502);
  const revoked = answered(400, { error: "invalid_grant", error_description: "Bad Request" });
  assert.equal(googleFailure(revoked, "h", "x").code, "credentials_expired");
});

Deno.test("deadlines deep in a cause chain are 504; ADC errors are 500 adc_invalid; others 500", () => {
  const wrapped = Object.assign(new Error("request failed"), {
    name: "GaxiosError",
    cause: new DeadlineError("waiting for Google", 30_000),
  });
  const timeout = googleFailure(wrapped, "h", "minting a dev token");
  assert.deepEqual([timeout.status, timeout.code], [504, "google_timeout"]);
  assert.match(timeout.message, /timed out after 30000 ms/);
  const adc = googleFailure(
    new AdcError("/home/e/adc.json: expected a JSON object"),
    "h",
    "x",
    (t) => t.replaceAll("/home/e/adc.json", "<the ADC file>"),
  );
  assert.deepEqual([adc.status, adc.code], [500, "adc_invalid"]);
  assert.ok(!adc.message.includes("/home/e"), adc.message);
  assert.match(adc.logDetail ?? "", /\/home\/e\/adc.json/);
  const odd = googleFailure(new RangeError("weird"), "h", "x");
  assert.deepEqual([odd.status, odd.code], [500, "google_failure"]);
});

Deno.test("no secret reaches the message or the log detail", () => {
  const err = googleFailure(
    answered(403, rest(403, "PERMISSION_DENIED", "token ya29.abcdefSECRET denied")),
    "h",
    "x",
  );
  assert.ok(!err.message.includes("SECRET"), err.message);
  assert.ok(!(err.logDetail ?? "").includes("SECRET"), err.logDetail);
});

Deno.test("answer checks: ID-token-only grants pass, other URLs pass, non-2xx are not checked", () => {
  const now = Date.parse("2026-11-27T12:00:00Z");
  const token = "https://oauth2.googleapis.com/token";
  checkGoogleAnswer(token, 200, { id_token: "eyJ.x.y" }, now);
  checkGoogleAnswer("https://example.com/other", 200, "not json", now);
  checkGoogleAnswer(token, 400, "not json", now);
  checkGoogleAnswer(undefined, 200, "x", now);
  const gat =
    "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@b:generateAccessToken";
  checkGoogleAnswer(gat, 200, { accessToken: "t", expireTime: "2026-11-27T13:00:00Z" }, now);
  const bad: [unknown, RegExp][] = [
    [{ accessToken: "t", expireTime: "2026-11-27T12:00:00Z" }, /in the past/],
    [{ accessToken: "t", expireTime: 1234 }, /no expireTime/],
    [{ accessToken: "", expireTime: "2026-11-27T13:00:00Z" }, /no accessToken/],
    [[1, 2], /not a JSON object/],
    [null, /not a JSON object/],
  ];
  for (const [body, message] of bad) {
    assert.throws(
      () => checkGoogleAnswer(gat, 200, body, now),
      (e: Error) => e instanceof GoogleAnswerError && message.test(e.message),
    );
  }
  for (const expiresIn of [0, -1, "3600", Infinity, null]) {
    assert.throws(
      () => checkGoogleAnswer(token, 200, { access_token: "t", expires_in: expiresIn }, now),
      GoogleAnswerError,
      String(expiresIn),
    );
  }
});
