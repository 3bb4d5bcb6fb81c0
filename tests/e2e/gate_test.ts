/** The gate as a real process under its pinned permissions, backed by the embedded emulator. */
import assert from "node:assert/strict";
import { type Emulator, startEmulator } from "../../src/emulator/mod.ts";
import {
  DEV_SA,
  type GatePaths,
  gatePaths,
  socketGet,
  startGate,
} from "../helpers/gate_process.ts";
import { pinnedFlags } from "../../src/commands/permissions.ts";
import { baseEnv, MAIN, runCli, type RunningProcess, watchProcess } from "../helpers/cli.ts";

async function withWorld(
  fn: (w: { emulator: Emulator; paths: GatePaths; dir: string }) => Promise<void>,
) {
  const emulator = await startEmulator();
  const dir = await Deno.makeTempDir({ prefix: "authcalator-gate-e2e-" });
  try {
    const paths = await gatePaths(dir);
    await Deno.writeTextFile(paths.adc, JSON.stringify(emulator.authorizedUserAdc()));
    await fn({ emulator, paths, dir });
  } finally {
    await emulator.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

const modeOf = async (p: string) => (await Deno.lstat(p)).mode! & 0o777;

Deno.test("gate serves the dev API on its socket with the right modes; SIGTERM removes the socket", () =>
  withWorld(async ({ emulator, paths, dir }) => {
    const gate = await startGate(paths, emulator.baseUrl, dir);
    try {
      assert.match(gate.output(), /gate listening on unix:/);
      assert.equal(await modeOf(paths.socket), 0o660);
      assert.equal(await modeOf(paths.adminSocket), 0o600);
      assert.equal(await modeOf(paths.runDir), 0o700);
      assert.equal(await modeOf(`${paths.runDir}/gcp-authcalator-admin`), 0o700);
      const health = await socketGet(paths.socket, "/health");
      assert.equal(health.status, 200);
      assert.equal(health.body.status, "ok");
      assert.deepEqual((await socketGet(paths.socket, "/identity")).body, {
        email: "engineer@example.com",
      });
      assert.deepEqual((await socketGet(paths.socket, "/project-number")).body, {
        project_number: "123456789012",
      });
      assert.deepEqual((await socketGet(paths.socket, "/universe-domain")).body, {
        universe_domain: "googleapis.com",
      });
      const token = await socketGet(paths.socket, "/token?token_ttl_seconds=600");
      assert.equal(token.status, 200);
      assert.match(String(token.body.access_token), /^ya29\./);
      assert.equal(token.body.token_type, "Bearer");
      assert.ok(Number(token.body.expires_in) > 590 && Number(token.body.expires_in) <= 600);
      assert.equal((await socketGet(paths.socket, "/token?token_ttl_seconds=10")).status, 400);
      assert.equal((await socketGet(paths.socket, "/nope")).status, 404);
      assert.equal((await socketGet(paths.socket, "/token", { method: "POST" })).status, 405);
      assert.equal((await socketGet(paths.adminSocket, "/health")).status, 200);
      assert.equal(
        (await socketGet(paths.socket, "/pending")).status,
        404,
        "/pending is admin-only",
      );

      const audit = (await Deno.readTextFile(paths.auditLog)).trim().split("\n").map((l) =>
        JSON.parse(l)
      );
      assert.equal(await modeOf(paths.auditLog), 0o600);
      const granted = audit.find((e) => e.endpoint === "/token" && e.result === "granted");
      assert.deepEqual(Object.keys(granted).sort(), [
        "endpoint",
        "level",
        "result",
        "scopes",
        "socket",
        "timestamp",
        "token_ttl_seconds",
      ]);
      assert.equal(granted.socket, "main");
      const auditText = await Deno.readTextFile(paths.auditLog);
      assert.ok(!auditText.includes(String(token.body.access_token)));
      assert.ok(!/ya29\.|1\/\//.test(auditText + gate.output()), "no token in audit or logs");
    } finally {
      const status = await gate.stop("SIGTERM");
      assert.equal(status.code, 0, gate.output());
    }
    await assert.rejects(Deno.lstat(paths.socket), Deno.errors.NotFound);
    await assert.rejects(Deno.lstat(paths.adminSocket), Deno.errors.NotFound);
  }));

Deno.test("200 concurrent cold token requests make exactly one generateAccessToken", () =>
  withWorld(async ({ emulator, paths, dir }) => {
    const gate = await startGate(paths, emulator.baseUrl, dir);
    try {
      emulator.resetLog();
      const results = await Promise.all(
        Array.from({ length: 200 }, () => socketGet(paths.socket, "/token")),
      );
      assert.ok(results.every((r) => r.status === 200));
      assert.equal(new Set(results.map((r) => r.body.access_token)).size, 1);
      assert.equal(emulator.calls("generateAccessToken"), 1);
    } finally {
      await gate.stop();
    }
  }));

Deno.test("credentials_expired names the host; a replaced ADC file heals the gate without restart", () =>
  withWorld(async ({ emulator, paths, dir }) => {
    const gate = await startGate(paths, emulator.baseUrl, dir);
    try {
      assert.equal((await socketGet(paths.socket, "/token")).status, 200);
      emulator.faults.revokeRefreshToken();
      const expired = await socketGet(
        paths.socket,
        "/token?scopes=https://www.googleapis.com/auth/devstorage.read_only",
      );
      assert.equal(expired.status, 500);
      assert.equal(expired.body.code, "credentials_expired");
      assert.match(String(expired.body.error), new RegExp(`on host "${Deno.hostname()}"`));
      assert.match(String(expired.body.error), /gcloud auth application-default login/);
      const identity = await socketGet(paths.socket, "/identity");
      assert.equal(identity.body.code, "credentials_expired");

      await Deno.writeTextFile(paths.adc, JSON.stringify(emulator.loginAgain()));
      const healed = await socketGet(
        paths.socket,
        "/token?scopes=https://www.googleapis.com/auth/devstorage.read_only",
      );
      assert.equal(healed.status, 200, JSON.stringify(healed.body));
      assert.deepEqual((await socketGet(paths.socket, "/identity")).body, {
        email: "engineer@example.com",
      });
      const audit = await Deno.readTextFile(paths.auditLog);
      assert.match(audit, /"result":"error"/);
      assert.ok(!/ya29\.|1\/\//.test(audit + gate.output()));
    } finally {
      await gate.stop();
    }
  }));

Deno.test("a second gate on a live socket refuses; after a crash the stale socket is recovered", () =>
  withWorld(async ({ emulator, paths, dir }) => {
    const first = await startGate(paths, emulator.baseUrl, dir);
    const second = await startGate(paths, emulator.baseUrl, dir);
    const status = await second.exited();
    assert.equal(status.code, 1);
    assert.match(second.output(), /another instance is already running on .*gcp-authcalator\.sock/);
    assert.match(second.output(), /pick another path with --socket-path <path>/);
    assert.equal(
      (await socketGet(paths.socket, "/health")).status,
      200,
      "the live gate is untouched",
    );
    await first.stop("SIGKILL");
    assert.ok((await Deno.lstat(paths.socket)).isSocket, "a crash leaves the socket file");
    const third = await startGate(paths, emulator.baseUrl, dir);
    try {
      assert.equal((await socketGet(paths.socket, "/health")).status, 200);
    } finally {
      assert.equal((await third.stop("SIGINT")).code, 0);
    }
  }));

Deno.test("the gate refuses a loose or symlinked socket directory and leaves nothing behind", () =>
  withWorld(async ({ emulator, paths, dir }) => {
    await Deno.chmod(paths.runDir, 0o755);
    const loose = await startGate(paths, emulator.baseUrl, dir);
    assert.equal((await loose.exited()).code, 1, loose.output());
    assert.match(loose.output(), /permissions 0755, looser than 0700/);
    await Deno.chmod(paths.runDir, 0o700);
    await Deno.mkdir(`${dir}/real`, { mode: 0o700 });
    await Deno.symlink(`${dir}/real`, `${paths.runDir}/gcp-authcalator-admin`);
    const linked = await startGate(paths, emulator.baseUrl, dir);
    assert.equal((await linked.exited()).code, 1);
    assert.match(linked.output(), /gcp-authcalator-admin is a symlink/);
    await assert.rejects(Deno.lstat(paths.socket), Deno.errors.NotFound);
  }));

/**
 * Asks for a prod token, approves it from the admin socket and checks that no token leaves the
 * gate. If the approval itself is refused as unauditable, the request is denied so nothing waits.
 */
async function assertProdRefusedUnaudited(gate: RunningProcess, paths: GatePaths) {
  const before = (gate.output().match(/pending approval/g) ?? []).length;
  const prod = socketGet(paths.socket, "/token?level=prod");
  await waitForCount(gate, /pending approval/g, before + 1);
  const pending = await socketGet(paths.adminSocket, "/pending");
  const [request] = pending.body.pending as { id: string }[];
  const approve = await socketGet(paths.adminSocket, `/pending/${request.id}/approve`, {
    method: "POST",
  });
  if (approve.status !== 200) {
    assert.equal(approve.body.code, "audit_unavailable", JSON.stringify(approve.body));
    await socketGet(paths.adminSocket, `/pending/${request.id}/deny`, { method: "POST" });
  }
  const answer = await prod;
  assert.notEqual(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(answer.body.access_token, undefined, "no prod token left the gate");
  if (approve.status === 200) assert.equal(answer.body.code, "audit_unavailable");
}

/** Waits (bounded) until `pattern` occurs `count` times in the gate's output. */
async function waitForCount(gate: RunningProcess, pattern: RegExp, count: number) {
  const deadline = Date.now() + 15_000;
  while ((gate.output().match(pattern) ?? []).length < count) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${pattern}:\n${gate.output()}`);
    await gate.waitFor(pattern, 1_000).catch(() => {});
    await new Promise((r) => setTimeout(r, 20));
  }
}

// --- Issue 7 defect 6 (auditing fails open) and issue 8 item 4 (a gate that says what it does) ---

/** Starts a gate expected to refuse to start; returns its output. */
async function refusedStart(
  paths: GatePaths,
  googleBase: string,
  dir: string,
  extraArgs: string[] = [],
): Promise<string> {
  const gate = await startGate(paths, googleBase, dir, extraArgs);
  const status = await gate.exited();
  assert.equal(status.code, 1, gate.output());
  await assert.rejects(Deno.lstat(paths.socket), Deno.errors.NotFound, "nothing was bound");
  return gate.output();
}

Deno.test("defect 6 at start: an audit log that is a directory, a symlink to /dev/full or read-only stops the gate", () =>
  withWorld(async ({ emulator, paths, dir }) => {
    const forms: [string, () => Promise<void>, RegExp][] = [
      ["directory", () => Deno.mkdir(paths.auditLog), /is a directory.*Fix: move it away/],
      [
        "symlink to /dev/full",
        () => Deno.symlink("/dev/full", paths.auditLog),
        /is a symlink \(to \/dev\/full\).*Fix: remove it/,
      ],
      [
        "read-only file",
        async () => {
          await Deno.writeTextFile(paths.auditLog, "");
          await Deno.chmod(paths.auditLog, 0o400);
        },
        /is read-only \(mode 0400\).*Fix: chmod 600/,
      ],
    ];
    for (const [form, make, pattern] of forms) {
      await make();
      const output = await refusedStart(paths, emulator.baseUrl, dir);
      assert.match(output, /gate: cannot start: the audit log /, form);
      assert.ok(output.includes(paths.auditLog), `${form}: names the path`);
      assert.match(output, pattern, form);
      await Deno.remove(paths.auditLog, { recursive: true });
    }
  }));

Deno.test("defect 6 at run time: an unwritable audit log refuses dev tokens, id tokens and an approved prod token", () =>
  withWorld(async ({ emulator, paths, dir }) => {
    const gate = await startGate(paths, emulator.baseUrl, dir);
    try {
      assert.equal((await socketGet(paths.socket, "/token")).status, 200);
      await Deno.remove(paths.auditLog);
      await Deno.mkdir(paths.auditLog);
      for (const path of ["/token", "/token?scopes=x", "/id-token?audience=https://svc"]) {
        const res = await socketGet(paths.socket, path);
        assert.equal(res.status, 503, `${path}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.code, "audit_unavailable");
        assert.equal(res.body.access_token ?? res.body.id_token, undefined);
        assert.ok(!String(res.body.error).includes(paths.runDir), "no host path in the answer");
      }
      const loud = gate.output().match(/audit: cannot write/g) ?? [];
      assert.equal(loud.length, 1, `loud once per burst:\n${gate.output()}`);

      // A prod token approved from the admin socket is still refused: it cannot be audited.
      await assertProdRefusedUnaudited(gate, paths);

      // Writable again: grants resume and the recovery is reported.
      await Deno.remove(paths.auditLog);
      assert.equal((await socketGet(paths.socket, "/token")).status, 200);
      assert.match(gate.output(), /audit: writing to .*audit\.log again/);
    } finally {
      await gate.stop();
    }
  }));

