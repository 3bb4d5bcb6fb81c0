/**
 * The audit log at the unit level: the start check refuses each unwritable form (issue 7 defect 6),
 * a failed write refuses grants that must be audited, failures are loud once per burst, rotation is
 * bounded and loses or splits no line, and the schema is fixed.
 */
import assert from "node:assert/strict";
import {
  AUDIT_UNAVAILABLE,
  type AuditEntry,
  type AuditFile,
  AuditLogError,
  checkAuditLog,
  FileAuditLog,
  MemoryAuditLog,
  openAuditFile,
  renderAuditLine,
} from "../../src/gate/audit.ts";
import { ManualClock } from "../../src/clock.ts";
import { HttpError } from "../../src/errors.ts";

const DEV_GRANT: AuditEntry = {
  endpoint: "/token",
  level: "dev",
  result: "granted",
  socket: "main",
  scopes: ["https://www.googleapis.com/auth/cloud-platform"],
};
const PROD_GRANT: AuditEntry = { ...DEV_GRANT, level: "prod", email: "engineer@example.com" };
const DEV_ERROR: AuditEntry = { ...DEV_GRANT, result: "error", error: "boom" };
const PROD_DENIED: AuditEntry = { ...PROD_GRANT, result: "denied" };

async function withDir(fn: (dir: string) => Promise<void> | void) {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-audit-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const modeOf = (p: string) => Deno.lstatSync(p).mode! & 0o777;

function refusesToStart(path: string, pattern: RegExp, open?: (p: string) => AuditFile) {
  assert.throws(() => checkAuditLog(path, { log: () => {}, open }), (err: unknown) => {
    assert.ok(err instanceof AuditLogError, `expected AuditLogError, got ${err}`);
    assert.ok(err.message.includes(path), `names the path: ${err.message}`);
    assert.match(err.message, /Fix: /);
    assert.match(err.message, pattern);
    return true;
  });
}

function assertAuditUnavailable(fn: () => void) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof HttpError);
    assert.equal(err.status, 503);
    assert.equal(err.code, AUDIT_UNAVAILABLE);
    assert.ok(!err.message.includes("/"), "no host path reaches the container");
    return true;
  });
}

/** Opens the real /dev/full: every write fails with ENOSPC, as on a full disk. */
const openDevFull = (_path: string): AuditFile => {
  const file = Deno.openSync("/dev/full", { write: true });
  return {
    size: () => 0,
    write: (bytes) => file.writeSync(bytes),
    truncate: () => {},
    close: () => file.close(),
  };
};

Deno.test("start check: a directory in the audit log's place refuses to start", () =>
  withDir((dir) => {
    const path = `${dir}/audit.log`;
    Deno.mkdirSync(path);
    refusesToStart(path, /is a directory/);
  }));

Deno.test("start check: a symlink to /dev/full refuses to start, naming the target", () =>
  withDir((dir) => {
    const path = `${dir}/audit.log`;
    Deno.symlinkSync("/dev/full", path);
    refusesToStart(path, /is a symlink \(to \/dev\/full\)/);
  }));

Deno.test("start check: a read-only file refuses to start (even for root)", () =>
  withDir((dir) => {
    const path = `${dir}/audit.log`;
    Deno.writeTextFileSync(path, "", { mode: 0o400 });
    Deno.chmodSync(path, 0o400);
    refusesToStart(path, /read-only \(mode 0400\).*chmod 600/);
  }));

Deno.test("start check: a file owned by another user refuses to start", () =>
  withDir((dir) => {
    let path = `${dir}/audit.log`;
    if (Deno.uid() === 0) {
      Deno.writeTextFileSync(path, "", { mode: 0o600 });
      Deno.chownSync(path, 65534, 65534);
    } else {
      path = "/etc/passwd"; // root's; refused on ownership before anything is opened
    }
    refusesToStart(path, /is owned by uid \d+, not by this user/);
  }));

