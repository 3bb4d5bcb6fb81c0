/**
 * with-prod end to end, with real processes: the emulator, the gate (off a TTY, no DISPLAY, so
 * every confirmation lands in the pending queue), `authcalator approve|deny` run by the test, and
 * with-prod wrapping small bash programs.
 */
import assert from "node:assert/strict";
import { runCli } from "../helpers/cli.ts";
import { bashGet, exists, PROJECT, startProdStack, TOKEN_PATH, waitForFile } from "./prod_stack.ts";

const HEX64 = /[0-9a-f]{64}/;

Deno.test("with-prod approved with `authcalator approve --yes`: env, gcloud files, tree-only proxy, cleanup", async () => {
  await using s = await startProdStack();
  const out = `${s.dir}/out`;
  await Deno.mkdir(out);
  // The wrapped program: records when it started, its environment and gcloud files, lets a
  // grandchild fetch a token from the temporary proxy, then waits for the test's outside probe.
  const script = [
    `date +%s%N > ${out}/started`,
    `env > ${out}/env`,
    `cat "$CLOUDSDK_CONFIG/properties" > ${out}/properties`,
    `cat "$CLOUDSDK_CONFIG/access_token" > ${out}/token_file`,
    `stat -c %a "$CLOUDSDK_CONFIG" "$CLOUDSDK_CONFIG/access_token" "$CLOUDSDK_CONFIG/properties" > ${out}/modes`,
    `bash ${s.dir}/grandchild.sh > ${out}/grandchild.tmp`,
    `mv ${out}/grandchild.tmp ${out}/grandchild`,
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
  // The human reads the whole redacted command first.
  const shown = await runCli(["pending", id, "--admin-socket-path", s.adminPath]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(
    shown.stdout,
    /Command: {2}4 arguments\n {2}1 {2}bash\n {2}2 {2}.*prog\.sh\n {2}3 {2}--password\n {2}4 {2}\*\*\*\n/,
  );
  assert.ok(!(await exists(`${out}/started`)), "nothing runs before approval");
  const { decidedAt } = await s.approve(id);
  const started = Number((await waitForFile(`${out}/started`)).trim()) / 1e6;
  console.log(
    `approval round-trip (decision -> child start): ${(started - decidedAt).toFixed(0)} ms`,
  );

  const grandchild = await waitForFile(`${out}/grandchild`);
  assert.match(grandchild, /^HTTP\/1\.1 200/);
  const tokenFile = await waitForFile(`${out}/token_file`);
  assert.match(tokenFile, /^ya29\./);
  assert.ok(grandchild.includes(`"access_token":"${tokenFile}"`), "proxy and token file agree");

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
  await Deno.writeTextFile(`${out}/go`, "");

  const status = await wp.child.status;
  await wp.stop();
  assert.equal(status.code, 7, wp.output());

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
  assert.equal(
    await Deno.readTextFile(`${out}/properties`),
    `[auth]\naccess_token_file = ${env.CLOUDSDK_CONFIG}/access_token\n`,
  );
  assert.equal((await Deno.readTextFile(`${out}/modes`)).trim(), "700\n600\n600");
  // Neither the session id nor the token reached the child's environment.
  const envText = await Deno.readTextFile(`${out}/env`);
  assert.ok(!HEX64.test(envText));
  assert.ok(!envText.includes(tokenFile));
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
  assert.ok(!everything.includes(tokenFile), "no token in any log or audit line");
  assert.ok(
    !HEX64.test(everything.replaceAll(/"session_ref":"[0-9a-f]{12}"/g, "")),
    "no session id",
  );
  assert.ok(!everything.includes("hunter2"));
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
  assert.equal(status.code, 1);
  assert.match(wp.output(), /with-prod: failed to acquire prod token: Prod access denied by user/);
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
  await s.approve(await s.nextPendingId());
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
