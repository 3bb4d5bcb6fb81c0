import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.ts";
import { HttpError } from "../../src/errors.ts";
import { createMetadataApp, type MetadataAppOptions } from "../../src/metadata/app.ts";
import type { MetadataBackend } from "../../src/metadata/backend.ts";
import { hostAllowed } from "../../src/metadata/host_check.ts";
import { MetadataStore } from "../../src/metadata/store.ts";
import { defaultInstance, type VmValues } from "../../src/metadata/vm_tree.ts";
import { FakeBackend, jwtPayload, ManualScheduler } from "./fakes.ts";

const PROJECT = "demo-project";
const SA = "dev-runner@demo-project.iam.gserviceaccount.com";
const CLOUD = "https://www.googleapis.com/auth/cloud-platform";
const BASE = "/computeMetadata/v1";
const H = { "Metadata-Flavor": "Google" };

function values(extra: Partial<VmValues> = {}): VmValues {
  return {
    projectId: PROJECT,
    serviceAccountEmail: SA,
    scopes: [CLOUD],
    instance: { ...defaultInstance(PROJECT), tags: ["web", "dev"], attributes: { k: "v1" } },
    projectAttributes: { "ssh-keys": "none" },
    ...extra,
  };
}

interface Harness {
  clock: ManualClock;
  backend: FakeBackend;
  store: MetadataStore;
  scheduler: ManualScheduler;
  logs: string[];
  get(path: string, headers?: Record<string, string>, method?: string): Promise<Response>;
  waits: ReturnType<typeof createMetadataApp>["waits"];
}

function harness(
  over: Partial<VmValues> = {},
  options: Partial<MetadataAppOptions> & { backend?: MetadataBackend } = {},
): Harness {
  const clock = new ManualClock();
  const backend = new FakeBackend(clock);
  const store = new MetadataStore(values(over));
  const scheduler = new ManualScheduler();
  const logs: string[] = [];
  const { app, waits } = createMetadataApp({
    backend,
    store,
    clock,
    scheduler,
    hostAllowed: (h) => hostAllowed(h, "127.0.0.1", 8173),
    log: (l) => logs.push(l),
    ...options,
  });
  return {
    clock,
    backend,
    store,
    scheduler,
    logs,
    waits,
    get: (path, headers = H, method = "GET") =>
      Promise.resolve(app.fetch(
        new Request(`http://127.0.0.1:8173${path}`, {
          method,
          headers: { host: "127.0.0.1:8173", ...headers },
        }),
        undefined,
      )),
  };
}

/** Asserts the headers every response carries, errors and redirects included. */
function assertStandard(res: Response): void {
  assert.equal(res.headers.get("metadata-flavor"), "Google");
  assert.equal(res.headers.get("server"), "Metadata Server for VM");
  assert.equal(res.headers.get("cache-control"), "no-transform");
  assert.equal(res.headers.get("content-encoding"), null);
  assert.ok(res.headers.get("content-type"), "explicit content type");
}

async function expectValue(
  h: Harness,
  path: string,
  body: string,
  type = "application/text",
): Promise<Response> {
  const res = await h.get(path);
  assertStandard(res);
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  assert.equal(res.headers.get("content-type"), type);
  assert.equal(await res.text(), body);
  return res;
}

const ETAG = /^[0-9a-f]{16}$/;

Deno.test("A1/A2: / answers 200 with or without the flavor header", async () => {
  const h = harness();
  for (const headers of [{}, H, { "Metadata-Flavor": "nope" }] as Record<string, string>[]) {
    const res = await h.get("/", headers);
    assertStandard(res);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/text");
    assert.equal(await res.text(), "computeMetadata/\n");
  }
});

Deno.test("A3/A4: /computeMetadata/ lists v1/; directories without a slash redirect", async () => {
  const h = harness();
  await expectValue(h, "/computeMetadata/", "v1/\n");
  for (
    const [path, location] of [
      ["/computeMetadata", "http://127.0.0.1:8173/computeMetadata/"],
      [`${BASE}?recursive=true`, "http://127.0.0.1:8173/computeMetadata/v1/?recursive=true"],
      [`${BASE}/instance`, "http://127.0.0.1:8173/computeMetadata/v1/instance/"],
      [
        `${BASE}/instance/service-accounts?recursive=true&alt=json`,
        "http://127.0.0.1:8173/computeMetadata/v1/instance/service-accounts/?recursive=true&alt=json",
      ],
    ]
  ) {
    const res = await h.get(path);
    assertStandard(res);
    assert.equal(res.status, 301, path);
    assert.equal(res.headers.get("location"), location);
    assert.equal(res.headers.get("content-type"), "text/html");
    assert.equal(await res.text(), `${new URL(location).pathname}\n`);
  }
});

