/**
 * The confirmation chain driven through fake `zenity` / `osascript` executables that record their
 * argv and stdin and exit with a chosen code, and a scripted terminal.
 */
import assert from "node:assert/strict";
import { describeCommand } from "../../../src/gate/command_display.ts";
import { type ConfirmDeps, confirmProdAccess } from "../../../src/gate/confirm/chain.ts";
import { commandDialogRunner } from "../../../src/gate/confirm/dialog_runner.ts";
import type { TerminalIO } from "../../../src/gate/confirm/terminal.ts";
import type { ConfirmRequest } from "../../../src/gate/confirm/text.ts";
import { PendingQueue } from "../../../src/gate/pending.ts";
import { describeRequester } from "../../../src/gate/requester.ts";
import { FakeTimers, flush } from "./fake_timers.ts";

interface Fake {
  name: "zenity" | "osascript";
  code?: number;
  stderr?: string;
  /** Replace the process with a long sleep after recording (to test the backstop). */
  hang?: boolean;
}

async function fakeBin(dir: string, fake: Fake): Promise<void> {
  const script = [
    "#!/bin/sh",
    `for a in "$@"; do printf '%s\\n' "$a"; done > "${dir}/${fake.name}.args"`,
    `cat > "${dir}/${fake.name}.stdin"`,
    fake.stderr ? `printf '%s\\n' '${fake.stderr}' >&2` : "",
    fake.hang ? "exec sleep 30" : `exit ${fake.code ?? 0}`,
  ].join("\n");
  await Deno.writeTextFile(`${dir}/${fake.name}`, script + "\n", { mode: 0o755 });
}

async function readMaybe(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
}

