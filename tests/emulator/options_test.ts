import assert from "node:assert/strict";
import {
  DEFAULT_ENGINEER_EMAIL,
  DEFAULT_SERVICE_ACCOUNT,
  GCLOUD_ADC_SCOPES,
  numericIdFor,
  resolveOptions,
} from "../../src/emulator/options.ts";

Deno.test("defaults: demo-project, the engineer, and a dev account the engineer may impersonate", () => {
  const o = resolveOptions();
  assert.equal(o.hostname, "127.0.0.1");
  assert.equal(o.port, 0);
  assert.deepEqual(o.projects.map((p) => [p.id, p.number, p.state]), [
    ["demo-project", "123456789012", "ACTIVE"],
  ]);
  assert.equal(o.engineer.email, DEFAULT_ENGINEER_EMAIL);
  assert.deepEqual(o.engineer.scopes, [...GCLOUD_ADC_SCOPES]);
  assert.match(o.engineer.refreshToken, /^1\/\/[A-Za-z0-9_-]{90,}$/);
  assert.match(o.engineer.clientSecret, /^GOCSPX-/);
  assert.match(o.engineer.clientId, /\.apps\.googleusercontent\.com$/);
  assert.deepEqual(o.serviceAccounts, [{
    email: DEFAULT_SERVICE_ACCOUNT,
    uniqueId: numericIdFor(DEFAULT_SERVICE_ACCOUNT),
    impersonators: [DEFAULT_ENGINEER_EMAIL],
    allowExtendedLifetime: false,
  }]);
  assert.equal(o.quotaProjectId, "demo-project");
});

Deno.test("secrets are fresh per emulator; ids are stable per email", () => {
  const a = resolveOptions();
  const b = resolveOptions();
  assert.notEqual(a.engineer.refreshToken, b.engineer.refreshToken);
  assert.notEqual(a.engineer.clientSecret, b.engineer.clientSecret);
  assert.equal(a.engineer.uniqueId, b.engineer.uniqueId);
  assert.match(numericIdFor("x@example.com"), /^1\d{20}$/);
  assert.notEqual(numericIdFor("x@example.com"), numericIdFor("y@example.com"));
});

Deno.test("the default dev account follows the first project and the engineer", () => {
  const o = resolveOptions({
    projects: [{ id: "other-proj", number: "42" }],
    engineer: { email: "Me@Example.org" },
    quotaProjectId: null,
  });
  assert.equal(o.serviceAccounts[0].email, "dev-runner@other-proj.iam.gserviceaccount.com");
  assert.deepEqual(o.serviceAccounts[0].impersonators, ["me@example.org"]);
  assert.equal(o.quotaProjectId, undefined);
});

Deno.test("bad options are rejected with the field named", () => {
  const bad: [Parameters<typeof resolveOptions>[0], RegExp][] = [
    [{ hostname: "0.0.0.0" }, /loopback/],
    [{ port: 70000 }, /port/],
    [{ port: 1.5 }, /port/],
    [{ projects: [{ id: "Bad_Id", number: "1" }] }, /project id/],
    [{ projects: [{ id: "good-proj", number: "0123" }] }, /project number/],
    [
      { projects: [{ id: "good-proj", number: "1" }, { id: "good-proj", number: "2" }] },
      /duplicate/,
    ],
    [{ engineer: { email: "not-an-email" } }, /engineer email/],
    [{ engineer: { uniqueId: "abc" } }, /uniqueId/],
    [{ engineer: { clientSecret: "" } }, /clientSecret is empty/],
    [{ serviceAccounts: [{ email: "nope" }] }, /service account email/],
    [
      { serviceAccounts: [{ email: "a@b.iam.gserviceaccount.com", impersonators: ["x"] }] },
      /impersonator/,
    ],
    [{ serviceAccounts: [{ email: "a@b.iam.gserviceaccount.com", uniqueId: "x1" }] }, /uniqueId/],
    [{ serviceAccounts: [{ email: "a@b.io" }, { email: "A@b.io" }] }, /duplicate service account/],
  ];
  for (const [options, pattern] of bad) {
    assert.throws(() => resolveOptions(options), pattern, JSON.stringify(options));
  }
});