Deno.test("the redirect Location is built from the request's Host", async () => {
  const h = harness();
  const res = await h.get(`${BASE}/instance`, { ...H, host: "metadata.google.internal" });
  assert.equal(res.status, 301);
  assert.equal(
    res.headers.get("location"),
    "http://metadata.google.internal/computeMetadata/v1/instance/",
  );
  await res.body?.cancel();
});

Deno.test("A5/A6/A7: the flavor header is required, exactly Google, name case-insensitive", async () => {
  const h = harness();
  for (
    const headers of [{}, { "Metadata-Flavor": "google" }, { "Metadata-Flavor": "Foo" }] as Record<
      string,
      string
    >[]
  ) {
    const res = await h.get(`${BASE}/instance/id`, headers);
    assertStandard(res);
    assert.equal(res.status, 403);
    assert.equal(res.headers.get("content-type"), "text/html; charset=UTF-8");
    const body = await res.text();
    assert.match(body, /Missing Metadata-Flavor:Google header\./);
    assert.match(body, /<code>\/computeMetadata\/v1\/instance\/id<\/code>/);
  }
  const ok = await h.get(`${BASE}/instance/id`, { "metadata-flavor": "Google" });
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  for (const path of ["/computeMetadata/", "/identity", "/nope", "/?recursive=true"]) {
    const res = await h.get(path, {});
    assertStandard(res);
    assert.equal(res.status, 403, path);
    await res.body?.cancel();
  }
});

Deno.test("A8: any request with X-Forwarded-For is refused, even /", async () => {
  const h = harness();
  for (
    const path of [
      "/",
      `${BASE}/project/project-id`,
      `${BASE}/instance/service-accounts/default/token`,
    ]
  ) {
    const res = await h.get(path, { ...H, "X-Forwarded-For": "1.2.3.4" });
    assertStandard(res);
    assert.equal(res.status, 403, path);
    assert.match(await res.text(), /X-Forwarded-For/);
  }
  assert.equal(h.backend.tokenCalls.length, 0);
});

Deno.test("A11: non-GET methods are refused with 405 and Allow: GET", async () => {
  const h = harness();
  for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]) {
    for (const path of ["/", `${BASE}/instance/service-accounts/default/token`]) {
      const res = await h.get(path, H, method);
      assertStandard(res);
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(res.headers.get("allow"), "GET");
      await res.body?.cancel();
    }
  }
  assert.equal(h.backend.tokenCalls.length, 0);
});

Deno.test("A12: legacy and unknown paths are 404 HTML pages with the standard headers", async () => {
  const h = harness();
  for (
    const path of [
      "/computeMetadata/v1beta1/",
      "/0.1/meta-data/",
      `${BASE}/instance/nope`,
      `${BASE}/instance/attributes/nope`,
      `${BASE}/project/project-id/`,
      `${BASE}/instance/service-accounts/default/token/`,
      "/session-health",
      `${BASE}/instance/%E0%A4%A`,
    ]
  ) {
    const res = await h.get(path);
    assertStandard(res);
    assert.equal(res.status, 404, path);
    assert.equal(res.headers.get("content-type"), "text/html; charset=UTF-8");
    assert.match(await res.text(), /was not found on this server/);
  }
});

