import assert from "node:assert/strict";
import {
  AUDIT_UNAVAILABLE,
  type AuditLog,
  FileAuditLog,
  MemoryAuditLog,
} from "../../src/gate/audit.ts";
import { ManualClock } from "../../src/clock.ts";
import { HttpError } from "../../src/errors.ts";
import { testGate } from "./gate_fixture.ts";

function setup(auditLog?: AuditLog) {
  const gate = testGate({
    flags: { token_ttl_seconds: "1800" },
    // Tests that pass their own log read it themselves; `entries` is for the default one.
    audit: (auditLog ?? new MemoryAuditLog()) as MemoryAuditLog,
    uptimeMs: 5500,
  });
  const { clock, tokens, audit, app, logs, layer: prod } = gate;
  const get = (path: string, init?: RequestInit) => app.request(`http://gate${path}`, init);
  return { clock, tokens, audit, app, get, logs, prod };
}

async function body(res: Response) {
  assert.equal(res.headers.get("content-type"), "application/json");
  return await res.json();
}

Deno.test("GET /health reports uptime", async () => {
  const { get } = setup();
  const res = await get("/health");
  assert.equal(res.status, 200);
  assert.deepEqual(await body(res), { status: "ok", uptime_seconds: 5 });
});

Deno.test("identity, project number and universe domain", async () => {
  const { get } = setup();
  assert.deepEqual(await body(await get("/identity")), { email: "engineer@example.com" });
  assert.deepEqual(await body(await get("/project-number")), { project_number: "123456789012" });
  assert.deepEqual(await body(await get("/universe-domain")), {
    universe_domain: "googleapis.com",
  });
});

Deno.test("dev /token: default scope and configured TTL; expires_in counts down", async () => {
  const { get, tokens, clock, audit } = setup();
  const res = await get("/token");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store, no-transform");
  assert.deepEqual(await body(res), {
    access_token: "ya29.dev-1",
    expires_in: 1800,
    token_type: "Bearer",
  });
  assert.deepEqual(tokens.devCalls[0], {
    scopes: ["https://www.googleapis.com/auth/cloud-platform"],
    ttl: 1800,
  });
  const expiresAt = clock.now() + 1800_000;
  tokens.devToken = () => Promise.resolve({ accessToken: "ya29.fixed", expiresAt });
  clock.advance(1500);
  assert.equal((await body(await get("/token"))).expires_in, 1798);
  clock.advance(1800_000);
  assert.equal((await body(await get("/token"))).expires_in, 0);
  assert.deepEqual(audit.entries[0], {
    endpoint: "/token",
    level: "dev",
    socket: "main",
    scopes: ["https://www.googleapis.com/auth/cloud-platform"],
    token_ttl_seconds: undefined,
    result: "granted",
  });
  assert.ok(!JSON.stringify(audit.entries).includes("ya29"));
});

Deno.test("dev /token: scopes and token_ttl_seconds are passed through", async () => {
  const { get, tokens } = setup();
  await get("/token?scopes=a,b&token_ttl_seconds=600");
  assert.deepEqual(tokens.devCalls[0], { scopes: ["a", "b"], ttl: 600 });
});

Deno.test("dev /token: bad token_ttl_seconds and scopes are 400 with gcp-authcalator's messages", async () => {
  const { get, tokens } = setup();
  const cases: [string, string][] = [
    ["token_ttl_seconds=abc", "token_ttl_seconds must be an integer"],
    ["token_ttl_seconds=1.5", "token_ttl_seconds must be an integer"],
    ["token_ttl_seconds=", "token_ttl_seconds must be >= 60"],
    ["token_ttl_seconds=59", "token_ttl_seconds must be >= 60"],
    ["token_ttl_seconds=1801", "token_ttl_seconds (1801) exceeds configured maximum (1800)"],
    ["scopes=a%09b", "scopes must be a comma-separated list of printable scopes without spaces"],
    ["scopes=a%20b", "scopes must be a comma-separated list of printable scopes without spaces"],
    ["scopes=%C3%A9", "scopes must be a comma-separated list of printable scopes without spaces"],
    [
      `scopes=${Array.from({ length: 51 }, (_, i) => `s${i}`).join(",")}`,
      "at most 50 scopes may be requested",
    ],
  ];
  for (const [query, error] of cases) {
    const res = await get(`/token?${query}`);
    assert.equal(res.status, 400, query);
    assert.deepEqual(await body(res), { error });
  }
  assert.equal(tokens.devCalls.length, 0);
});

