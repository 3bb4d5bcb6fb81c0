/** `pending`, `approve` and `deny`: in-process over the real admin app, and as real processes. */
import assert from "node:assert/strict";
import { UsageError } from "../../src/errors.ts";
import { MemoryAuditLog } from "../../src/gate/audit.ts";
import { createAdminApp } from "../../src/gate/admin_app.ts";
import { describeCommand } from "../../src/gate/command_display.ts";
import { PendingQueue } from "../../src/gate/pending.ts";
import { approveCommand, type ConfirmInput } from "../../src/commands/approve.ts";
import { denyCommand } from "../../src/commands/deny.ts";
import {
  type AdminCall,
  pendingCommand,
  renderRequest,
  requesterFromWire,
} from "../../src/commands/pending.ts";
import type { PendingRequestJson } from "../../src/gate/pending.ts";
import { describeRequester } from "../../src/gate/requester.ts";
import { runCli } from "../helpers/cli.ts";
import { denoDirEnv } from "../e2e/prod_stack.ts";
import { FakeTimers } from "../gate/confirm/fake_timers.ts";

function setup() {
  const timers = new FakeTimers();
  const queue = new PendingQueue({ clock: timers.clock, timers, log: () => {} });
  const audit = new MemoryAuditLog();
  const app = createAdminApp({
    pending: queue,
    audit,
    clock: timers.clock,
    startedAt: timers.clock.now(),
    log: () => {},
  });
  const calls: string[] = [];
  const call: AdminCall = async (method, path) => {
    calls.push(`${method} ${path}`);
    const res = await app.request(`http://admin${path}`, { method });
    return { status: res.status, body: await res.json() };
  };
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t) };
  return { timers, queue, audit, call, calls, out, err, io };
}

const ARGV = ["kubectl", "--token", "abc", "delete", "ns", "prod\u001b[2K"];

function input(answers: (string | null)[], isTerminal = true) {
  const prompts: string[] = [];
  const waits: number[] = [];
  const i: ConfirmInput = {
    isTerminal,
    prompt: (t) => prompts.push(t),
    readLine: (ms) => {
      waits.push(ms);
      return Promise.resolve(answers.shift() ?? null);
    },
  };
  return { input: i, prompts, waits };
}

Deno.test("pending lists requests with every display line, sanitised", async () => {
  const t = setup();
  await pendingCommand(t.call, undefined, t.io, t.timers.clock);
  assert.deepEqual(t.out, ["No pending requests."]);
  const { id } = t.queue.enqueue({ email: "e@x.com", command: describeCommand(ARGV) });
  t.timers.clock.advance(20_000);
  await pendingCommand(t.call, id, t.io, t.timers.clock);
  assert.equal(
    t.out[1],
    [
      `Request:  ${id}`,
      "Code:     (none)  (with-prod printed this code in the terminal that asked)",
      "Email:    e@x.com",
      "Requested by: UNVERIFIED (no peer information)",
      "Expires:  2026-01-01T00:02:00.000Z (100s left)",
      "Command:  6 arguments, as reported by the client",
      "  1  kubectl",
      "  2  --token",
      "  3  ***",
      "  4  delete",
      "  5  ns",
      "  6  prod\u241B[2K",
    ].join("\n"),
  );
  t.queue.enqueue({ email: "f@x.com" });
  await pendingCommand(t.call, undefined, t.io, t.timers.clock);
  assert.match(
    t.out[2],
    /Command: {2}6 arguments[\s\S]*\n\nRequest: .*\nCode: .*\nEmail: {4}f@x\.com\n.*\n.*\nCommand: {2}\(none reported\)$/,
  );
});

Deno.test("missing and malformed ids are usage errors, refused before anything is sent", async () => {
  const t = setup();
  for (const bad of ["abc", "A".repeat(32), undefined]) {
    const message = bad === undefined
      ? "missing the pending request ID: authcalator approve <id> " +
        "(run 'authcalator pending' to list them)"
      : "invalid pending request ID (expected exactly 32 lowercase hex characters)";
    await assert.rejects(
      () =>
        approveCommand(t.call, bad, {
          yes: true,
          input: input([]).input,
          io: t.io,
          clock: t.timers.clock,
        }),
      (e: unknown) => e instanceof UsageError && e.message === message,
    );
    await assert.rejects(() => denyCommand(t.call, bad, t.io), UsageError);
    await assert.rejects(() => pendingCommand(t.call, bad ?? "", t.io, t.timers.clock), UsageError);
  }
  assert.deepEqual(t.calls, []);
});

Deno.test("approve --yes prints the full command first, then approves", async () => {
  const t = setup();
  const { id, outcome } = t.queue.enqueue({ email: "e@x.com", command: describeCommand(ARGV) });
  const code = await approveCommand(t.call, id, {
    yes: true,
    input: input([], false).input,
    io: t.io,
    clock: t.timers.clock,
  });
  assert.equal(code, 0);
  assert.match(t.out[0], / {2}6 {2}prod/);
  assert.equal(t.out[1], `Approved request ${id}.`);
  assert.equal(await outcome, "approved");
  assert.deepEqual(t.calls, [`GET /pending/${id}`, `POST /pending/${id}/approve`]);
});

