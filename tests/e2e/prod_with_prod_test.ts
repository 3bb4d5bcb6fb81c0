/**
 * with-prod end to end, with real processes: the emulator, the gate (off a TTY, no DISPLAY, so
 * every confirmation lands in the pending queue), `authcalator approve|deny` run by the test, and
 * with-prod wrapping small bash programs.
 */
import assert from "node:assert/strict";
import { runCli } from "../helpers/cli.ts";
import { pairingCode } from "../../src/gate_api/pairing_code.ts";
import { GCLOUD_PROPERTIES } from "../../src/with_prod/sandbox.ts";
import { bashGet, exists, PROJECT, startProdStack, TOKEN_PATH, waitForFile } from "./prod_stack.ts";

const HEX64 = /[0-9a-f]{64}/;
const GCLOUD = "/usr/bin/gcloud";

/** Every regular file under `root` (symlinks not followed) whose bytes contain `needle`. */
async function filesContaining(
  root: string,
  needle: string,
  skip: string[] = [],
): Promise<string[]> {
  const hits: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      if (skip.includes(path)) continue;
      if (e.isDirectory) await walk(path);
      else if (e.isFile) {
        const text = new TextDecoder("latin1").decode(
          await Deno.readFile(path).catch(() => new Uint8Array()),
        );
        if (text.includes(needle)) hits.push(path);
      }
    }
  };
  await walk(root);
  return hits;
}