Deno.test("--no-audit-required keeps dev tokens going while the audit log is broken, never prod", () =>
  withWorld(async ({ emulator, paths, dir }) => {
    const gate = await startGate(paths, emulator.baseUrl, dir, ["--no-audit-required"]);
    try {
      await gate.waitFor(/gate listening on unix:/);
      assert.match(gate.output(), /dev still granted if it cannot be written/);
      await Deno.remove(paths.auditLog);
      await Deno.symlink("/dev/full", paths.auditLog);
      assert.equal((await socketGet(paths.socket, "/token")).status, 200);
      assert.match(gate.output(), /prod grants are refused; dev tokens are still granted/);
      await assertProdRefusedUnaudited(gate, paths);
    } finally {
      await gate.stop();
    }
  }));

Deno.test("the audit log rotates by size into a bounded number of 0600 files on a real gate", () =>
  withWorld(async ({ emulator, paths, dir }) => {
    const gate = await startGate(paths, emulator.baseUrl, dir, [
      "--audit-max-bytes",
      "1024",
      "--audit-max-files",
      "2",
    ]);
    try {
      for (let i = 0; i < 40; i++) {
        assert.equal((await socketGet(paths.socket, `/token?scopes=s${i}`)).status, 200);
      }
      const files = [paths.auditLog, `${paths.auditLog}.1`, `${paths.auditLog}.2`];
      await assert.rejects(Deno.lstat(`${paths.auditLog}.3`), Deno.errors.NotFound);
      for (const file of files) {
        assert.equal(await modeOf(file), 0o600, file);
        const text = await Deno.readTextFile(file);
        assert.ok(text.length <= 1024, `${file}: ${text.length} bytes`);
        for (const line of text.trimEnd().split("\n")) JSON.parse(line);
      }
      const newest = (await Deno.readTextFile(paths.auditLog)).trimEnd().split("\n").at(-1)!;
      assert.deepEqual(JSON.parse(newest).scopes, ["s39"]);
    } finally {
      await gate.stop();
    }
  }));