Deno.test("dev /token failure: status, code and message pass through and are audited", async () => {
  const { get, tokens, audit } = setup();
  tokens.failWith = new HttpError(
    500,
    "ADC on host h need re-authentication",
    "credentials_expired",
  );
  const res = await get("/token");
  assert.equal(res.status, 500);
  assert.deepEqual(await body(res), {
    error: "ADC on host h need re-authentication",
    code: "credentials_expired",
  });
  assert.equal(audit.entries[0].result, "error");
  assert.equal(audit.entries[0].error, "ADC on host h need re-authentication");
  const id = await get("/identity");
  assert.equal(id.status, 500);
  assert.equal((await body(id)).code, "credentials_expired");
});

Deno.test("an unexpected error is a generic 500 and is logged scrubbed", async () => {
  const { get, tokens, logs } = setup();
  tokens.identityEmail = () => Promise.reject(new Error("boom ya29.secret-token-value"));
  const res = await get("/identity");
  assert.equal(res.status, 500);
  assert.deepEqual(await body(res), { error: "internal error" });
  assert.equal(logs.length, 1);
  assert.ok(!logs[0].includes("ya29.secret"), logs[0]);
});

Deno.test("/id-token requires an audience and a known format", async () => {
  const { get } = setup();
  assert.equal((await get("/id-token")).status, 400);
  assert.deepEqual(await body(await get("/id-token?audience=")), {
    error: "non-empty audience parameter required",
  });
  assert.deepEqual(await body(await get("/id-token?audience=x&format=weird")), {
    error: "format must be standard or full",
  });
  assert.equal((await get(`/id-token?audience=${"a".repeat(2049)}`)).status, 400);
  const ok = await body(await get("/id-token?audience=https://svc&format=full"));
  assert.match(ok.id_token, /^eyJ/);
  const claims = JSON.parse(atob(ok.id_token.split(".")[1]));
  assert.deepEqual(claims, { aud: "https://svc", includeEmail: true });
});

Deno.test("non-GET is 405 everywhere but /session, even on unknown paths; unknown GET is 404", async () => {
  const { get } = setup();
  for (const path of ["/token", "/health", "/nope"]) {
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const res = await get(path, { method });
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.deepEqual(await body(res), { error: "Method not allowed" });
    }
  }
  const res = await get("/nope");
  assert.equal(res.status, 404);
  assert.deepEqual(await body(res), { error: "Not found" });
  assert.equal((await get("/pending")).status, 404);
  assert.equal((await get("/session", { method: "PUT" })).status, 405);
});