Deno.test("with-prod approved with `authcalator approve --yes`: env, gcloud through the proxy, no token on disk, tree-only proxy, cleanup", async () => {
  await using s = await startProdStack();
  const out = `${s.dir}/out`;
  await Deno.mkdir(out);
  const hasGcloud = await exists(GCLOUD);
  if (!hasGcloud) console.log(`gcloud: not installed (${GCLOUD}); its steps are skipped`);
  // The wrapped program: records when it started, its environment and gcloud's sandbox, lets a
  // grandchild fetch a token from the temporary proxy, runs real gcloud, then waits for the
  // test's outside probe.
  const script = [
    `date +%s%N > ${out}/started`,
    `env > ${out}/env`,
    `cat "$CLOUDSDK_CONFIG/properties" > ${out}/properties`,
    `stat -c %a "$CLOUDSDK_CONFIG" "$CLOUDSDK_CONFIG/properties" > ${out}/modes`,
    `bash ${s.dir}/grandchild.sh > ${out}/grandchild.tmp`,
    `mv ${out}/grandchild.tmp ${out}/grandchild`,
    hasGcloud
      ? `${GCLOUD} auth print-access-token > ${out}/gcloud_token 2> ${out}/gcloud_err; ` +
        `${GCLOUD} config list > ${out}/gcloud_config 2>&1; touch ${out}/gcloud_done`
      : `touch ${out}/gcloud_done`,
    `for i in $(seq 1 400); do [ -e ${out}/go ] && break; sleep 0.05; done`,
    "exit 7",
  ].join("\n");
  await Deno.writeTextFile(`${s.dir}/prog.sh`, script + "\n");
  await Deno.writeTextFile(
    `${s.dir}/grandchild.sh`,
    `H=$GCE_METADATA_HOST; ${bashGet(TOKEN_PATH)}\n`,
  );
  const wp = s.withProd(["bash", `${s.dir}/prog.sh`, "--password", "hunter2"], [
    "--quota-project",
    "billing-proj",
    "--env",
    "EXTRA=${HOME}/x",
    "--env",
    "PINNED=${GOOGLE_CLOUD_PROJECT:-none}",
  ]);
  const id = await s.nextPendingId();
  // with-prod printed the pairing code the approval surfaces show for this request.
  const code = await pairingCode(id);
  await wp.waitFor(
    new RegExp(
      `with-prod: asking the host for approval; pairing code ${code} — approve only a request that shows ${code}`,
    ),
    20_000,
  );
  // The human reads the whole redacted command first.
  const shown = await runCli(["pending", id, "--admin-socket-path", s.adminPath]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(
    shown.stdout,
    /Command: {2}4 arguments[^\n]*\n {2}1 {2}bash\n {2}2 {2}.*prog\.sh\n {2}3 {2}--password\n {2}4 {2}\*\*\*\n/,
  );
  // ...beside the pairing code with-prod printed.
  assert.match(shown.stdout, new RegExp(`Code: +${code}\\b`));
  assert.ok(!(await exists(`${out}/started`)), "nothing runs before approval");
  const { decidedAt } = await s.approve(id);
  const started = Number((await waitForFile(`${out}/started`)).trim()) / 1e6;
  console.log(
    `approval round-trip (decision -> child start): ${(started - decidedAt).toFixed(0)} ms`,
  );

  const grandchild = await waitForFile(`${out}/grandchild`);
  assert.match(grandchild, /^HTTP\/1\.1 200/);
  const prodToken = /"access_token":"(ya29\.[^"]+)"/.exec(grandchild)![1];
  await waitForFile(`${out}/gcloud_done`, 120_000);
  if (hasGcloud) {
    // Real gcloud got the session's token from the proxy (GCE credentials, no token file).
    const gcloudErr = await Deno.readTextFile(`${out}/gcloud_err`);
    assert.equal((await Deno.readTextFile(`${out}/gcloud_token`)).trim(), prodToken, gcloudErr);
    const config = await Deno.readTextFile(`${out}/gcloud_config`);
    assert.match(config, new RegExp(`project = ${PROJECT}`));
    assert.match(config, /account = .+@/);
    assert.doesNotMatch(config, /access_token_file/);
  }

  // A process outside the tree (reparented away) gets 403 from the same proxy.
  const env = Object.fromEntries(
    (await Deno.readTextFile(`${out}/env`)).split("\n").filter((l) => l.includes("="))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  const host = env.GCE_METADATA_HOST;
  await Deno.writeTextFile(
    `${s.dir}/outside.sh`,
    `H=${host}; ${
      bashGet(TOKEN_PATH)
    } > ${out}/outside.tmp; mv ${out}/outside.tmp ${out}/outside\n`,
  );
  await new Deno.Command("bash", { args: ["-c", `(setsid bash ${s.dir}/outside.sh &); exit 0`] })
    .output();
  const outside = await waitForFile(`${out}/outside`);
  assert.match(outside, /^HTTP\/1\.1 403/);
  assert.ok(!outside.includes("ya29"));
  // ...and, while the session is live and gcloud has run, finds the token in no file: not in the
  // sandbox, not in the runtime directory, not under HOME (this test's own capture dir aside).
  assert.deepEqual(await filesContaining(`${s.dir}/wp`, prodToken), []);
  assert.deepEqual(await filesContaining(s.dir, prodToken, [out]), []);
  await Deno.writeTextFile(`${out}/go`, "");

  const status = await wp.child.status;
  await wp.stop();
  assert.equal(status.code, 7, wp.output());
  assert.doesNotMatch(wp.output(), /does not hold sessions/, "the session was held");
  assert.doesNotMatch(
    wp.output(),
    /the prod session ended/,
    "a normal end is not reported as news",
  );

  // The child's environment.
  assert.match(host, /^127\.0\.0\.1:\d+$/);
  assert.equal(env.GCE_METADATA_IP, host);
  assert.equal(env.GCE_METADATA_ROOT, host);
  assert.equal(env.GCP_AUTHCALATOR_PROD_SESSION, host);
  assert.equal(env.GOOGLE_APPLICATION_CREDENTIALS, undefined);
  assert.equal(env.CLOUDSDK_AUTH_ACCESS_TOKEN, undefined);
  assert.equal(env.GOOGLE_CLOUD_PROJECT, PROJECT);
  assert.equal(env.GCLOUD_PROJECT, PROJECT);
  assert.equal(env.CLOUDSDK_CORE_PROJECT, PROJECT);
  assert.equal(env.GOOGLE_CLOUD_QUOTA_PROJECT, "billing-proj");
  assert.equal(env.EXTRA, `${s.dir}/x`);
  assert.equal(env.PINNED, PROJECT);
  assert.match(env.CLOUDSDK_CORE_ACCOUNT, /@/);
  assert.ok(env.CLOUDSDK_CONFIG.startsWith(`${s.dir}/wp/authcalator-gcloud-`));
  assert.equal(await Deno.readTextFile(`${out}/properties`), GCLOUD_PROPERTIES);
  assert.equal((await Deno.readTextFile(`${out}/modes`)).trim(), "700\n600");
  // Neither the session id nor the token reached the child's environment.
  const envText = await Deno.readTextFile(`${out}/env`);
  assert.ok(!HEX64.test(envText));
  assert.ok(!envText.includes(prodToken));
  assert.ok(!(await exists(env.CLOUDSDK_CONFIG)), "sandbox removed");

  const audit = await s.auditLines();
  const granted = audit.find((e) => e.endpoint === "/session" && e.result === "granted")!;
  assert.deepEqual(granted.command_argv, ["bash", `${s.dir}/prog.sh`, "--password", "***"]);
  assert.equal(granted.target_project, PROJECT);
  assert.ok(audit.some((e) => e.endpoint === `/pending/${id}/approve` && e.result === "granted"));
  assert.ok(
    audit.some((e) => e.endpoint === "/session" && e.result === "revoked"),
    "session revoked",
  );
  const everything = JSON.stringify(audit) + s.gate.output() + wp.output();
  assert.ok(!everything.includes(prodToken), "no token in any log or audit line");
  assert.ok(
    !HEX64.test(everything.replaceAll(/"session_ref":"[0-9a-f]{12}"/g, "")),
    "no session id",
  );
  const leak = everything.indexOf("hunter2");
  assert.ok(leak < 0, everything.slice(Math.max(0, leak - 400), leak + 40));
});

