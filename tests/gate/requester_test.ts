/** The requester as approval surfaces show it, and the reported-command check against the kernel. */
import assert from "node:assert/strict";
import {
  checkCommand,
  describeRequester,
  peerAuditFields,
  requesterKey,
  requesterLines,
} from "../../src/gate/requester.ts";
import { unverified } from "../../src/gate/peer.ts";
import { encodeWrappedCommand } from "../../src/gate_api/wrapped_command.ts";

const CMD = ["gcloud", "sql", "connect", "db"];
const withProd = (argv: string[]) => ({
  verified: true,
  uid: 1000,
  pid: 4242,
  exe: "/usr/local/bin/deno",
  argv,
});

Deno.test("with-prod's argv ends with the wrapped command: match, with or without --", () => {
  for (
    const argv of [
      ["/usr/local/bin/deno", "run", "-A", "/src/main.ts", "with-prod", "--", ...CMD],
      ["authcalator", "with-prod", "--project", "p", ...CMD],
      ["authcalator", "with-prod", "--", ...CMD],
      [...CMD],
    ]
  ) {
    assert.equal(checkCommand(CMD, withProd(argv)).status, "match", JSON.stringify(argv));
  }
});

Deno.test("a copied command in another process's header is a MISMATCH", () => {
  for (
    const argv of [
      ["python3", "steal.py"],
      ["curl", "--unix-socket", "/run/gate.sock", "-X", "POST", "http://x/session"],
      ["authcalator", "with-prod", "--", "gcloud", "sql", "connect", "other-db"],
      ["authcalator", "with-prod", "--", ...CMD, "--extra"],
      ["db"],
    ]
  ) {
    const check = checkCommand(CMD, withProd(argv));
    assert.equal(check.status, "mismatch", JSON.stringify(argv));
    assert.match(check.detail, /^MISMATCH: /);
  }
});

Deno.test("a header with-prod had to cut is compared where the omitted count puts it", () => {
  const long = ["node", ...Array.from({ length: 600 }, (_, i) => `arg-${i}-${"x".repeat(20)}`)];
  const reported = JSON.parse(encodeWrappedCommand(long)) as string[];
  assert.match(reported.at(-1)!, /further argument\(s\) omitted by the client/);
  const argv = ["authcalator", "with-prod", "--", ...long];
  assert.equal(checkCommand(reported, withProd(argv)).status, "match");
  const shifted = ["authcalator", "with-prod", "--", ...long, "one-more"];
  assert.equal(checkCommand(reported, withProd(shifted)).status, "mismatch");
});

Deno.test("a command line known only as one string (ps args) matches at a word boundary", () => {
  const peer = { verified: true, uid: 1000, pid: 7, commandLine: "deno run main.ts with-prod -- " };
  const line = (commandLine: string) => ({ ...peer, commandLine });
  assert.equal(
    checkCommand(CMD, line("authcalator with-prod gcloud sql connect db")).status,
    "match",
  );
  assert.equal(checkCommand(CMD, line("gcloud sql connect db")).status, "match");
  assert.equal(checkCommand(CMD, line("python3 x gcloud sql connect xdb")).status, "mismatch");
  assert.equal(checkCommand(CMD, line("evil gcloud sql connect dbx")).status, "mismatch");
  const view = describeRequester(line("authcalator with-prod gcloud sql connect db"), CMD);
  assert.equal(view.argvExact, false);
  assert.match(requesterLines(view)[1], /^Kernel command line of the requester, split on spaces/);
});

Deno.test("unverified: never guessed, never compared, shares one rate-limit key", () => {
  const peer = unverified("this listener does not report its peers");
  const view = describeRequester(peer, CMD);
  assert.deepEqual(view, {
    verified: false,
    reason: "this listener does not report its peers",
    check: {
      status: "unverified",
      detail: "requester unverified: the reported command cannot be checked against the kernel",
    },
  });
  assert.deepEqual(requesterLines(view), [
    "Requested by: UNVERIFIED — this listener does not report its peers",
    "  The gate cannot tell which process asked; the reported command is only a claim.",
  ]);
  assert.equal(requesterKey(peer), "unverified");
  assert.equal(
    requesterKey({ verified: false, pid: 5 }),
    "unverified",
    "an unverified pid is no key",
  );
  assert.equal(requesterKey(withProd([])), "pid:4242");
  assert.deepEqual(peerAuditFields(view), {
    peer_verified: false,
    peer_uid: undefined,
    peer_pid: undefined,
    peer_ns_pid: undefined,
    peer_exe: undefined,
    peer_argv: undefined,
    command_mismatch: undefined,
  });
});

Deno.test("the view: namespaced pid, redacted and sanitised argv and exe, audit fields", () => {
  const view = describeRequester(
    {
      verified: true,
      uid: 1000,
      pid: 31337,
      nsPid: [31337, 12],
      exe: "/tmp/evil\nRequested by: uid 0",
      argv: ["tool", "--password", "hunter2", "line\nforged"],
    },
    ["gcloud", "info"],
  );
  const lines = requesterLines(view);
  assert.equal(
    lines[0],
    "Requested by: uid 1000, pid 31337 (pid 12 in its namespace), /tmp/evil\u240ARequested by: uid 0",
  );
  assert.deepEqual(lines.slice(1, 6), [
    "Kernel argv of the requester (4):",
    "  1  tool",
    "  2  --password",
    "  3  ***",
    "  4  line\u240Aforged",
  ]);
  assert.equal(
    lines[6],
    "!!! MISMATCH: the requester's kernel argv does not end with the reported command",
  );
  assert.ok(!lines.join("\n").includes("hunter2"));
  const audit = peerAuditFields(view);
  assert.deepEqual(audit, {
    peer_verified: true,
    peer_uid: 1000,
    peer_pid: 31337,
    peer_ns_pid: 12,
    peer_exe: "/tmp/evil\u240ARequested by: uid 0",
    peer_argv: ["tool", "--password", "***", "line\u240Aforged"],
    command_mismatch: true,
  });
  const same = describeRequester(
    { verified: true, uid: 1, pid: 9, nsPid: [9], reason: "its /proc entries are not readable" },
    ["x"],
  );
  assert.equal(same.namespacePid, undefined, "no namespaced pid when it is the same");
  assert.deepEqual(same.check, {
    status: "unverified",
    detail: "the requester's argv is unavailable: the reported command cannot be checked",
  });
  assert.deepEqual(requesterLines(same).slice(0, 2), [
    "Requested by: uid 1, pid 9, (executable unknown)",
    "Kernel argv of the requester: (unavailable: its /proc entries are not readable)",
  ]);
});

Deno.test("the kernel argv of a wrapper is redacted past its `--` (the wrapped command's secrets)", () => {
  const argv = [
    "deno",
    "run",
    "main.ts",
    "with-prod",
    "--",
    "bash",
    "x.sh",
    "--password",
    "hunter2",
  ];
  const view = describeRequester(withProd(argv), ["bash", "x.sh", "--password", "hunter2"]);
  assert.equal(view.check.status, "match");
  assert.deepEqual(view.argv!.argv.slice(-2), ["--password", "***"]);
  assert.ok(!JSON.stringify(view).includes("hunter2"));
  assert.ok(!JSON.stringify(peerAuditFields(view)).includes("hunter2"));
});