Deno.test("the gate checks ADC at start: missing, malformed or revoked fails fast with the fix", () =>
  withWorld(async ({ emulator, paths, dir }) => {
    await Deno.remove(paths.adc);
    let output = await refusedStart(paths, emulator.baseUrl, dir);
    assert.match(output, /gate: cannot start: Application Default Credentials/);
    assert.ok(output.includes(paths.adc), "names the ADC file");
    assert.match(output, /does not exist/);
    assert.match(output, /Fix: run `gcloud auth application-default login` on this host/);
    assert.match(output, /--allow-missing-credentials/);

    await Deno.writeTextFile(paths.adc, '{"type": "authorized_user"}');
    output = await refusedStart(paths, emulator.baseUrl, dir);
    assert.match(output, /field "client_id" is missing/);

    await Deno.writeTextFile(paths.adc, JSON.stringify(emulator.authorizedUserAdc()));
    emulator.faults.revokeRefreshToken();
    output = await refusedStart(paths, emulator.baseUrl, dir);
    assert.match(output, /refreshing the authorized_user credential with Google failed/);
    assert.ok(!/1\/\/|ya29\./.test(output), "no credential in the message");

    // A connection reset on the token endpoint at start fails fast too, never a hang.
    emulator.faults.clear();
    emulator.faults.resetNext("token", 5);
    output = await refusedStart(paths, emulator.baseUrl, dir);
    assert.match(output, /refreshing the authorized_user credential with Google failed/);
  }));

