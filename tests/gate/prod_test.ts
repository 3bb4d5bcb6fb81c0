/**
 * The prod layer through the gate's own app (dispatch included), over a fake token service. The
 * gate has no display and no terminal here, so every confirmation lands in the pending queue and
 * the tests decide through the admin app, as `authcalator approve` does.
 */
import assert from "node:assert/strict";
import { HttpError } from "../../src/errors.ts";
import { createGateApp } from "../../src/gate/app.ts";
import { auditUnavailable, mustBeAudited } from "../../src/gate/audit.ts";
import type { PeerEnv } from "../../src/gate/peer.ts";
import { dialogEnv } from "../../src/gate/prod.ts";
import { pairingCode } from "../../src/gate_api/pairing_code.ts";
import { FakeTokens } from "./fake_tokens.ts";
import { testGate } from "./gate_fixture.ts";
import { flush } from "./confirm/fake_timers.ts";

class CountingTokens extends FakeTokens {
  prodCalls: { scopes: string[]; ttl: number }[] = [];
  override prodToken(scopes: string[], ttl: number) {
    this.prodCalls.push({ scopes, ttl });
    return super.prodToken(scopes, ttl);
  }
}

function setup(flags: Record<string, string> = {}) {
  const gate = testGate({
    flags: { token_ttl_seconds: "3600", ...flags },
    tokens: (clock) => new CountingTokens(clock),
  });
  const { timers, clock, tokens, audit, logs, layer, app, deps } = gate;
  const call = async (path: string, init?: RequestInit): Promise<Response> =>
    await app.request(`http://gate${path}`, init);
  const admin = async (path: string, method = "GET"): Promise<Response> =>
    await layer.adminApp.request(`http://admin${path}`, { method });
  /** Waits until a request is queued and returns its id. */
  const queued = async (index = 0) => {
    for (let i = 0; i < 200; i++) {
      const list = (await (await admin("/pending")).json()).pending;
      if (list.length > index) return list[index].id as string;
      await flush();
      await new Promise((r) => setTimeout(r, 1)); // pairing codes are hashed off the microtask queue
    }
    throw new Error("nothing was queued");
  };
  return { timers, clock, tokens, audit, logs, layer, call, admin, queued, deps };
}

const CMD = ["gcloud", "sql", "connect", "db", "--password", "hunter2"];
const wrapped = { "X-Wrapped-Command": JSON.stringify(CMD), "X-Target-Project": " prod-proj " };

Deno.test("/token?level=prod: queued, approved on the admin socket, audited in full", async () => {
  const t = setup();
  const res = t.call("/token?level=prod", { headers: wrapped });
  const id = await t.queued();
  const shown = await (await t.admin(`/pending/${id}`)).json();
  assert.equal(shown.email, "engineer@example.com");
  assert.deepEqual(shown.command.argv, ["gcloud", "sql", "connect", "db", "--password", "***"]);
  assert.equal(shown.command.lines[5], "  6  ***");
  assert.equal(t.tokens.prodCalls.length, 0, "nothing is minted before the decision");
  const ok = await t.admin(`/pending/${id}/approve`, "POST");
  assert.deepEqual(await ok.json(), { status: "approved" });
  const r = await res;
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("cache-control"), "no-store, no-transform");
  assert.deepEqual(await r.json(), {
    access_token: "ya29.prod",
    expires_in: 3600,
    token_type: "Bearer",
    email: "engineer@example.com",
  });
  assert.deepEqual(t.tokens.prodCalls, [{
    scopes: ["https://www.googleapis.com/auth/cloud-platform"],
    ttl: 3600,
  }]);
  const [approval, grant] = t.audit.entries;
  const code = await pairingCode(id);
  assert.equal(shown.pairingCode, code);
  assert.deepEqual(approval, {
    endpoint: `/pending/${id}/approve`,
    level: "prod",
    result: "granted",
    socket: "admin",
    email: "engineer@example.com",
    command: "gcloud sql connect db --password ***",
    pending_id: id,
    pairing_code: code,
    peer_verified: false,
    peer_uid: undefined,
    peer_pid: undefined,
    peer_ns_pid: undefined,
    peer_exe: undefined,
    peer_argv: undefined,
    command_mismatch: undefined,
  });
  assert.deepEqual(grant, {
    endpoint: "/token",
    level: "prod",
    result: "granted",
    socket: "main",
    scopes: ["https://www.googleapis.com/auth/cloud-platform"],
    token_ttl_seconds: undefined,
    command: "gcloud sql connect db --password ***",
    command_argv: ["gcloud", "sql", "connect", "db", "--password", "***"],
    command_truncated: undefined,
    target_project: "prod-proj",
    // The gate's own pending id (the client sent none) and its pairing code.
    pending_id: id,
    pairing_code: code,
    peer_verified: false,
    peer_uid: undefined,
    peer_pid: undefined,
    peer_ns_pid: undefined,
    peer_exe: undefined,
    peer_argv: undefined,
    command_mismatch: undefined,
    email: "engineer@example.com",
  });
  assert.ok(!JSON.stringify(t.audit.entries).includes("hunter2"));
  assert.ok(!t.logs.join("\n").includes("hunter2"));
});