Deno.test("error pages escape the request path", async () => {
  const h = harness();
  // The URL parser percent-encodes < > and "; ' and & reach the page and must be escaped.
  const res = await h.get(`${BASE}/a'&b<c`);
  const body = await res.text();
  assert.match(body, /<code>\/computeMetadata\/v1\/a&#39;&amp;b%3Cc<\/code>/);
});

Deno.test("A13: a Host outside the allowlist is refused before anything else", async () => {
  const h = harness();
  for (const host of ["evil.example", "evil.example:8173", "127.0.0.1:9999", "metadata:1234"]) {
    const res = await h.get("/", { ...H, host });
    assertStandard(res);
    assert.equal(res.status, 403, host);
    await res.body?.cancel();
  }
  for (
    const host of [
      "127.0.0.1:8173",
      "localhost:8173",
      "169.254.169.254",
      "metadata.google.internal",
      "metadata.google.internal.",
      "metadata",
      "METADATA.google.internal:80",
    ]
  ) {
    const res = await h.get("/", { ...H, host });
    assert.equal(res.status, 200, host);
    await res.body?.cancel();
  }
});

Deno.test("A10: repeated slashes are treated as one", async () => {
  const h = harness();
  const a = await (await h.get(`${BASE}/?recursive=true`)).text();
  const res = await h.get(`/computeMetadata/v1//?recursive=true`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), a);
  await expectValue(h, `//computeMetadata//v1//project//project-id`, PROJECT);
});

Deno.test("B1/B2: project id and numeric id with ETags", async () => {
  const h = harness();
  const res = await expectValue(h, `${BASE}/project/project-id`, PROJECT);
  assert.match(res.headers.get("etag")!, ETAG);
  const num = await expectValue(h, `${BASE}/project/numeric-project-id`, "123456789012");
  assert.match(num.headers.get("etag")!, ETAG);
  await expectValue(h, `${BASE}/project/`, "attributes/\nnumeric-project-id\nproject-id\n");
  await expectValue(h, `${BASE}/project/attributes/`, "ssh-keys\n");
  await expectValue(h, `${BASE}/project/attributes/ssh-keys`, "none");
});

Deno.test("B3-B7/B12: instance values", async () => {
  const h = harness();
  const inst = defaultInstance(PROJECT);
  await expectValue(h, `${BASE}/instance/zone`, "projects/123456789012/zones/us-central1-a");
  const id = await (await h.get(`${BASE}/instance/id`)).text();
  assert.match(id, /^[0-9]{19}$/);
  assert.equal(id, inst.id);
  await expectValue(h, `${BASE}/instance/name`, "authcalator");
  await expectValue(
    h,
    `${BASE}/instance/hostname`,
    "authcalator.us-central1-a.c.demo-project.internal",
  );
  await expectValue(h, `${BASE}/instance/tags`, '["web","dev"]', "application/json");
  await expectValue(h, `${BASE}/instance/attributes/`, "k\n");
  await expectValue(h, `${BASE}/instance/attributes/k`, "v1");
  await expectValue(
    h,
    `${BASE}/instance/`,
    "attributes/\nhostname\nid\nname\nservice-accounts/\ntags\nzone\n",
  );
  await expectValue(h, `${BASE}/`, "instance/\nproject/\nuniverse/\n");
});

Deno.test("B9/B10: universe-domain is served; universe_domain is 404 in googleapis.com", async () => {
  const h = harness();
  await expectValue(h, `${BASE}/universe/universe-domain`, "googleapis.com");
  const res = await h.get(`${BASE}/universe/universe_domain`);
  assertStandard(res);
  assert.equal(res.status, 404);
  await res.body?.cancel();
  await expectValue(h, `${BASE}/universe/`, "universe-domain\n");
});

Deno.test("universe_domain is served in another universe (x/oauth2 and gcloud read it)", async () => {
  const h = harness();
  h.backend.universe = "sovereign.example";
  await expectValue(h, `${BASE}/universe/universe_domain`, "sovereign.example");
  await expectValue(h, `${BASE}/universe/universe-domain`, "sovereign.example");
});

Deno.test("B13: ?recursive=true on the root: camelCase keys, exact numbers, no token", async () => {
  const h = harness();
  const res = await h.get(`${BASE}/?recursive=true`);
  assertStandard(res);
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.match(res.headers.get("etag")!, ETAG);
  const text = await res.text();
  const id = defaultInstance(PROJECT).id;
  assert.ok(text.includes(`"id":${id}`), "instance id stays an exact number");
  assert.ok(text.includes(`"numericProjectId":123456789012`));
  assert.ok(!text.includes("token") && !text.includes("identity"));
  const tree = JSON.parse(text);
  assert.deepEqual(Object.keys(tree), ["instance", "project", "universe"]);
  assert.equal(tree.project.projectId, PROJECT);
  assert.equal(tree.universe.universeDomain, "googleapis.com");
  assert.deepEqual(tree.instance.attributes, { k: "v1" });
  assert.deepEqual(tree.project.attributes, { "ssh-keys": "none" });
  assert.deepEqual(tree.instance.tags, ["web", "dev"]);
  assert.deepEqual(tree.instance.serviceAccounts.default, {
    aliases: ["default"],
    email: SA,
    scopes: [CLOUD],
  });
  assert.deepEqual(tree.instance.serviceAccounts[SA], tree.instance.serviceAccounts.default);
  assert.equal(tree.instance.zone, "projects/123456789012/zones/us-central1-a");
});