Deno.test("start check: a device that takes no write (full disk) refuses to start", () =>
  withDir((dir) => {
    refusesToStart(`${dir}/audit.log`, /does not take a write \(.*space/i, openDevFull);
  }));

Deno.test("start check: a FIFO or other non-regular file refuses to start", () =>
  withDir(async (dir) => {
    const path = `${dir}/audit.log`;
    const mk = await new Deno.Command("mkfifo", { args: [path] }).output();
    assert.equal(mk.code, 0, "mkfifo is installed (coreutils)");
    refusesToStart(path, /is not a regular file/);
  }));

Deno.test("start check: a fresh path is created 0600 and left empty; an existing log is untouched", () =>
  withDir((dir) => {
    const path = `${dir}/audit.log`;
    checkAuditLog(path, { log: () => {} });
    assert.equal(modeOf(path), 0o600);
    assert.equal(Deno.readTextFileSync(path), "", "the probe is cut back");
    Deno.writeTextFileSync(path, '{"a":1}\n');
    checkAuditLog(path, { log: () => {} });
    assert.equal(Deno.readTextFileSync(path), '{"a":1}\n');
  }));

Deno.test("start check: a group-readable log is tightened to 0600 and the change is reported", () =>
  withDir((dir) => {
    const path = `${dir}/audit.log`;
    Deno.writeTextFileSync(path, "");
    Deno.chmodSync(path, 0o644);
    const logs: string[] = [];
    checkAuditLog(path, { log: (m) => logs.push(m) });
    assert.equal(modeOf(path), 0o600);
    assert.equal(logs.length, 1);
    assert.match(logs[0], /was mode 0644; tightened to 0600/);
  }));

function brokenLog(dir: string, required?: boolean) {
  const clock = new ManualClock();
  const logs: string[] = [];
  const path = `${dir}/audit.log`;
  const audit = new FileAuditLog({ path, clock, required, log: (m) => logs.push(m) });
  return { audit, logs, clock, path };
}

Deno.test("run time: with audit.log turned into a directory, dev and prod grants are refused", () =>
  withDir((dir) => {
    const { audit, path } = brokenLog(dir);
    audit.write(DEV_GRANT);
    Deno.removeSync(path);
    Deno.mkdirSync(path);
    assertAuditUnavailable(() => audit.write(DEV_GRANT));
    assertAuditUnavailable(() => audit.write(PROD_GRANT));
    // Lines that grant nothing never throw: the original answer (denial, error) must stand.
    audit.write(DEV_ERROR);
    audit.write(PROD_DENIED);
  }));

Deno.test("run time: a symlink to /dev/full swapped in refuses grants", () =>
  withDir((dir) => {
    const { audit, path } = brokenLog(dir);
    Deno.symlinkSync("/dev/full", path);
    assertAuditUnavailable(() => audit.write(DEV_GRANT));
    assertAuditUnavailable(() => audit.write(PROD_GRANT));
  }));

Deno.test("run time: a real ENOSPC write refuses grants", () =>
  withDir((dir) => {
    const audit = new FileAuditLog({
      path: `${dir}/audit.log`,
      clock: new ManualClock(),
      log: () => {},
      open: openDevFull,
    });
    assertAuditUnavailable(() => audit.write(DEV_GRANT));
    assertAuditUnavailable(() => audit.write(PROD_GRANT));
  }));

Deno.test("run time: audit_required = false keeps dev grants going, never prod ones", () =>
  withDir((dir) => {
    const { audit, path, logs } = brokenLog(dir, false);
    Deno.mkdirSync(path);
    audit.write(DEV_GRANT);
    assertAuditUnavailable(() => audit.write(PROD_GRANT));
    assert.match(logs[0], /prod grants are refused; dev tokens are still granted, unaudited/);
  }));

Deno.test("run time: a failure is loud once per burst, repeated after a minute, recovery reported", () =>
  withDir((dir) => {
    const { audit, path, logs, clock } = brokenLog(dir);
    Deno.mkdirSync(path);
    for (let i = 0; i < 50; i++) {
      try {
        audit.write(DEV_GRANT);
      } catch { /* refused */ }
    }
    assert.equal(logs.length, 1, logs.join("\n"));
    assert.ok(logs[0].includes(path), "the log names the path");
    assert.match(logs[0], /every grant is refused until it can be written/);
    clock.advance(59_000);
    assert.throws(() => audit.write(DEV_GRANT));
    assert.equal(logs.length, 1);
    clock.advance(1_000);
    assert.throws(() => audit.write(DEV_GRANT));
    assert.equal(logs.length, 2);
    assert.match(logs[1], /52 line\(s\) not written so far/);
    Deno.removeSync(path);
    audit.write(DEV_GRANT);
    assert.equal(logs.length, 3);
    assert.match(logs[2], /writing to .* again; 52 line\(s\) could not be written/);
    assert.equal(Deno.readTextFileSync(path).split("\n").length, 2);
  }));

Deno.test("a partial write is cut back: no split line, the next line is whole", () =>
  withDir((dir) => {
    const path = `${dir}/audit.log`;
    let failNext = true;
    const open = (p: string): AuditFile => {
      const real = openAuditFile(p);
      return {
        ...real,
        write: (bytes) => {
          if (!failNext) return real.write(bytes);
          failNext = false;
          real.write(bytes.subarray(0, 10));
          throw new Error("No space left on device (os error 28)");
        },
      };
    };
    const audit = new FileAuditLog({ path, clock: new ManualClock(), log: () => {}, open });
    audit.write(DEV_ERROR);
    audit.write({ ...DEV_ERROR, error: "second" });
    const lines = Deno.readTextFileSync(path).trimEnd().split("\n");
    assert.equal(lines.length, 1);
    assert.equal(JSON.parse(lines[0]).error, "second");
  }));

Deno.test("rotation: bounded files, each under the limit, 0600, no line lost or split", () =>
  withDir((dir) => {
    const path = `${dir}/audit.log`;
    const audit = new FileAuditLog({
      path,
      clock: new ManualClock(),
      maxBytes: 1024,
      maxFiles: 2,
      log: (m) => assert.fail(m),
    });
    for (let i = 1; i <= 60; i++) audit.write({ ...DEV_GRANT, token_ttl_seconds: i });
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, ["audit.log", "audit.log.1", "audit.log.2"]);
    const kept: number[] = [];
    for (const file of [`${path}.2`, `${path}.1`, path]) {
      assert.equal(modeOf(file), 0o600, file);
      const text = Deno.readTextFileSync(file);
      assert.ok(text.length <= 1024, `${file} is ${text.length} bytes`);
      assert.ok(text.endsWith("\n"));
      for (const line of text.trimEnd().split("\n")) kept.push(JSON.parse(line).token_ttl_seconds);
    }
    // The newest lines, in order, with no gap: rotation dropped only whole, oldest files.
    assert.equal(kept.at(-1), 60);
    assert.deepEqual(kept, kept.map((_, i) => kept[0] + i));
    assert.ok(kept.length >= 12, `${kept.length} lines kept`);
  }));