Deno.test("a denial is 403, audited, and starts the 1 s cooldown (429)", async () => {
  const t = setup();
  const res = t.call("/token?level=prod");
  const id = await t.queued();
  assert.deepEqual(await (await t.admin(`/pending/${id}/deny`, "POST")).json(), {
    status: "denied",
  });
  const r = await res;
  assert.equal(r.status, 403);
  assert.deepEqual(await r.json(), { error: "Prod access denied by user", code: "prod_denied" });
  assert.equal(t.tokens.prodCalls.length, 0);
  assert.equal(t.audit.entries.at(-1)!.result, "denied");
  assert.equal(t.audit.entries.at(-1)!.email, "engineer@example.com");
  const again = await t.call("/token?level=prod");
  assert.equal(again.status, 429);
  assert.deepEqual(await again.json(), {
    error: "Prod access denied recently; retry in 1s",
    code: "prod_rate_limited",
  });
  assert.equal(t.audit.entries.at(-1)!.result, "rate_limited");
  t.clock.advance(1000);
  const third = t.call("/token?level=prod");
  await t.queued();
  await t.layer.shutdown();
  assert.equal((await third).status, 503);
});

Deno.test("unverified requesters share one slot: a second request during the first gets 429", async () => {
  const t = setup();
  const first = t.call("/token?level=prod");
  const id = await t.queued();
  const second = await t.call("/session", { method: "POST" });
  assert.equal(second.status, 429);
  assert.deepEqual(await second.json(), {
    error: "A prod confirmation from an unverified requester is already pending",
    code: "prod_rate_limited",
  });
  await t.admin(`/pending/${id}/approve`, "POST");
  assert.equal((await first).status, 200);
});

Deno.test("the 21st acquisition within a minute is refused", async () => {
  const t = setup();
  for (let i = 0; i < 20; i++) {
    const r = t.call("/token?level=prod");
    const id = await t.queued();
    await t.admin(`/pending/${id}/approve`, "POST");
    assert.equal((await r).status, 200);
  }
  const r = await t.call("/token?level=prod");
  assert.equal(r.status, 429);
  assert.deepEqual(await r.json(), {
    error: "Rate limit exceeded: max 20 prod attempts per 1 minutes",
    code: "prod_rate_limited",
  });
  t.clock.advance(60_000);
  const ok = t.call("/token?level=prod");
  const id = await t.queued();
  await t.admin(`/pending/${id}/approve`, "POST");
  assert.equal((await ok).status, 200);
});