Deno.test("B14/B15: alt=json on values, alt=text on recursive directories", async () => {
  const h = harness();
  await expectValue(
    h,
    `${BASE}/instance/hostname?alt=json`,
    '"authcalator.us-central1-a.c.demo-project.internal"',
    "application/json",
  );
  await expectValue(
    h,
    `${BASE}/project/numeric-project-id?alt=json`,
    "123456789012",
    "application/json",
  );
  await expectValue(h, `${BASE}/instance/tags?alt=text`, "web\ndev\n");
  await expectValue(
    h,
    `${BASE}/instance/service-accounts/default/scopes?alt=json`,
    `["${CLOUD}"]`,
    "application/json",
  );
  await expectValue(
    h,
    `${BASE}/instance/service-accounts/default/?recursive=true&alt=text`,
    `aliases/0 default\nemail ${SA}\nscopes/0 ${CLOUD}\n`,
  );
  await expectValue(h, `${BASE}/instance/attributes/?recursive=true&alt=text`, "k v1\n");
  const res = await h.get(`${BASE}/instance/?alt=json`);
  assert.equal(res.status, 400);
  assertStandard(res);
  await res.body?.cancel();
  const bad = await h.get(`${BASE}/project/project-id?alt=xml`);
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /alt must be json or text/);
});

Deno.test("ETags hash the default representation, so alt does not change them", async () => {
  const h = harness();
  const a = await h.get(`${BASE}/instance/attributes/?recursive=true`);
  const b = await h.get(`${BASE}/instance/attributes/?recursive=true&alt=text`);
  assert.equal(a.headers.get("etag"), b.headers.get("etag"));
  const c = await h.get(`${BASE}/instance/hostname?alt=json`);
  const d = await h.get(`${BASE}/instance/hostname`);
  assert.equal(c.headers.get("etag"), d.headers.get("etag"));
  await Promise.all([a, b, c, d].map((r) => r.body?.cancel()));
});

Deno.test("C1/C2/C3: the service-accounts directory lists default and the email", async () => {
  const h = harness();
  const res = await h.get(`${BASE}/instance/service-accounts`);
  assert.equal(res.status, 301);
  await res.body?.cancel();
  await expectValue(h, `${BASE}/instance/service-accounts/`, `default/\n${SA}/\n`);
  const rec = await expectValue(
    h,
    `${BASE}/instance/service-accounts/?recursive=true`,
    JSON.stringify({
      default: { aliases: ["default"], email: SA, scopes: [CLOUD] },
      [SA]: { aliases: ["default"], email: SA, scopes: [CLOUD] },
    }),
    "application/json",
  );
  assert.match(rec.headers.get("etag")!, ETAG);
});

Deno.test("C4-C8: every per-account path under both names", async () => {
  const h = harness();
  for (const acct of ["default", SA, encodeURIComponent(SA)]) {
    const base = `${BASE}/instance/service-accounts/${acct}`;
    await expectValue(h, `${base}/`, "aliases\nemail\nidentity\nscopes\ntoken\n");
    await expectValue(
      h,
      `${base}/?recursive=true`,
      JSON.stringify({ aliases: ["default"], email: SA, scopes: [CLOUD] }),
      "application/json",
    );
    await expectValue(h, `${base}/email`, SA);
    await expectValue(h, `${base}/scopes`, `${CLOUD}\n`);
    await expectValue(h, `${base}/aliases`, "default\n");
    const token = await h.get(`${base}/token`);
    assert.equal(token.status, 200);
    await token.body?.cancel();
    const id = await h.get(`${base}/identity?audience=x`);
    assert.equal(id.status, 200);
    await id.body?.cancel();
  }
});