async function setup(options: {
  fakes?: Fake[];
  platform?: string;
  display?: boolean;
  terminal?: TerminalIO;
}) {
  const dir = await Deno.makeTempDir();
  for (const f of options.fakes ?? []) await fakeBin(dir, f);
  const timers = new FakeTimers();
  const logs: string[] = [];
  const pending = new PendingQueue({ clock: timers.clock, timers, log: (l) => logs.push(l) });
  const env: Record<string, string> = { PATH: `${dir}:/usr/bin:/bin` };
  if (options.display !== false) env.DISPLAY = ":99";
  const deps: ConfirmDeps = {
    platform: options.platform ?? "linux",
    env,
    runDialog: commandDialogRunner(env, timers),
    terminal: options.terminal,
    pending,
    timers,
    log: (l) => logs.push(l),
  };
  return {
    dir,
    deps,
    timers,
    logs,
    pending,
    args: async (name: string) =>
      (await readMaybe(`${dir}/${name}.args`))?.split("\n").slice(0, -1),
    stdin: (name: string) => readMaybe(`${dir}/${name}.stdin`),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

const SECRET_CMD = ["gcloud", "sql", "connect", "--password", "hunter2", "db\nforged"];

function request(extra: Partial<ConfirmRequest> = {}): ConfirmRequest {
  return {
    email: "eng@example.com",
    command: describeCommand(SECRET_CMD),
    ...extra,
  };
}

Deno.test("zenity Allow (exit 0) approves; content only on stdin, argv holds constants", async () => {
  await using t = await setup({ fakes: [{ name: "zenity", code: 0 }] });
  const decision = await confirmProdAccess(request(), t.deps);
  assert.deepEqual(decision, {
    approved: true,
    via: "zenity",
    outcome: "approved",
    why: "allowed in dialog",
  });
  assert.deepEqual(await t.args("zenity"), [
    "--text-info",
    "--title=authcalator gate: Prod Access",
    "--width=700",
    "--height=500",
    "--ok-label=Allow",
    "--cancel-label=Deny",
    "--checkbox=I have read the full command",
    "--timeout=60",
  ]);
  assert.equal(
    await t.stdin("zenity"),
    [
      "Grant prod-level GCP access to eng@example.com?",
      "",
      "Pairing code: (none)",
      "Requested by: UNVERIFIED (no peer information)",
      "",
      "Full command as reported by the client (6 arguments):",
      "  1  gcloud",
      "  2  sql",
      "  3  connect",
      "  4  --password",
      "  5  ***",
      "  6  db\u240Aforged",
      "",
    ].join("\n"),
  );
});

Deno.test("zenity without a command still puts everything on stdin", async () => {
  await using t = await setup({ fakes: [{ name: "zenity", code: 1 }] });
  const d = await confirmProdAccess(request({ command: undefined, pamPolicy: "ent'x" }), t.deps);
  assert.deepEqual(d, {
    approved: false,
    via: "zenity",
    outcome: "denied",
    why: "denied in dialog",
  });
  const args = (await t.args("zenity"))!;
  assert.ok(!args.join(" ").includes("eng@example.com"));
  assert.match(
    (await t.stdin("zenity"))!,
    /via PAM entitlement 'ent'x'\?\n\nPairing code: \(none\)\nRequested by: UNVERIFIED \(no peer information\)\n\nNo command was reported by the client\.\n {2}\(no command reported\)\n/,
  );
});

Deno.test("zenity exit codes: 1 and 5 deny, unexpected codes deny", async () => {
  for (
    const [code, why, outcome] of [
      [1, "denied in dialog", "denied"],
      [5, "dialog timed out", "timed_out"],
      [42, "dialog exited with code 42", "denied"],
    ] as const
  ) {
    await using t = await setup({ fakes: [{ name: "zenity", code }] });
    const d = await confirmProdAccess(request(), t.deps);
    assert.deepEqual(d, { approved: false, via: "zenity", outcome, why }, `code ${code}`);
    assert.equal(t.pending.size, 0);
  }
});

Deno.test("a zenity that rejects our options, or exits 127, is unavailable and falls through", async () => {
  const cases: Fake[] = [
    { name: "zenity", code: 255, stderr: "This option is not available. Please see --help" },
    { name: "zenity", code: 1, stderr: "zenity: Unknown option --checkbox" },
    { name: "zenity", code: 1, stderr: "Gtk-WARNING **: cannot open display: :99" },
    { name: "zenity", code: 127 },
  ];
  for (const fake of cases) {
    await using t = await setup({ fakes: [fake] });
    const pendingId = "0123456789abcdef0123456789abcdef";
    const decision = confirmProdAccess(request({ pendingId }), t.deps);
    while (t.pending.size === 0) await new Promise((r) => setTimeout(r, 5));
    assert.equal(t.pending.approve(pendingId), true);
    assert.deepEqual(await decision, {
      approved: true,
      via: "pending",
      outcome: "approved",
      why: "approved with authcalator approve",
    });
    assert.ok(
      t.logs.some((l) => l.startsWith("confirm: zenity unavailable")),
      JSON.stringify(fake),
    );
  }
});

Deno.test("no zenity on PATH falls through to the pending queue", async () => {
  await using t = await setup({ fakes: [] });
  const decision = confirmProdAccess(request(), t.deps);
  while (t.pending.size === 0) await new Promise((r) => setTimeout(r, 5));
  t.pending.deny(t.pending.list()[0].id);
  assert.deepEqual(await decision, {
    approved: false,
    via: "pending",
    outcome: "denied",
    why: "pending request denied",
  });
});

Deno.test("on Linux without DISPLAY or WAYLAND_DISPLAY, zenity is never run", async () => {
  await using t = await setup({ fakes: [{ name: "zenity", code: 0 }], display: false });
  const decision = confirmProdAccess(request(), t.deps);
  await flush();
  assert.equal(t.pending.size, 1);
  await t.timers.advance(120_000);
  assert.deepEqual(await decision, {
    approved: false,
    via: "pending",
    outcome: "expired",
    why: "pending request expired",
  });
  assert.equal(await t.args("zenity"), undefined);
});

Deno.test("a wedged dialog is killed by the parent backstop and denies", async () => {
  await using t = await setup({ fakes: [{ name: "zenity", hang: true }] });
  const decision = confirmProdAccess(request(), t.deps);
  while ((await t.stdin("zenity")) === undefined || t.timers.armed === 0) {
    await new Promise((r) => setTimeout(r, 5));
  }
  await t.timers.advance(64_999);
  await t.timers.advance(1);
  assert.deepEqual(await decision, {
    approved: false,
    via: "zenity",
    outcome: "timed_out",
    why: "dialog timed out",
  });
});

Deno.test("a client that goes away closes the dialog and denies", async () => {
  await using t = await setup({ fakes: [{ name: "zenity", hang: true }] });
  const controller = new AbortController();
  const decision = confirmProdAccess(request({ signal: controller.signal }), t.deps);
  while ((await t.args("zenity")) === undefined) await new Promise((r) => setTimeout(r, 5));
  controller.abort();
  assert.deepEqual(await decision, {
    approved: false,
    via: "zenity",
    outcome: "cancelled",
    why: "client went away",
  });
});

Deno.test("macOS: osascript reads its script on stdin; lines are escaped list items", async () => {
  await using t = await setup({ fakes: [{ name: "osascript", code: 0 }], display: false });
  const req = request({ command: describeCommand(["echo", 'say "hi" \\ bye']) });
  const d = await confirmProdAccess(
    req,
    t.deps.platform === "darwin" ? t.deps : {
      ...t.deps,
      platform: "darwin",
    },
  );
  assert.deepEqual(d, {
    approved: true,
    via: "osascript",
    outcome: "approved",
    why: "allowed in dialog",
  });
  assert.deepEqual(await t.args("osascript"), ["-"]);
  const script = (await t.stdin("osascript"))!;
  assert.ok(
    script.startsWith(
      'set r to choose from list {"Pairing code: (none)", ' +
        '"Requested by: UNVERIFIED (no peer information)", ' +
        '"Full command as reported by the client (2 arguments):", ' +
        '"  1  echo", "  2  say \\"hi\\" \\\\ bye"} with title ' +
        '"authcalator gate: Prod Access" with prompt ("Grant prod-level GCP access to ' +
        'eng@example.com?" & linefeed & linefeed & ' +
        '"Select any line to enable Allow.") default items {} OK button name "Allow" ' +
        'cancel button name "Deny"\n',
    ),
    script,
  );
  assert.ok(!script.includes("empty selection allowed"));
  assert.ok(script.endsWith('if r is false then error "denied"\n'));
});

Deno.test("osascript exit 1 denies; 127 and rejected options fall through", async () => {
  {
    await using t = await setup({ fakes: [{ name: "osascript", code: 1 }] });
    const d = await confirmProdAccess(request(), { ...t.deps, platform: "darwin" });
    assert.deepEqual(d, {
      approved: false,
      via: "osascript",
      outcome: "denied",
      why: "denied in dialog",
    });
  }
  {
    await using t = await setup({ fakes: [{ name: "osascript", code: 127 }] });
    const d = confirmProdAccess(request(), { ...t.deps, platform: "darwin" });
    while (t.pending.size === 0) await new Promise((r) => setTimeout(r, 5));
    t.pending.denyAll();
    assert.equal((await d).via, "pending");
  }
});

Deno.test("other platforms show no dialog", async () => {
  await using t = await setup({ fakes: [{ name: "zenity", code: 0 }] });
  const d = confirmProdAccess(request(), { ...t.deps, platform: "windows" });
  await flush();
  assert.equal(t.pending.size, 1);
  t.pending.denyAll();
  assert.equal((await d).via, "pending");
});

/** A terminal that answers from a script and records what was written. */
function scriptedTerminal(answers: (string | null)[], typeAhead: string[] = []) {
  const written: string[] = [];
  let queued = [...typeAhead];
  const io: TerminalIO = {
    write: (t) => written.push(t),
    readLine: (signal) => {
      if (queued.length) return Promise.resolve(queued.shift()!);
      const next = answers.shift();
      if (next === undefined) {
        // No answer: wait for the budget or the client to end the wait.
        return new Promise((resolve) => {
          if (signal.aborted) resolve(null);
          signal.addEventListener("abort", () => resolve(null), { once: true });
        });
      }
      return Promise.resolve(next);
    },
    discardTypeAhead: () => queued = [],
  };
  return { io, written };
}

Deno.test("terminal: the whole command is printed and only 'yes' approves", async () => {
  const cases: [(string | null)[], boolean, string][] = [
    [["yes"], true, "approved on the terminal"],
    [[" YES "], true, "approved on the terminal"],
    [["y", "yes"], true, "approved on the terminal"],
    [["y", "y"], false, "denied on the terminal"],
    [["sure", "no"], false, "denied on the terminal"],
    [["no"], false, "denied on the terminal"],
    [["n"], false, "denied on the terminal"],
    [[""], false, "denied on the terminal"],
    [[null], false, "terminal input closed"],
  ];
  for (const [answers, approved, why] of cases) {
    const term = scriptedTerminal([...answers]);
    await using t = await setup({ display: false, terminal: term.io });
    const d = await confirmProdAccess(request(), t.deps);
    const outcome = approved ? "approved" : "denied";
    assert.deepEqual(d, { approved, via: "terminal", outcome, why }, JSON.stringify(answers));
    const text = term.written.join("");
    assert.match(
      text,
      /Full command as reported by the client \(6 arguments\):\n {2}1 {2}gcloud\n/,
    );
    assert.match(text, / {2}5 {2}\*\*\*\n {2}6 {2}db\u240Aforged\n/);
    assert.ok(!text.includes("hunter2"));
    const reprompts = text.split("please type 'yes' in full").length - 1;
    assert.equal(reprompts, answers.length === 2 ? 1 : 0, JSON.stringify(answers));
  }
});

Deno.test("terminal: type-ahead cannot answer the question", async () => {
  const term = scriptedTerminal(["no"], ["yes"]);
  await using t = await setup({ display: false, terminal: term.io });
  const d = await confirmProdAccess(request(), t.deps);
  assert.equal(d.approved, false);
});

Deno.test("terminal: one 60 s budget for the whole exchange", async () => {
  const term = scriptedTerminal(["maybe"]);
  await using t = await setup({ display: false, terminal: term.io });
  const d = confirmProdAccess(request(), t.deps);
  await flush();
  await t.timers.advance(59_999);
  let done = false;
  d.then(() => done = true);
  await flush();
  assert.equal(done, false);
  await t.timers.advance(1);
  assert.deepEqual(await d, {
    approved: false,
    via: "terminal",
    outcome: "timed_out",
    why: "terminal prompt timed out",
  });
  assert.match(term.written.join(""), /timed out waiting for a response, denying prod access/);
});

Deno.test("a dialog that is unavailable falls through to the terminal before the queue", async () => {
  const term = scriptedTerminal(["yes"]);
  await using t = await setup({ fakes: [{ name: "zenity", code: 127 }], terminal: term.io });
  const d = await confirmProdAccess(request(), t.deps);
  assert.deepEqual(d, {
    approved: true,
    via: "terminal",
    outcome: "approved",
    why: "approved on the terminal",
  });
});

Deno.test("the dialog shows the pairing code, the kernel's requester and a MISMATCH (7.2)", async () => {
  await using t = await setup({ fakes: [{ name: "zenity", code: 1 }] });
  const requester = describeRequester(
    {
      verified: true,
      uid: 1000,
      pid: 666,
      nsPid: [666, 31],
      exe: "/usr/bin/python3",
      argv: ["python3", "steal.py"],
    },
    SECRET_CMD,
  );
  await confirmProdAccess(request({ pairingCode: "K7Q-2MX", requester }), t.deps);
  const stdin = (await t.stdin("zenity"))!;
  assert.match(
    stdin,
    new RegExp(
      "^Grant prod-level GCP access to eng@example\\.com\\?\\n\\n" +
        "Pairing code: K7Q-2MX \\(with-prod prints it in the terminal that asked\\)\\n" +
        "Requested by: uid 1000, pid 666 \\(pid 31 in its namespace\\), /usr/bin/python3\\n" +
        "Kernel argv of the requester \\(2\\):\\n {2}1 {2}python3\\n {2}2 {2}steal\\.py\\n" +
        "!!! MISMATCH: the requester's kernel argv does not end with the reported command\\n\\n" +
        "Full command as reported by the client \\(6 arguments\\):\\n",
    ),
  );
  assert.ok(!(await t.args("zenity"))!.join(" ").includes("python3"), "argv holds constants only");
});

Deno.test("terminal: a client that goes away ends the prompt as cancelled, not denied", async () => {
  const term = scriptedTerminal([]);
  await using t = await setup({ display: false, terminal: term.io });
  const controller = new AbortController();
  const d = confirmProdAccess(request({ signal: controller.signal }), t.deps);
  await flush();
  controller.abort();
  assert.deepEqual(await d, {
    approved: false,
    via: "terminal",
    outcome: "cancelled",
    why: "client went away",
  });
  assert.match(term.written.join(""), /the requester went away; nothing to decide/);
  assert.equal(t.timers.armed, 0, "the prompt's budget timer is cancelled");
});