Deno.test("rotation: a line larger than the limit is still written whole", () =>
  withDir((dir) => {
    const path = `${dir}/audit.log`;
    const audit = new FileAuditLog({ path, clock: new ManualClock(), maxBytes: 1024, maxFiles: 1 });
    audit.write(DEV_GRANT);
    audit.write({ ...DEV_GRANT, command: "x".repeat(2000) });
    audit.write(DEV_GRANT);
    assert.equal(JSON.parse(Deno.readTextFileSync(`${path}.1`)).command.length, 2000);
    assert.equal(JSON.parse(Deno.readTextFileSync(path)).endpoint, "/token");
  }));

Deno.test("the schema is fixed: unknown fields are not written, timestamp comes first", () => {
  const entry = { ...DEV_GRANT, access_token: "ya29.secret", session_id: "a".repeat(64) };
  const line = renderAuditLine(entry as AuditEntry, Date.UTC(2026, 0, 1));
  assert.ok(!line.includes("ya29") && !line.includes("aaaa"), line);
  assert.deepEqual(Object.keys(JSON.parse(line)), [
    "timestamp",
    "endpoint",
    "level",
    "result",
    "socket",
    "scopes",
  ]);
});

Deno.test("MemoryAuditLog.broken behaves like an unwritable log (for other modules' tests)", () => {
  const audit = new MemoryAuditLog();
  audit.broken = true;
  assertAuditUnavailable(() => audit.write(PROD_GRANT));
  assertAuditUnavailable(() => audit.write(DEV_GRANT));
  audit.write(PROD_DENIED);
  audit.required = false;
  audit.write(DEV_GRANT);
  assert.equal(audit.entries.length, 0);
});

Deno.test("rotation that cannot happen keeps every line in the current file and says so once", () =>
  withDir((dir) => {
    const path = `${dir}/audit.log`;
    Deno.mkdirSync(`${path}.1`);
    Deno.writeTextFileSync(`${path}.1/keep`, "");
    const logs: string[] = [];
    const audit = new FileAuditLog({
      path,
      clock: new ManualClock(),
      maxBytes: 1024,
      maxFiles: 1,
      log: (m) => logs.push(m),
    });
    for (let i = 0; i < 30; i++) audit.write({ ...DEV_GRANT, token_ttl_seconds: i });
    const lines = Deno.readTextFileSync(path).trimEnd().split("\n");
    assert.equal(lines.length, 30, "no line lost");
    assert.equal(logs.length, 1, logs.join("\n"));
    assert.match(logs[0], /cannot rotate .*appending to the current file/);
  }));