Deno.test("C9: unknown accounts are 404 on every path", async () => {
  const h = harness();
  for (const leaf of ["", "email", "token", "identity?audience=x", "scopes"]) {
    for (const acct of ["nobody@x.iam.gserviceaccount.com", "12345", "default-prod"]) {
      const res = await h.get(`${BASE}/instance/service-accounts/${acct}/${leaf}`);
      assertStandard(res);
      assert.equal(res.status, 404, `${acct}/${leaf}`);
      await res.body?.cancel();
    }
  }
  assert.equal(h.backend.tokenCalls.length, 0);
});

Deno.test("without a configured email only default is listed, email is 404, recursive says default", async () => {
  const h = harness({ serviceAccountEmail: undefined });
  await expectValue(h, `${BASE}/instance/service-accounts/`, "default/\n");
  const res = await h.get(`${BASE}/instance/service-accounts/default/email`);
  assert.equal(res.status, 404);
  await res.body?.cancel();
  await expectValue(
    h,
    `${BASE}/instance/service-accounts/default/?recursive=true`,
    JSON.stringify({ aliases: ["default"], email: "default", scopes: [CLOUD] }),
    "application/json",
  );
});

Deno.test("C10/C13: token JSON, the same token in the cache window, expires_in counting down", async () => {
  const h = harness();
  const url = `${BASE}/instance/service-accounts/default/token`;
  const res = await h.get(url);
  assertStandard(res);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.equal(res.headers.get("etag"), null);
  const first = await res.json();
  assert.deepEqual(Object.keys(first).sort(), ["access_token", "expires_in", "token_type"]);
  assert.equal(first.token_type, "Bearer");
  assert.equal(first.expires_in, 3600);
  h.clock.advance(61_000);
  const second = await (await h.get(url)).json();
  assert.equal(second.access_token, first.access_token);
  assert.equal(second.expires_in, 3539);
  assert.deepEqual(h.backend.tokenCalls, [[CLOUD], [CLOUD]]);
});

Deno.test("C12: ?scopes= is decoded, split on commas and passed to the backend", async () => {
  const h = harness();
  const scopes = `${CLOUD},https://www.googleapis.com/auth/userinfo.email`;
  const res = await h.get(
    `${BASE}/instance/service-accounts/${SA}/token?scopes=${encodeURIComponent(scopes)}`,
  );
  assert.equal(res.status, 200);
  await res.body?.cancel();
  const plain = await h.get(
    `${BASE}/instance/service-accounts/default/token?scopes=a,%20b,,a`,
  );
  assert.equal(plain.status, 200);
  await plain.body?.cancel();
  assert.deepEqual(h.backend.tokenCalls, [scopes.split(","), ["a", "b"]]);
  const bad = await h.get(`${BASE}/instance/service-accounts/default/token?scopes=a%09b`);
  assert.equal(bad.status, 400);
  await bad.body?.cancel();
});

Deno.test("C15: token alt=text", async () => {
  const h = harness();
  await expectValue(
    h,
    `${BASE}/instance/service-accounts/default/token?alt=text`,
    "access_token ya29.fake-1\nexpires_in 3600\ntoken_type Bearer",
  );
});

Deno.test("C17: backend failures keep their status and code; 5xx are logged without tokens", async () => {
  const h = harness();
  h.backend.failWith = new HttpError(500, "ADC needs re-authentication", "credentials_expired");
  const res = await h.get(`${BASE}/instance/service-accounts/default/token`);
  assertStandard(res);
  assert.equal(res.status, 500);
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.deepEqual(await res.json(), {
    error: "ADC needs re-authentication",
    code: "credentials_expired",
  });
  assert.equal(h.logs.length, 1);
  assert.match(h.logs[0], /token -> 500: ADC needs re-authentication/);
  h.backend.failWith = new HttpError(503, "gate unreachable");
  const num = await h.get(`${BASE}/project/numeric-project-id`);
  assert.equal(num.status, 503);
  await num.body?.cancel();
});

Deno.test("a token at the end of its life is never served with expires_in 0", async () => {
  const clock = new ManualClock();
  const backend = new FakeBackend(clock, 500);
  const h = harness({}, { backend, clock });
  const res = await h.get(`${BASE}/instance/service-accounts/default/token`);
  assert.equal(res.status, 503);
  await res.body?.cancel();
});