Deno.test("sessions: create, validate, refresh without asking, revoke", async () => {
  const t = setup({ session_ttl_seconds: "600" });
  const created = t.call("/session?session_ttl_seconds=300", { method: "POST", headers: wrapped });
  const id = await t.queued();
  await t.admin(`/pending/${id}/approve`, "POST");
  const res = await created;
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.match(body.session_id, /^[0-9a-f]{64}$/);
  // The first token is clamped to the session's end.
  assert.deepEqual({ ...body, session_id: "x" }, {
    session_id: "x",
    access_token: "ya29.prod",
    expires_in: 300,
    token_type: "Bearer",
    email: "engineer@example.com",
  });
  const sid = body.session_id as string;
  assert.deepEqual(await (await t.call(`/session?id=${sid}`)).json(), { status: "active" });
  const refresh = await t.call(`/token?session=${sid}&level=prod`);
  assert.equal(refresh.status, 200);
  assert.deepEqual(await refresh.json(), {
    access_token: "ya29.prod",
    expires_in: 300,
    token_type: "Bearer",
  });
  assert.equal((await t.admin("/pending").then((r) => r.json())).pending.length, 0);
  const refreshEntry = t.audit.entries.at(-1)!;
  assert.equal(refreshEntry.command, "gcloud sql connect db --password ***");
  assert.equal(refreshEntry.command_argv, undefined);
  assert.equal(refreshEntry.target_project, "prod-proj");
  assert.match(refreshEntry.session_ref!, /^[0-9a-f]{12}$/);
  const del = await t.call(`/session?id=${sid}`, { method: "DELETE" });
  assert.deepEqual(await del.json(), { status: "revoked" });
  assert.equal(t.audit.entries.at(-1)!.result, "revoked");
  const after = await t.call(`/token?session=${sid}`);
  assert.equal(after.status, 401);
  assert.deepEqual(await after.json(), { error: "Session expired or invalid" });
  const again = await t.call(`/session?id=${sid}`, { method: "DELETE" });
  assert.equal(again.status, 404);
  assert.deepEqual(await again.json(), { error: "Session not found" });
  // No session id and no token anywhere in the audit log or the gate's log.
  const everything = JSON.stringify(t.audit.entries) + t.logs.join("\n");
  assert.ok(!everything.includes(sid));
  assert.ok(!everything.includes("ya29.prod"));
});

Deno.test("sessions expire at their TTL", async () => {
  const t = setup();
  const created = t.call("/session?session_ttl_seconds=300", { method: "POST" });
  await t.admin(`/pending/${await t.queued()}/approve`, "POST");
  const sid = (await (await created).json()).session_id;
  t.clock.advance(299_000);
  const late = await t.call(`/token?session=${sid}`);
  assert.equal((await late.json()).expires_in, 1);
  t.clock.advance(1000);
  assert.equal((await t.call(`/session?id=${sid}`)).status, 401);
});

Deno.test("session routes: missing ids are 400, other methods 405", async () => {
  const t = setup();
  for (const method of ["GET", "DELETE"]) {
    const r = await t.call("/session", { method });
    assert.equal(r.status, 400);
    assert.deepEqual(await r.json(), { error: "Missing session id" });
  }
  assert.equal((await t.call("/session", { method: "PUT" })).status, 405);
});

Deno.test("bad parameters are 400 before anything is asked or counted", async () => {
  const t = setup({ session_ttl_seconds: "600" });
  const cases: [string, RequestInit, string][] = [
    ["/token?level=prod&token_ttl_seconds=abc", {}, "token_ttl_seconds must be an integer"],
    ["/token?level=prod&token_ttl_seconds=59", {}, "token_ttl_seconds must be >= 60"],
    [
      "/token?level=prod&token_ttl_seconds=7200",
      {},
      "token_ttl_seconds (7200) exceeds configured maximum (3600)",
    ],
    [
      "/session?session_ttl_seconds=601",
      { method: "POST" },
      "session_ttl_seconds (601) exceeds configured maximum (600)",
    ],
    ["/session?session_ttl_seconds=299", { method: "POST" }, "session_ttl_seconds must be >= 300"],
    [
      "/token?level=prod",
      { headers: { "X-Pending-Id": "ABC" } },
      "X-Pending-Id must be exactly 32 lowercase hex characters",
    ],
    [
      "/session",
      { method: "POST", headers: { "x-session-hold": "yes" } },
      "x-session-hold must be 1 (or absent for an unheld session)",
    ],
    [
      "/token?level=prod",
      { headers: { "x-session-hold": "1" } },
      "x-session-hold applies to POST /session only",
    ],
  ];
  for (const [path, init, error] of cases) {
    const r = await t.call(path, init);
    assert.equal(r.status, 400, path);
    assert.deepEqual(await r.json(), { error }, path);
  }
  assert.equal(t.audit.entries.length, 0);
  // None of them used a rate-limit slot.
  const ok = t.call("/token?level=prod");
  await t.admin(`/pending/${await t.queued()}/approve`, "POST");
  assert.equal((await ok).status, 200);
});