Deno.test("approve off a terminal without --yes refuses and leaves the request queued", async () => {
  const t = setup();
  const { id } = t.queue.enqueue({ email: "e@x.com" });
  await assert.rejects(
    () =>
      approveCommand(t.call, id, {
        yes: false,
        input: input(["yes"], false).input,
        io: t.io,
        clock: t.timers.clock,
      }),
    /refusing to approve without confirmation; re-run with --yes/,
  );
  assert.ok(t.queue.get(id));
});

Deno.test("approve on a terminal: only 'yes' approves, within the request's own expiry", async () => {
  {
    const t = setup();
    const { id, outcome } = t.queue.enqueue({ email: "e@x.com" });
    t.timers.clock.advance(30_500);
    const inp = input(["yes"]);
    assert.equal(
      await approveCommand(t.call, id, {
        yes: false,
        input: inp.input,
        io: t.io,
        clock: t.timers.clock,
      }),
      0,
    );
    assert.deepEqual(inp.prompts, ["Approve this request? Type 'yes' within 89s to approve: "]);
    assert.deepEqual(inp.waits, [89_500]);
    assert.equal(await outcome, "approved");
  }
  {
    const t = setup();
    const { id } = t.queue.enqueue({ email: "e@x.com" });
    const code = await approveCommand(t.call, id, {
      yes: false,
      input: input(["y"]).input,
      io: t.io,
      clock: t.timers.clock,
    });
    assert.equal(code, 1);
    assert.deepEqual(t.err, ["Aborted."]);
    assert.ok(t.queue.get(id));
  }
  {
    const t = setup();
    const { id } = t.queue.enqueue({ email: "e@x.com" });
    await assert.rejects(
      () =>
        approveCommand(t.call, id, {
          yes: false,
          input: input([null]).input,
          io: t.io,
          clock: t.timers.clock,
        }),
      /request expired while waiting for confirmation\./,
    );
  }
});

Deno.test("approve and deny of an unknown request explain the 404", async () => {
  const t = setup();
  const id = "f".repeat(32);
  await assert.rejects(
    () =>
      approveCommand(t.call, id, {
        yes: true,
        input: input([]).input,
        io: t.io,
        clock: t.timers.clock,
      }),
    /no queued request f{32}: it may have already been approved or denied, expired/,
  );
  await assert.rejects(
    () => denyCommand(t.call, id, t.io),
    /request f{32} not found \(may have expired\)/,
  );
});