Deno.test("D1/D2/D5: identity tokens with audience and format", async () => {
  const h = harness();
  const base = `${BASE}/instance/service-accounts/default/identity`;
  const res = await h.get(`${base}?audience=https://svc.example`);
  assertStandard(res);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/text");
  const std = jwtPayload(await res.text());
  assert.equal(std.aud, "https://svc.example");
  assert.equal(std.email, undefined);
  const full = await h.get(`${base}?format=full&audience=https://svc.example`);
  assert.equal(jwtPayload(await full.text()).email_verified, true);
  const lic = await h.get(`${base}?audience=a&format=full&licenses=TRUE`);
  assert.equal(lic.status, 200);
  await lic.body?.cancel();
  assert.deepEqual(h.backend.idTokenCalls, [
    ["https://svc.example", "standard"],
    ["https://svc.example", "full"],
    ["a", "full"],
  ]);
});

Deno.test("D4: identity without an audience, or with bad format/licenses, is 400", async () => {
  const h = harness();
  const base = `${BASE}/instance/service-accounts/default/identity`;
  for (
    const [q, message] of [
      ["", "non-empty audience parameter required"],
      ["?audience=", "non-empty audience parameter required"],
      ["?audience=a&format=weird", "format must be standard or full"],
      ["?audience=a&licenses=maybe", "licenses must be TRUE or FALSE"],
    ]
  ) {
    const res = await h.get(`${base}${q}`);
    assertStandard(res);
    assert.equal(res.status, 400, q);
    assert.equal(await res.text(), message);
  }
  assert.equal(h.backend.idTokenCalls.length, 0);
});

Deno.test("gate-facing /identity answers the engineer's email as JSON", async () => {
  const h = harness();
  const res = await h.get("/identity");
  assertStandard(res);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.deepEqual(await res.json(), { email: "engineer@example.com" });
  h.backend.failWith = new HttpError(500, "expired", "credentials_expired");
  const bad = await h.get("/identity");
  assert.equal(bad.status, 500);
  assert.deepEqual(await bad.json(), { error: "expired", code: "credentials_expired" });
});

Deno.test("/session-health exists only when the backend has a health check", async () => {
  const clock = new ManualClock();
  let healthy = true;
  const backend = Object.assign(new FakeBackend(clock), {
    sessionHealth: () => healthy ? Promise.resolve() : Promise.reject(new Error("session ended")),
  });
  const h = harness({}, { backend, clock });
  const ok = await h.get("/session-health");
  assertStandard(ok);
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { status: "ok" });
  healthy = false;
  const gone = await h.get("/session-health");
  assert.equal(gone.status, 503);
  assert.deepEqual(await gone.json(), { error: "session ended" });
  const noFlavor = await h.get("/session-health", {});
  assert.equal(noFlavor.status, 403);
  await noFlavor.body?.cancel();
});

Deno.test("the request guard runs first and its refusal gets the standard headers", async () => {
  const seen: string[] = [];
  const h = harness({}, {
    guard: (req) => {
      seen.push(new URL(req.url).pathname);
      return req.headers.get("x-caller") === "ok"
        ? undefined
        : new Response("Forbidden", { status: 403, headers: { "Content-Type": "text/plain" } });
    },
  });
  const refused = await h.get("/", { "X-Forwarded-For": "1.1.1.1" });
  assertStandard(refused);
  assert.equal(refused.status, 403);
  assert.equal(await refused.text(), "Forbidden");
  const ok = await h.get(`${BASE}/project/project-id`, { ...H, "x-caller": "ok" });
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  assert.deepEqual(seen, ["/", `${BASE}/project/project-id`]);
});

Deno.test("E1/E2: ETags are stable, change with the value, and last_etag=NONE returns at once", async () => {
  const h = harness();
  const path = `${BASE}/instance/attributes/k`;
  const a = (await h.get(path)).headers.get("etag");
  const b = (await h.get(path)).headers.get("etag");
  assert.equal(a, b);
  const now = await h.get(`${path}?wait_for_change=true&last_etag=NONE`);
  assert.equal(now.status, 200);
  assert.equal(await now.text(), "v1");
  h.store.update((v) => ({ ...v, instance: { ...v.instance, attributes: { k: "v2" } } }));
  const c = (await h.get(path)).headers.get("etag");
  assert.notEqual(c, a);
  assert.match(c!, ETAG);
  assert.equal(h.waits.active, 0);
});