Deno.test("pam_policy is a clear 501 (not a 500), asked of nobody and not audited (7.9)", async () => {
  const t = setup();
  const body = {
    error: "PAM entitlements are not served by this release of the gate; " +
      "ask without pam_policy (and unset pam_policy in the gate's configuration)",
    code: "pam_not_supported",
  };
  for (
    const [path, init] of [
      ["/token?level=prod&pam_policy=admin", {}],
      ["/session?pam_policy=admin", { method: "POST" }],
      ["/session?pam_policy=", { method: "POST" }],
    ] as const
  ) {
    const r = await t.call(path, init);
    assert.equal(r.status, 501, path);
    assert.deepEqual(await r.json(), body, path);
  }
  assert.equal(t.audit.entries.length, 0);
  assert.deepEqual(await (await t.admin("/pending")).json(), { pending: [] });
});

Deno.test("the client's X-Pending-Id names the queued request", async () => {
  const t = setup();
  const pid = "0123456789abcdef0123456789abcdef";
  const r = t.call("/token?level=prod", { headers: { "X-Pending-Id": pid } });
  assert.equal(await t.queued(), pid);
  assert.match(t.logs.join("\n"), new RegExp(`authcalator approve ${pid}`));
  await t.admin(`/pending/${pid}/approve`, "POST");
  assert.equal((await r).status, 200);
  assert.equal(t.audit.entries.at(-1)!.pending_id, pid);
});

Deno.test("a queued request expires after 120 s: 408 prod_request_expired, not a denial (8.5)", async () => {
  const t = setup();
  const r = t.call("/token?level=prod");
  const id = await t.queued();
  await t.timers.advance(120_000);
  const res = await r;
  assert.equal(res.status, 408);
  assert.deepEqual(await res.json(), {
    error: "Prod request expired: nobody approved it on the host in time",
    code: "prod_request_expired",
  });
  assert.equal(t.audit.entries.at(-1)!.result, "expired");
  const late = await t.admin(`/pending/${id}/approve`, "POST");
  assert.equal(late.status, 410);
  assert.deepEqual(await late.json(), {
    error: "The request expired: nobody decided within its time",
    code: "pending_expired",
  });
  // No cooldown: only a human's no starts one.
  const next = t.call("/token?level=prod");
  await t.admin(`/pending/${await t.queued()}/approve`, "POST");
  assert.equal((await next).status, 200);
});

Deno.test("a client that disconnects leaves the queue and frees the slot without a cooldown", async () => {
  const t = setup();
  const controller = new AbortController();
  const r = t.call("/token?level=prod", { signal: controller.signal });
  const id = await t.queued();
  controller.abort();
  await r.catch(() => undefined);
  await flush();
  const gone = await t.admin(`/pending/${id}`);
  assert.equal(gone.status, 410);
  assert.equal((await gone.json()).code, "requester_gone");
  const approve = await t.admin(`/pending/${id}/approve`, "POST");
  assert.equal(approve.status, 410);
  assert.deepEqual(await approve.json(), {
    error: "The requester has gone: it disconnected, so there is nothing to approve",
    code: "requester_gone",
  });
  const entry = t.audit.entries.at(-1)!;
  assert.equal(entry.result, "cancelled");
  assert.match(entry.error!, /client went away before access was granted/);
  assert.ok(!t.audit.entries.some((e) => e.result === "granted"));
  const next = t.call("/token?level=prod");
  await t.admin(`/pending/${await t.queued()}/approve`, "POST");
  assert.equal((await next).status, 200);
});

