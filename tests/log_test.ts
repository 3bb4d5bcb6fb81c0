/** The daemons' leveled logger: level filter, text and JSON lines, secrets scrubbed. */
import assert from "node:assert/strict";
import { createLogger } from "../src/log.ts";
import { ManualClock } from "../src/clock.ts";

function capture(level?: "error" | "warn" | "info" | "debug", format?: "text" | "json") {
  const lines: string[] = [];
  const log = createLogger({
    component: "gate",
    level,
    format,
    write: (l) => lines.push(l),
    clock: new ManualClock(Date.UTC(2026, 0, 1)),
  });
  return { log, lines };
}

Deno.test("text lines: component prefix, level tag, fields as key=value", () => {
  const { log, lines } = capture("debug");
  log.info("listening", { socket: "/run/x.sock" });
  log.warn("careful");
  log.error("broken", { status: 503 });
  log.debug("detail");
  assert.deepEqual(lines, [
    'gate: listening socket="/run/x.sock"',
    "gate: warning: careful",
    "gate: error: broken status=503",
    "gate: debug: detail",
  ]);
});

Deno.test("the level filters: warn drops info and debug; error keeps only errors", () => {
  const warn = capture("warn");
  warn.log.info("no");
  warn.log.debug("no");
  warn.log.warn("yes");
  assert.deepEqual(warn.lines, ["gate: warning: yes"]);
  assert.equal(warn.log.enabled("info"), false);
  const error = capture("error");
  error.log.warn("no");
  error.log.error("yes");
  assert.deepEqual(error.lines, ["gate: error: yes"]);
  const info = capture();
  info.log.debug("no");
  assert.deepEqual(info.lines, []);
});

Deno.test("json lines: one object per line with time, level, component, msg and fields", () => {
  const { log, lines } = capture("info", "json");
  log.warn("audit: cannot write\nsecond line", { path: "/run/audit.log", lost: 3, msg: "spoof" });
  assert.equal(lines.length, 1);
  assert.deepEqual(JSON.parse(lines[0]), {
    time: "2026-01-01T00:00:00.000Z",
    level: "warn",
    component: "gate",
    msg: "audit: cannot write\nsecond line",
    path: "/run/audit.log",
    lost: 3,
  });
});

Deno.test("no secret reaches a line, in messages or fields, in either format", () => {
  for (const format of ["text", "json"] as const) {
    const { log, lines } = capture("debug", format);
    log.error("refresh failed: ya29.a0AfH6SMBx refresh_token=1//0gsecret", {
      session: "a".repeat(64),
      key: "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
    });
    const text = lines.join("\n");
    assert.ok(!/ya29\.|1\/\/0g|a{64}|MIIE/.test(text), text);
  }
});
