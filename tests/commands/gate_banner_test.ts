/** The gate's banner facts and approval methods, and how `--no-audit-required` is read. */
import assert from "node:assert/strict";
import {
  approvalMethods,
  auditRequiredFrom,
  bannerFacts,
  renderBanner,
} from "../../src/commands/gate.ts";
import { loadConfig } from "../../src/cli/config.ts";
import { checkGateConfig } from "../../src/gate/gate_config.ts";
import type { ProdLayerOptions } from "../../src/gate/prod.ts";

const config = checkGateConfig(loadConfig({
  flags: { project_id: "p", service_account: "sa@p.iam.gserviceaccount.com" },
  env: { HOME: "/h", XDG_RUNTIME_DIR: "/run/user/1" },
}));

function options(platform: string, env: Record<string, string>, terminal: boolean) {
  return {
    platform,
    env,
    terminal: terminal ? {} : undefined,
  } as unknown as ProdLayerOptions;
}

Deno.test("approval methods: what this host will try, in order, the pending queue always last", () => {
  assert.deepEqual(approvalMethods(options("linux", {}, false)), [
    "pending queue (authcalator pending / approve / deny)",
  ]);
  assert.deepEqual(approvalMethods(options("linux", { DISPLAY: ":0" }, true)), [
    "zenity dialog (a display is set; skipped if it fails)",
    "this terminal",
    "pending queue (authcalator pending / approve / deny)",
  ]);
  assert.equal(approvalMethods(options("darwin", {}, false))[0], "macOS dialog (osascript)");
});

Deno.test("banner facts name the engineer, ADC, SA, sockets, audit policy, approvals and Google", () => {
  const facts = Object.fromEntries(bannerFacts({
    config,
    credentials: { path: "/h/adc.json", type: "authorized_user", email: "me@example.com" },
    auditPath: "/run/user/1/audit.log",
    auditRequired: true,
    approvals: ["this terminal", "pending queue"],
    google: "Google",
  }));
  assert.equal(facts.engineer, "me@example.com");
  assert.equal(facts.ADC, "authorized_user credential from /h/adc.json");
  assert.equal(facts["dev service account"], "sa@p.iam.gserviceaccount.com");
  assert.equal(facts.socket, "/run/user/1/gcp-authcalator.sock");
  assert.equal(facts["admin socket"], "/run/user/1/gcp-authcalator-admin/admin.sock");
  assert.match(facts["audit log"], /^\/run\/user\/1\/audit\.log \(rotates at 10485760 bytes/);
  assert.match(facts["audit log"], /nothing is granted if it cannot be written/);
  assert.equal(facts.approvals, "this terminal, then pending queue");
  assert.equal(facts["Google APIs"], "Google");
  const text = renderBanner(Object.entries(facts));
  assert.match(text, /^authcalator .* gate\n {2}engineer: +me@example\.com\n/);
});

Deno.test("banner with unusable credentials says so in the engineer line", () => {
  const facts = Object.fromEntries(bannerFacts({
    config,
    credentials: { path: "/h/adc.json", problem: "/h/adc.json does not exist" },
    auditPath: "/a",
    auditRequired: false,
    approvals: [],
    google: "Google",
  }));
  assert.equal(facts.engineer, "UNKNOWN (/h/adc.json does not exist)");
  assert.equal(facts.ADC, "unusable credential from /h/adc.json");
  assert.match(facts["audit log"], /prod refused, dev still granted/);
});

Deno.test("--no-audit-required wins over audit_required; otherwise the config decides", () => {
  const inv = (flags: Record<string, boolean>) => ({
    command: "gate",
    positionals: [],
    flags,
    env: {},
  });
  assert.equal(auditRequiredFrom(inv({}), config), true);
  assert.equal(auditRequiredFrom(inv({ "no-audit-required": true }), config), false);
  assert.equal(auditRequiredFrom(inv({}), { ...config, audit_required: false }), false);
});