Deno.test("shutdown denies queued requests and revokes sessions", async () => {
  const t = setup();
  const created = t.call("/session", { method: "POST" });
  await t.admin(`/pending/${await t.queued()}/approve`, "POST");
  const sid = (await (await created).json()).session_id;
  const waiting = t.call("/token?level=prod");
  await t.queued();
  await t.layer.shutdown();
  assert.equal((await waiting).status, 503);
  assert.equal((await t.call(`/token?session=${sid}`)).status, 401);
});

Deno.test("one prod layer, two API listeners: the TCP app serves the same session, audited as tcp", async () => {
  const t = setup();
  const created = t.call("/session", { method: "POST", headers: wrapped });
  await t.admin(`/pending/${await t.queued()}/approve`, "POST");
  const sid = (await (await created).json()).session_id as string;
  const tcp = createGateApp(t.deps, "tcp", t.layer.handlers("tcp"), () => {});
  const refreshed = await tcp.request(`http://gate/token?session=${sid}`);
  assert.equal(refreshed.status, 200);
  await refreshed.body?.cancel();
  const revoked = await tcp.request(`http://gate/session?id=${sid}`, { method: "DELETE" });
  assert.deepEqual(await revoked.json(), { status: "revoked" });
  const sockets = t.audit.entries.map((e) => `${e.endpoint} ${e.result} ${e.socket}`);
  assert.deepEqual(sockets.slice(-2), ["/token granted tcp", "/session revoked tcp"]);
  assert.equal((await t.call(`/token?session=${sid}`)).status, 401);
});

Deno.test("admin app: shapes and 404s", async () => {
  const t = setup();
  assert.deepEqual(await (await t.admin("/pending")).json(), { pending: [] });
  const unknown = await t.admin(`/pending/${"a".repeat(32)}`);
  assert.equal(unknown.status, 404);
  assert.deepEqual(await unknown.json(), { error: "Request not found or expired" });
  for (
    const [path, method] of [
      ["/pending/xyz", "GET"],
      ["/pending/ABC/approve", "POST"],
      ["/nothing", "DELETE"],
      ["/pending", "POST"],
    ]
  ) {
    const r = await t.admin(path, method);
    assert.equal(r.status, 404, path);
    assert.deepEqual(await r.json(), { error: "Not found" });
  }
  const health = await (await t.admin("/health")).json();
  assert.deepEqual(health, { status: "ok", uptime_seconds: 0 });
  const r = t.call("/token?level=prod", { headers: wrapped });
  const id = await t.queued();
  const listed = (await (await t.admin("/pending")).json()).pending[0];
  assert.deepEqual(Object.keys(listed), [
    "id",
    "email",
    "command",
    "pairingCode",
    "requester",
    "createdAt",
    "expiresAt",
  ]);
  assert.equal(listed.id, id);
  assert.deepEqual(Object.keys(listed.command), [
    "argv",
    "lines",
    "summary",
    "totalArgs",
    "capped",
  ]);
  await t.admin(`/pending/${id}/deny`, "POST");
  assert.equal((await r).status, 403);
});

Deno.test("the dialog environment is an allow-list without credentials", () => {
  const env = dialogEnv({
    PATH: "/bin",
    DISPLAY: ":0",
    XAUTHORITY: "/x",
    GOOGLE_APPLICATION_CREDENTIALS: "/adc.json",
    GCP_AUTHCALATOR_TLS_BUNDLE_B64: "secret",
    CLOUDSDK_AUTH_ACCESS_TOKEN: "ya29.x",
    LC_ALL: "C",
  });
  assert.deepEqual(env, { PATH: "/bin", DISPLAY: ":0", XAUTHORITY: "/x", LC_ALL: "C" });
});

/** A gate with a terminal that never answers (the prompt's budget decides). */
function setupWithTerminal() {
  const written: string[] = [];
  const { timers, audit, layer, app, tokens } = testGate({
    tokens: (clock) => new CountingTokens(clock),
    terminal: {
      write: (text) => written.push(text),
      readLine: (signal) =>
        new Promise((resolve) => {
          if (signal.aborted) return resolve(null);
          signal.addEventListener("abort", () => resolve(null), { once: true });
        }),
      discardTypeAhead: () => {},
    },
  });
  return { timers, audit, written, layer, app, tokens };
}