Deno.test("with-prod denied with `authcalator deny`: the command never runs", async () => {
  await using s = await startProdStack();
  const marker = `${s.dir}/ran`;
  const wp = s.withProd(["bash", "-c", `touch ${marker}`]);
  const id = await s.nextPendingId();
  // After 10 s with-prod tells its user which request to look for on the host.
  const [, hinted] = await wp.waitFor(
    /with-prod: pending request ([0-9a-f]{32}); if no prompt appears, review and approve it on the host with: authcalator pending \1 && authcalator approve \1/,
    20_000,
  );
  assert.equal(hinted, id);
  await s.deny(id);
  const status = await wp.child.status;
  await wp.stop();
  assert.equal(status.code, 80, wp.output());
  assert.match(
    wp.output(),
    /with-prod: failed to acquire prod token: Prod access denied by a human on the host\./,
  );
  assert.ok(!(await exists(marker)));
  const audit = await s.auditLines();
  assert.ok(audit.some((e) => e.endpoint === "/session" && e.result === "denied"));
});

Deno.test("a nested with-prod reuses the parent's proxy after /session-health confirms it", async () => {
  await using s = await startProdStack();
  const main = new URL("../../src/main.ts", import.meta.url).pathname;
  const inner = [
    Deno.execPath(),
    "run",
    "--quiet",
    "--allow-all",
    main,
    "with-prod",
    "--",
    "bash",
    "-c",
    `echo "$GCE_METADATA_HOST $CLOUDSDK_CORE_PROJECT" > ${s.dir}/inner`,
  ].map((a) => `'${a}'`).join(" ");
  const wp = s.withProd([
    "bash",
    "-c",
    `echo "$GCE_METADATA_HOST" > ${s.dir}/outer; ${inner}`,
  ]);
  const id = await s.nextPendingId().catch((e) => {
    throw new Error(`${e}\nwith-prod:\n${wp.output()}`);
  });
  await s.approve(id);
  const status = await wp.child.status;
  await wp.stop();
  assert.equal(status.code, 0, wp.output());
  const outer = (await Deno.readTextFile(`${s.dir}/outer`)).trim();
  assert.equal((await Deno.readTextFile(`${s.dir}/inner`)).trim(), `${outer} ${PROJECT}`);
  assert.match(wp.output(), /with-prod: reusing existing prod session for project demo-project/);
  // One approval, one session.
  const sessions = (await s.auditLines()).filter((e) => e.endpoint === "/session");
  assert.deepEqual(sessions.map((e) => e.result), ["granted", "revoked"]);
});