Deno.test("--allow-missing-credentials starts, says loudly what is wrong, and logs each failed mint", () =>
  withWorld(async ({ emulator, paths, dir }) => {
    await Deno.remove(paths.adc);
    const gate = await startGate(paths, emulator.baseUrl, dir, ["--allow-missing-credentials"]);
    try {
      await gate.waitFor(/gate listening on unix:/);
      assert.match(gate.output(), /engineer: +UNKNOWN \(Could not load the default credentials/);
      assert.match(gate.output(), /gate: warning: STARTED WITHOUT USABLE CREDENTIALS/);
      const res = await socketGet(paths.socket, "/token");
      assert.notEqual(res.status, 200);
      await gate.waitFor(/gate: error: dev token \(scopes .*, main socket\) not granted: \d{3}/);
    } finally {
      await gate.stop();
    }
  }));

Deno.test("the banner names identity, service account, ADC, sockets, audit log, approvals and Google", () =>
  withWorld(async ({ emulator, paths, dir }) => {
    const gate = await startGate(paths, emulator.baseUrl, dir);
    try {
      await gate.waitFor(/gate listening on unix:/);
      const out = gate.output();
      assert.match(out, /engineer: +engineer@example\.com/);
      assert.match(out, /dev service account: +dev-runner@demo-project\.iam\.gserviceaccount\.com/);
      assert.ok(out.includes(`authorized_user credential from ${paths.adc}`), out);
      assert.ok(out.includes(`socket:`) && out.includes(paths.socket));
      assert.ok(out.includes(paths.adminSocket));
      assert.ok(out.includes(`audit log:`) && out.includes(paths.auditLog));
      // No display and no terminal in the test: only the pending queue is left.
      assert.match(out, /approvals: +pending queue \(authcalator pending \/ approve \/ deny\)/);
      assert.ok(out.includes(`Google APIs:`) && out.includes(emulator.baseUrl));
      assert.ok(!/ya29\.|1\/\//.test(out));
    } finally {
      await gate.stop();
    }
  }));

Deno.test("--log-format json makes every daemon line one JSON object; --log-level error hides warnings", () =>
  withWorld(async ({ emulator, paths, dir }) => {
    await Deno.remove(paths.adc);
    const gate = await startGate(paths, emulator.baseUrl, dir, [
      "--allow-missing-credentials",
      "--log-format",
      "json",
    ]);
    try {
      await gate.waitFor(/gate listening on unix:/);
      await socketGet(paths.socket, "/token");
      await gate.waitFor(/not granted/);
    } finally {
      await gate.stop();
    }
    const lines = gate.output().trim().split("\n");
    const parsed = lines.map((l) => JSON.parse(l));
    assert.ok(parsed.every((p) => p.component === "gate" && typeof p.msg === "string"));
    assert.ok(parsed.some((p) => p.level === "warn" && /WITHOUT USABLE CREDENTIALS/.test(p.msg)));
    assert.ok(parsed.some((p) => p.level === "error" && /not granted/.test(p.msg)));
    assert.ok(parsed.some((p) => p.engineer && p.audit_log && p.approvals), "the banner too");

    // A refusal to start is a JSON line too.
    await Deno.mkdir(paths.auditLog + ".tmp");
    await Deno.rename(paths.auditLog, paths.auditLog + ".tmp/old");
    await Deno.mkdir(paths.auditLog);
    const refused = await refusedStart(paths, emulator.baseUrl, dir, ["--log-format", "json"]);
    const refusal = JSON.parse(refused.trim().split("\n").at(-1)!);
    assert.equal(refusal.level, "error");
    assert.match(refusal.msg, /cannot start: the audit log .* is a directory/);
    await Deno.remove(paths.auditLog);

    const quiet = await startGate(paths, emulator.baseUrl, dir, [
      "--allow-missing-credentials",
      "--log-level",
      "error",
    ]);
    try {
      await quiet.waitFor(/gate listening on unix:/);
      assert.ok(!quiet.output().includes("warning:"), quiet.output());
    } finally {
      await quiet.stop();
    }
  }));

Deno.test("gate: bad forms of the new flags exit 2 naming the key, before anything starts", async () => {
  const base = ["gate", "--project-id", "p", "--service-account", "sa@p.iam.gserviceaccount.com"];
  const cases: [string[], RegExp][] = [
    [["--log-level", "loud"], /log_level: must be one of error, warn, info, debug, got "loud"/],
    [["--log-format", "xml"], /log_format: must be one of text, json/],
    [["--audit-max-bytes", "12"], /audit_max_bytes: must be between 1024 and 1073741824, got 12/],
    [["--audit-max-files", "0"], /audit_max_files: must be between 1 and 100, got 0/],
    [["--audit-max-files", "two"], /audit_max_files: must be a whole number/],
    [["--allow-missing-credentials=yes"], /--allow-missing-credentials does not take a value/],
    [["--no-audit-required=1"], /--no-audit-required does not take a value/],
  ];
  for (const [args, pattern] of cases) {
    const r = await runCli([...base, ...args], { env: { HOME: "/nonexistent" } });
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, pattern, args.join(" "));
  }
  const env = await runCli(base, {
    env: { HOME: "/nonexistent", GCP_AUTHCALATOR_AUDIT_REQUIRED: "sometimes" },
  });
  assert.equal(env.code, 2);
  assert.match(env.stderr, /audit_required: must be true or false, got "sometimes"/);
});

/**
 * Starts the gate with its runtime directory (the audit log's home) on a tmpfs of `sizeKib` that
 * exists only in the gate's own mount namespace (`unshare -rm`: works as root and, where user
 * namespaces are allowed, as anyone). `prefillKib` of it are used before the gate starts. The
 * sockets live outside it (returned `socket`) so the test can reach them; the test reaches the
 * tmpfs through /proc/<gate pid>/root (`inGate`).
 */
function startGateOnTinyDisk(
  paths: GatePaths,
  googleBase: string,
  dir: string,
  sizeKib: number,
  prefillKib: number,
): { gate: RunningProcess; socket: string; inGate: (path: string) => string } {
  const socketDir = `${dir}/sockets`;
  const args = [
    "--project-id",
    "demo-project",
    "--service-account",
    DEV_SA,
    "--google-api-base",
    googleBase,
    "--socket-path",
    `${socketDir}/gate.sock`,
    "--admin-socket-path",
    `${socketDir}/admin/admin.sock`,
  ];
  const env = {
    GOOGLE_APPLICATION_CREDENTIALS: paths.adc,
    XDG_RUNTIME_DIR: paths.runDir,
    HOME: dir,
  };
  // A prefill larger than the disk just fills it; only a failed mount stops the script (97).
  const script = 'mount -t tmpfs -o size="$1"k,mode=0700 tmpfs "$2" || exit 97; ' +
    'head -c "$3"k /dev/zero > "$2/filler" 2>/dev/null; shift 3; exec "$@"';
  const child = new Deno.Command("unshare", {
    args: [
      "-rm",
      "sh",
      "-c",
      script,
      "sh",
      String(sizeKib),
      paths.runDir,
      String(prefillKib),
      Deno.execPath(),
      "run",
      "--quiet",
      ...pinnedFlags("gate", args, env),
      MAIN,
      "gate",
      ...args,
    ],
    env: baseEnv(env),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return {
    gate: watchProcess(child),
    socket: `${socketDir}/gate.sock`,
    inGate: (path: string) => `/proc/${child.pid}/root${path}`,
  };
}

Deno.test("defect 6 on a full disk: the gate refuses to start, and a disk that fills later refuses grants", () =>
  withWorld(async ({ emulator, paths, dir }) => {
    const full = startGateOnTinyDisk(paths, emulator.baseUrl, dir, 64, 128);
    assert.equal((await full.gate.exited()).code, 1, full.gate.output());
    assert.match(
      full.gate.output(),
      /cannot start: the audit log .*audit\.log does not take a write/,
    );
    assert.match(full.gate.output(), /No space left on device/);
    assert.match(full.gate.output(), /Fix: free disk space/);

    const { gate, inGate, socket } = startGateOnTinyDisk(paths, emulator.baseUrl, dir, 256, 0);
    try {
      await gate.waitFor(/gate listening on unix:/);
      assert.equal((await socketGet(socket, "/token")).status, 200);
      // Fill the gate's disk from outside its mount namespace.
      const filler = inGate(`${paths.runDir}/filler`);
      await Deno.writeFile(filler, new Uint8Array(1024 * 1024)).catch((err) => {
        if (!(err instanceof Error && /No space left/.test(err.message))) throw err;
      });
      // Lines still fit in the file's last allocated page; the first that needs a new one fails.
      let refused = await socketGet(socket, "/token?scopes=f0");
      for (let i = 1; i < 64 && refused.status === 200; i++) {
        refused = await socketGet(socket, `/token?scopes=f${i}`);
      }
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      assert.equal(refused.body.access_token, undefined);
      assert.equal(refused.body.code, "audit_unavailable");
      assert.match(gate.output(), /audit: cannot write .*No space left on device/);
      const lines = (await Deno.readTextFile(inGate(paths.auditLog))).split("\n");
      assert.equal(lines.at(-1), "", "no split line on the full disk");
      for (const line of lines.slice(0, -1)) JSON.parse(line);

      await Deno.remove(filler);
      assert.equal((await socketGet(socket, "/token?scopes=again")).status, 200);
    } finally {
      await gate.stop();
    }
  }));