Deno.test("an unanswered terminal prompt is 408 prod_prompt_timed_out, audited timed_out (8.5)", async () => {
  const t = setupWithTerminal();
  const pid = "00112233445566778899aabbccddeeff";
  const res = t.app.request("http://gate/token?level=prod", {
    headers: { ...wrapped, "X-Pending-Id": pid },
  });
  for (let i = 0; i < 200 && t.timers.armed === 0; i++) {
    await new Promise((r) => setTimeout(r, 1));
  }
  const prompt = t.written.join("");
  assert.match(
    prompt,
    new RegExp(`Pairing code: ${await pairingCode(pid)} \\(with-prod prints it`),
  );
  assert.match(prompt, /Requested by: UNVERIFIED — this listener does not report its peers/);
  await t.timers.advance(60_000);
  const r = await res;
  assert.equal(r.status, 408);
  assert.deepEqual(await r.json(), {
    error: "Prod request timed out: the approval dialog or terminal prompt got no answer",
    code: "prod_prompt_timed_out",
  });
  assert.equal(t.audit.entries.at(-1)!.result, "timed_out");
  assert.equal(t.tokens.prodCalls.length, 0);
});

Deno.test("while the terminal asks, a second requester is queued for approve instead", async () => {
  const t = setupWithTerminal();
  const first = t.app.request("http://gate/token?level=prod");
  for (let i = 0; i < 200 && t.timers.armed === 0; i++) {
    await new Promise((r) => setTimeout(r, 1));
  }
  // The unverified slot is taken by the first; a verified second requester needs its own listener.
  const { Hono } = await import("hono");
  const h = t.layer.handlers("main");
  const peered = new Hono<{ Bindings: PeerEnv }>();
  peered.get("/token", (c) => h.prodToken(c));
  const env: PeerEnv = {
    peer: () => Promise.resolve({ verified: true, uid: 1, pid: 77, argv: ["x"] }),
  };
  const second = peered.request("http://gate/token?level=prod", {}, env);
  let queued: { id: string }[] = [];
  for (let i = 0; i < 200 && queued.length === 0; i++) {
    queued = (await (await t.layer.adminApp.request("http://admin/pending")).json()).pending;
    await new Promise((r) => setTimeout(r, 1));
  }
  assert.equal(queued.length, 1, "the second request waits in the queue, not on stdin");
  await t.layer.adminApp.request(`http://admin/pending/${queued[0].id}/approve`, {
    method: "POST",
  });
  assert.equal((await second).status, 200);
  await t.timers.advance(60_000);
  assert.equal((await first).status, 408);
});

Deno.test("held session: NDJSON first line, revoked when the reader cancels; plain JSON without", async () => {
  const t = setup();
  const res = t.call("/session", { method: "POST", headers: { "x-session-hold": "1" } });
  await t.admin(`/pending/${await t.queued()}/approve`, "POST");
  const r = await res;
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), "application/x-ndjson");
  assert.equal(r.headers.get("cache-control"), "no-store, no-transform");
  const reader = r.body!.getReader();
  const first = JSON.parse(new TextDecoder().decode((await reader.read()).value));
  assert.deepEqual(Object.keys(first), [
    "session_id",
    "access_token",
    "expires_in",
    "token_type",
    "email",
  ]);
  assert.equal(t.audit.entries.at(-1)!.held, true);
  await t.timers.advance(15_000);
  assert.equal(new TextDecoder().decode((await reader.read()).value), '{"status":"active"}\n');
  await reader.cancel();
  await flush();
  for (let i = 0; i < 100 && t.audit.entries.at(-1)!.result !== "revoked"; i++) {
    await new Promise((r) => setTimeout(r, 1));
  }
  assert.equal(t.audit.entries.at(-1)!.result, "revoked");
  assert.equal((await t.call(`/token?session=${first.session_id}`)).status, 401);
  // Without the header: the same plain JSON as before, no hold.
  t.clock.advance(1000);
  const plain = t.call("/session", { method: "POST" });
  await t.admin(`/pending/${await t.queued()}/approve`, "POST");
  const p = await plain;
  assert.equal(p.headers.get("content-type"), "application/json");
  assert.equal(t.audit.entries.at(-1)!.held, undefined);
  assert.equal(t.timers.armed, 0);
});

