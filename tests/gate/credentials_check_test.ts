/** The gate's start-up ADC check: each way ADC can be unusable gives a problem and a fix, no secret. */
import assert from "node:assert/strict";
import { checkCredentials, credentialsFailure } from "../../src/gate/credentials_check.ts";
import { HttpError } from "../../src/errors.ts";

const USER_ADC = {
  type: "authorized_user",
  client_id: "id.apps.googleusercontent.com",
  client_secret: "d-FL95Q19q7MQmFpd7hHD0Ty",
  refresh_token: "1//0gSECRETrefresh",
};

async function withAdc(
  content: string | undefined,
  fn: (env: Record<string, string>) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-adc-check-" });
  try {
    const path = `${dir}/adc.json`;
    if (content !== undefined) await Deno.writeTextFile(path, content);
    await fn({ GOOGLE_APPLICATION_CREDENTIALS: path, HOME: dir });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const identity = (email: string) => ({ identityEmail: () => Promise.resolve(email) });
const failing = (err: Error) => ({ identityEmail: () => Promise.reject(err) });
const never = { identityEmail: () => assert.fail("Google is not asked when the file is unusable") };

Deno.test("usable ADC: type and identity, no problem", () =>
  withAdc(JSON.stringify(USER_ADC), async (env) => {
    const report = await checkCredentials(identity("me@example.com"), env);
    assert.deepEqual(report, {
      path: env.GOOGLE_APPLICATION_CREDENTIALS,
      type: "authorized_user",
      email: "me@example.com",
    });
  }));

Deno.test("missing file: names the path and the login fix; Google is not asked", () =>
  withAdc(undefined, async (env) => {
    const report = await checkCredentials(never, env);
    assert.match(report.problem!, /does not exist/);
    assert.ok(report.problem!.includes(env.GOOGLE_APPLICATION_CREDENTIALS));
    assert.match(report.fix!, /gcloud auth application-default login/);
    assert.match(credentialsFailure(report), /--allow-missing-credentials/);
  }));

Deno.test("malformed files: not JSON, wrong type, missing field — never quoting the content", async () => {
  const cases: [string, RegExp][] = [
    ["{not json", /not valid JSON/],
    [JSON.stringify({ ...USER_ADC, type: "external_account" }), /unsupported credential type/],
    [JSON.stringify({ ...USER_ADC, refresh_token: undefined }), /"refresh_token" is missing/],
    ["[]", /expected a JSON object/],
  ];
  for (const [content, pattern] of cases) {
    await withAdc(content, async (env) => {
      const report = await checkCredentials(never, env);
      assert.match(report.problem!, pattern);
      assert.ok(!report.problem!.includes("d-FL95Q19q7MQmFpd7hHD0Ty"));
    });
  }
});

Deno.test("a refresh Google refuses: the type is known, the reason kept, secrets scrubbed", () =>
  withAdc(JSON.stringify(USER_ADC), async (env) => {
    const report = await checkCredentials(
      failing(new HttpError(500, "invalid_grant for refresh_token=1//0gSECRETrefresh")),
      env,
    );
    assert.equal(report.type, "authorized_user");
    assert.match(report.problem!, /refreshing the authorized_user credential with Google failed/);
    assert.match(report.problem!, /invalid_grant/);
    assert.ok(!credentialsFailure(report).includes("SECRET"), credentialsFailure(report));
    assert.match(report.fix!, /reachable/);
  }));