Deno.test("the API app mounts the session routes and no admin route; the admin app no API route", async () => {
  const { get, prod, tokens } = setup();
  // Session routes are there (an unknown session is 401, not a 404 for a missing route).
  for (const path of ["/token?session=abc", "/session?id=x"]) {
    const res = await get(path);
    assert.equal(res.status, 401, path);
    assert.deepEqual(await body(res), { error: "Session expired or invalid" });
  }
  const gone = await get("/session?id=x", { method: "DELETE" });
  assert.deepEqual([gone.status, await body(gone)], [404, { error: "Session not found" }]);
  // Admin routes are absent from the API app: the generic 404 (GET) and 405 (POST), never served.
  for (const path of ["/pending", `/pending/${"a".repeat(32)}`]) {
    const res = await get(path);
    assert.deepEqual([res.status, await body(res)], [404, { error: "Not found" }]);
  }
  const approve = await get(`/pending/${"a".repeat(32)}/approve`, { method: "POST" });
  assert.equal(approve.status, 405);
  await approve.body?.cancel();
  // API routes are absent from the admin app.
  for (const path of ["/token", "/session?id=x", "/identity", "/token?level=prod"]) {
    const res = await prod.adminApp.request(`http://admin${path}`);
    assert.deepEqual([res.status, await res.json()], [404, { error: "Not found" }], path);
  }
  assert.equal(tokens.devCalls.length, 0);
  await prod.shutdown();
});

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-app-audit-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("defect 6: with audit.log unwritable (a directory) dev /token is 503 and no token leaves", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/audit.log`;
    Deno.mkdirSync(path);
    const stderr: string[] = [];
    const audit = new FileAuditLog({
      path,
      clock: new ManualClock(),
      log: (m) => stderr.push(m),
    });
    const { get, tokens, logs } = setup(audit);
    for (const path of ["/token", "/id-token?audience=https://svc"]) {
      const res = await get(path);
      assert.equal(res.status, 503, path);
      const got = await body(res);
      assert.equal(got.code, AUDIT_UNAVAILABLE);
      assert.equal(got.access_token, undefined);
      assert.equal(got.id_token, undefined);
      assert.ok(!String(got.error).includes(dir), "no host path reaches the container");
    }
    assert.equal(tokens.devCalls.length, 1, "the token was minted, then withheld");
    assert.equal(stderr.length, 1, "loud once per burst, not per request");
    assert.ok(stderr[0].includes(path));
    assert.deepEqual(logs, [], "no per-request line: the audit writer reports the burst");
  }));

Deno.test("audit_required = false: dev /token is still granted while the audit log is broken", async () => {
  const audit = new MemoryAuditLog();
  audit.broken = true;
  audit.required = false;
  const { get } = setup(audit);
  const res = await get("/token");
  assert.equal(res.status, 200);
  assert.match((await body(res)).access_token, /^ya29\./);
});

Deno.test("/id-token is audited: granted with its audience, failures with their message", async () => {
  const { get, audit, tokens } = setup();
  const memory = audit;
  assert.equal((await get("/id-token?audience=https://svc.example&format=full")).status, 200);
  assert.deepEqual(memory.entries.at(-1), {
    endpoint: "/id-token",
    level: "dev",
    socket: "main",
    audience: "https://svc.example",
    result: "granted",
  });
  tokens.idToken = () => Promise.reject(new HttpError(502, "Google answered 503", "google_error"));
  assert.equal((await get("/id-token?audience=https://svc.example")).status, 502);
  assert.equal(memory.entries.at(-1)!.result, "error");
  assert.equal(memory.entries.at(-1)!.error, "Google answered 503");
  // Bad input is refused before anything is minted, so it is not a grant or an error line.
  assert.equal((await get("/id-token")).status, 400);
  assert.equal(memory.entries.length, 2);
});

Deno.test("every failed mint is logged on the gate's log with its reason and no secret", async () => {
  const { get, tokens, logs } = setup();
  tokens.failWith = new HttpError(
    502,
    "Google's token endpoint answered 503 (refresh_token=1//0secret)",
    "google_unavailable",
  );
  assert.equal((await get("/token?scopes=a,b")).status, 502);
  assert.equal(logs.length, 1);
  assert.match(
    logs[0],
    /dev token \(scopes a,b, main socket\) not granted: 502 \[google_unavailable\]/,
  );
  assert.match(logs[0], /answered 503/);
  assert.ok(!logs[0].includes("1//0secret"), logs[0]);
  tokens.idToken = () => Promise.reject(new HttpError(504, "Google did not answer in 30 s"));
  assert.equal((await get("/id-token?audience=x")).status, 504);
  assert.match(logs[1], /identity token \(main socket\) not granted: 504 Google did not answer/);
});

Deno.test("secret scan: the audit file written through the app holds no token, id token or session id", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/audit.log`;
    const audit = new FileAuditLog({ path, clock: new ManualClock(), log: () => {} });
    const { get, tokens } = setup(audit);
    const handedOut: string[] = [];
    for (const q of ["", "?scopes=a", "?token_ttl_seconds=600"]) {
      handedOut.push((await body(await get(`/token${q}`))).access_token);
    }
    handedOut.push((await body(await get("/id-token?audience=https://svc"))).id_token);
    tokens.failWith = new HttpError(500, "failed with ya29.leaked-token and " + "f".repeat(64));
    assert.equal((await get("/token?scopes=z")).status, 500);
    const text = Deno.readTextFileSync(path);
    assert.equal(text.trimEnd().split("\n").length, 5);
    for (const secret of handedOut) assert.ok(!text.includes(secret), `leaked ${secret}`);
    assert.ok(!/ya29\.|1\/\/|eyJ|\b[0-9a-f]{64}\b/.test(text), text);
  }));