Deno.test("held session: DELETE ends the stream with a last line; shutdown revokes it", async () => {
  const t = setup();
  const res = t.call("/session", { method: "POST", headers: { "x-session-hold": "1" } });
  await t.admin(`/pending/${await t.queued()}/approve`, "POST");
  const reader = (await res).body!.getReader();
  const sid = JSON.parse(new TextDecoder().decode((await reader.read()).value)).session_id;
  assert.equal((await t.call(`/session?id=${sid}`, { method: "DELETE" })).status, 200);
  await t.timers.advance(15_000);
  assert.equal(new TextDecoder().decode((await reader.read()).value), '{"status":"ended"}\n');
  assert.equal((await reader.read()).done, true);
  assert.equal(t.audit.entries.filter((e) => e.result === "revoked").length, 1, "revoked once");

  t.clock.advance(1000);
  const again = t.call("/session", { method: "POST", headers: { "x-session-hold": "1" } });
  await t.admin(`/pending/${await t.queued()}/approve`, "POST");
  const r2 = (await again).body!.getReader();
  const sid2 = JSON.parse(new TextDecoder().decode((await r2.read()).value)).session_id;
  await t.layer.shutdown();
  assert.equal(
    new TextDecoder().decode((await r2.read()).value),
    '{"status":"revoked","reason":"gate stopping"}\n',
  );
  assert.equal((await r2.read()).done, true);
  assert.equal((await t.call(`/token?session=${sid2}`)).status, 401);
});

Deno.test("an approval the audit log cannot record approves nothing (fail closed)", async () => {
  const t = setup();
  let failing = false;
  const real = t.audit.write.bind(t.audit);
  t.audit.write = (entry) => {
    if (failing && mustBeAudited(entry, true)) throw auditUnavailable();
    real(entry);
  };
  const res = t.call("/token?level=prod");
  const id = await t.queued();
  failing = true;
  const refused = await t.admin(`/pending/${id}/approve`, "POST");
  assert.equal(refused.status, 503);
  assert.equal((await refused.json()).code, "audit_unavailable");
  assert.equal((await t.admin(`/pending/${id}`)).status, 200, "still waiting, not approved");
  failing = false;
  await t.admin(`/pending/${id}/deny`, "POST");
  assert.equal((await res).status, 403);
  assert.equal(t.tokens.prodCalls.length, 0);
});

Deno.test("a failed prod mint is answered, audited and logged with its reason (never granted)", async () => {
  const t = setup();
  const created = t.call("/session", { method: "POST" });
  await t.admin(`/pending/${await t.queued()}/approve`, "POST");
  const sid = (await (await created).json()).session_id;
  t.tokens.prodToken = () =>
    Promise.reject(new HttpError(503, "Google is unavailable; try again", "google_unavailable"));
  const refresh = await t.call(`/token?session=${sid}`);
  assert.equal(refresh.status, 503);
  assert.equal(t.audit.entries.at(-1)!.result, "error");
  assert.match(
    t.logs.at(-1)!,
    /^gate: prod session token \(main socket\) not granted: 503 \[google_unavailable\] Google is/,
  );
  t.clock.advance(1000);
  const direct = t.call("/token?level=prod");
  await t.admin(`/pending/${await t.queued()}/approve`, "POST");
  assert.equal((await direct).status, 503);
  assert.equal(t.audit.entries.at(-1)!.result, "error");
  assert.match(t.logs.at(-1)!, /^gate: prod token \(\/token, main socket\) not granted: 503 /);
  assert.ok(!t.logs.join("\n").includes(sid));
});