/** Lets pending promise callbacks run (no time passes). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await new Promise((r) => setTimeout(r, 0));
}

Deno.test("E3: with no change the wait ends at timeout_sec with the same value and ETag", async () => {
  const h = harness();
  const path = `${BASE}/instance/attributes/k`;
  const etag = (await h.get(path)).headers.get("etag")!;
  let done = false;
  const pending = h.get(`${path}?wait_for_change=true&last_etag=${etag}&timeout_sec=2`)
    .then((r) => {
      done = true;
      return r;
    });
  await settle();
  assert.equal(h.waits.active, 1);
  h.scheduler.advance(1999);
  await settle();
  assert.equal(done, false);
  h.scheduler.advance(1);
  const res = await pending;
  assert.equal(res.headers.get("etag"), etag);
  assert.equal(await res.text(), "v1");
  assert.equal(h.waits.active, 0);
});

Deno.test("E4/E6: a change releases the waiter with the new value and ETag", async () => {
  const h = harness();
  const leaf = `${BASE}/instance/attributes/k`;
  const dirPath = `${BASE}/instance/attributes/?recursive=true&alt=json`;
  const etag = (await h.get(leaf)).headers.get("etag")!;
  const dirEtag = (await h.get(dirPath)).headers.get("etag")!;
  const waitLeaf = h.get(`${leaf}?wait_for_change=true&last_etag=${etag}&timeout_sec=60`);
  const waitDir = h.get(`${dirPath}&wait_for_change=true&last_etag=${dirEtag}&timeout_sec=60`);
  await settle();
  assert.equal(h.waits.active, 2);
  // An unrelated change wakes both, but neither value moved: they keep waiting.
  h.store.update((v) => ({ ...v, projectAttributes: { other: "x" } }));
  await settle();
  assert.equal(h.waits.active, 2);
  h.store.update((v) => ({ ...v, instance: { ...v.instance, attributes: { k: "v2" } } }));
  const [l, d] = await Promise.all([waitLeaf, waitDir]);
  assert.equal(await l.text(), "v2");
  assert.notEqual(l.headers.get("etag"), etag);
  assert.deepEqual(await d.json(), { k: "v2" });
  assert.notEqual(d.headers.get("etag"), dirEtag);
  assert.equal(h.scheduler.pending, 0, "timers are cancelled");
});

Deno.test("E5/E8: wait_for_change on a plain directory or with a bad timeout is 400", async () => {
  const h = harness();
  for (
    const q of [
      `${BASE}/instance/attributes/?wait_for_change=true`,
      `${BASE}/instance/attributes/k?wait_for_change=true&timeout_sec=abc`,
      `${BASE}/instance/attributes/k?wait_for_change=maybe`,
      `${BASE}/instance/service-accounts/default/token?wait_for_change=true`,
    ]
  ) {
    const res = await h.get(q);
    assertStandard(res);
    assert.equal(res.status, 400, q);
    await res.body?.cancel();
  }
  assert.equal(h.waits.active, 0);
});

Deno.test("E7: without timeout_sec the wait is still bounded (300 s)", async () => {
  const h = harness();
  const path = `${BASE}/project/project-id`;
  const etag = (await h.get(path)).headers.get("etag")!;
  const pending = h.get(`${path}?wait_for_change=true&last_etag=${etag}`);
  await settle();
  assert.equal(h.waits.active, 1);
  h.scheduler.advance(300_000);
  assert.equal((await pending).status, 200);
  assert.equal(h.waits.active, 0);
});

Deno.test("waiters beyond the cap get 429; stop releases every waiter", async () => {
  const stop = new AbortController();
  const h = harness({}, { maxWaiters: 2, stop: stop.signal });
  const path = `${BASE}/project/project-id`;
  const etag = (await h.get(path)).headers.get("etag")!;
  const hang = () => h.get(`${path}?wait_for_change=true&last_etag=${etag}&timeout_sec=60`);
  const waiting = [hang(), hang()];
  await settle();
  const over = await hang();
  assertStandard(over);
  assert.equal(over.status, 429);
  await over.body?.cancel();
  stop.abort();
  for (const r of await Promise.all(waiting)) {
    assert.equal(r.status, 200);
    await r.body?.cancel();
  }
  assert.equal(h.waits.active, 0);
});