Deno.test("pending shows the pairing code and the kernel's requester with a MISMATCH (7.2)", async () => {
  const t = setup();
  const requester = describeRequester(
    {
      verified: true,
      uid: 1000,
      pid: 666,
      nsPid: [666, 12],
      exe: "/usr/bin/python3",
      argv: ["python3", "steal.py", "--api-key", "s3cr3t"],
    },
    ["gcloud", "sql", "connect"],
  );
  const { id } = t.queue.enqueue({
    email: "e@x.com",
    command: describeCommand(["gcloud", "sql", "connect"]),
    pairingCode: "ABC-DEF",
    requester,
  });
  await pendingCommand(t.call, id, t.io, t.timers.clock);
  const text = t.out[0];
  assert.match(text, /\nCode: {5}ABC-DEF {2}\(with-prod printed this code/);
  assert.match(
    text,
    /\nRequested by: uid 1000, pid 666 \(pid 12 in its namespace\), \/usr\/bin\/python3\n/,
  );
  assert.match(text, /Kernel argv of the requester \(4\):\n {2}1 {2}python3\n/);
  assert.match(text, /\n!!! MISMATCH: the requester's kernel argv does not end with the reported/);
  assert.ok(!text.includes("s3cr3t"), "the kernel argv is redacted like the reported command");
});

Deno.test("approve, deny and pending of a request whose requester has gone say so (7.5)", async () => {
  const t = setup();
  const controller = new AbortController();
  const { id, outcome } = t.queue.enqueue({ email: "e@x.com", signal: controller.signal });
  controller.abort();
  assert.equal(await outcome, "cancelled");
  const gone = new RegExp(
    `request ${id} is no longer waiting: The requester has gone: it disconnected, so there is ` +
      "nothing to approve$",
  );
  await assert.rejects(
    () =>
      approveCommand(t.call, id, {
        yes: true,
        input: input([]).input,
        io: t.io,
        clock: t.timers.clock,
      }),
    gone,
  );
  await assert.rejects(() => denyCommand(t.call, id, t.io), gone);
  await assert.rejects(() => pendingCommand(t.call, id, t.io, t.timers.clock), gone);
  assert.equal(t.audit.entries.length, 0, "nothing was approved or denied");
  // An expired one says it expired, not that it was denied (8.5).
  const late = t.queue.enqueue({ email: "e@x.com" });
  await t.timers.advance(120_000);
  await assert.rejects(
    () => denyCommand(t.call, late.id, t.io),
    /is no longer waiting: The request expired: nobody decided within its time$/,
  );
});

Deno.test("deny denies without asking", async () => {
  const t = setup();
  const { id, outcome } = t.queue.enqueue({ email: "e@x.com" });
  assert.equal(await denyCommand(t.call, id, t.io), 0);
  assert.deepEqual(t.out, [`Denied request ${id}.`]);
  assert.equal(await outcome, "denied");
});

Deno.test("real processes: pending, approve --yes and deny over a Unix admin socket", async () => {
  const dir = await Deno.makeTempDir();
  const sock = `${dir}/admin.sock`;
  const queue = new PendingQueue({
    clock: { now: () => Date.now() },
    timers: {
      setTimeout: (fn, ms) => {
        const h = setTimeout(fn, ms);
        return () => clearTimeout(h);
      },
    },
    log: () => {},
  });
  const app = createAdminApp({
    pending: queue,
    audit: new MemoryAuditLog(),
    clock: { now: () => Date.now() },
    startedAt: Date.now(),
    log: () => {},
  });
  const server = Deno.serve({ path: sock, transport: "unix", onListen() {} }, app.fetch);
  const perms = [
    "--no-prompt",
    `--allow-read=${sock}`,
    `--allow-write=${sock}`,
    `--allow-net=unix:${sock},localhost`,
    "--allow-env",
  ];
  const cli = (args: string[]) =>
    runCli([...args, "--admin-socket-path", sock], {
      permissions: perms,
      env: { HOME: dir, ...denoDirEnv() },
    });
  try {
    const a = queue.enqueue({ email: "e@x.com", command: describeCommand(["gcloud", "info"]) });
    const listed = await cli(["pending"]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(
      listed.stdout,
      new RegExp(`Request:  ${a.id}\\nCode: .*\\nEmail:    e@x\\.com\\n`),
    );
    assert.match(
      listed.stdout,
      /Command: {2}2 arguments, as reported by the client\n {2}1 {2}gcloud\n {2}2 {2}info\n/,
    );
    const refused = await cli(["approve", a.id]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /refusing to approve without confirmation; re-run with --yes/);
    const approved = await cli(["approve", a.id, "--yes"]);
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(approved.stdout, / {2}2 {2}info\nApproved request [0-9a-f]{32}\.\n$/);
    assert.equal(await a.outcome, "approved");
    const b = queue.enqueue({ email: "e@x.com" });
    const denied = await cli(["deny", b.id]);
    assert.equal(denied.code, 0, denied.stderr);
    assert.equal(await b.outcome, "denied");
    const bad = await cli(["approve", "nope", "--yes"]);
    assert.equal(bad.code, 2, "a malformed id is a usage error");
    assert.match(bad.stderr, /invalid pending request ID/);
    for (const command of ["approve", "deny"]) {
      const missing = await cli([command]);
      assert.equal(missing.code, 2, `${command} without an id exits 2 (8.5)`);
      assert.match(
        missing.stderr,
        new RegExp(`missing the pending request ID: authcalator ${command} <id>`),
      );
    }
  } finally {
    await server.shutdown();
  }
  const gone = await cli(["pending"]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /^error: could not connect to the admin socket at .*admin\.sock \(/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a malformed requester on the wire renders as unverified, never crashes", () => {
  const clock = new FakeTimers().clock;
  const base = {
    id: "a".repeat(32),
    email: "e@x.com",
    createdAt: "2026-01-01T00:00:00.000Z",
    expiresAt: "2026-01-01T00:02:00.000Z",
  };
  const forms: unknown[] = [
    null,
    "pid 1",
    [],
    { verified: "yes", pid: "1" },
    { verified: true, check: "match", argv: { lines: "nope" } },
    { verified: true, pid: 1.5, uid: -0, exe: 42, check: { status: "bogus", detail: 7 } },
    { verified: true, pid: 3, argv: { lines: [1, "\u001b[2K"], totalArgs: "x" } },
  ];
  for (const requester of forms) {
    const text = renderRequest({ ...base, requester } as unknown as PendingRequestJson, clock);
    assert.match(text, /\nRequested by: /, JSON.stringify(requester));
    assert.ok(!text.includes("\u001b"), "control characters never reach the terminal");
    assert.ok(!/Command check: the requester's kernel argv ends with/.test(text));
  }
  const view = requesterFromWire({ verified: true, pid: 3, check: { status: "bogus" } })!;
  assert.equal(view.check.status, "unverified");
  assert.equal(requesterFromWire("x"), undefined);
});
