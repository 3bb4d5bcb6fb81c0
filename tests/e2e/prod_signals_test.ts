/** with-prod's signals, exit codes and cleanup, with real processes. */
import assert from "node:assert/strict";
import { runCli } from "../helpers/cli.ts";
import { bashGet, exists, startProdStack, TOKEN_PATH, waitForFile } from "./prod_stack.ts";

Deno.test("a signal before the child starts cancels: 143/130 (137 for SIGKILL), the command never runs", async () => {
  await using s = await startProdStack();
  for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130], ["SIGKILL", 137]] as const) {
    const marker = `${s.dir}/ran-${signal}`;
    const wp = s.withProd(["bash", "-c", `touch ${marker}`]);
    const id = await s.nextPendingId();
    wp.child.kill(signal);
    const status = await wp.child.status;
    await wp.stop();
    assert.equal(status.code, code, wp.output());
    assert.ok(!(await exists(marker)));
    // The gate dropped the queued request when the client went away.
    let left = await runCli(["pending", id, "--admin-socket-path", s.adminPath]);
    for (let i = 0; i < 100 && left.code === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      left = await runCli(["pending", id, "--admin-socket-path", s.adminPath]);
    }
    assert.equal(left.code, 1);
    assert.match(left.stderr, /is no longer waiting: The requester has gone/);
  }
  const audit = await s.auditLines();
  assert.ok(!audit.some((e) => e.result === "granted"));
});

Deno.test("after the child starts, SIGTERM is forwarded and the child's exit code propagates", async () => {
  await using s = await startProdStack();
  const ready = `${s.dir}/ready`;
  const wp = s.withProd([
    "bash",
    "-c",
    `trap 'echo "$CLOUDSDK_CONFIG" > ${s.dir}/sandbox; exit 42' TERM; touch ${ready}; ` +
    "while :; do sleep 0.05; done",
  ]);
  await s.approve(await s.nextPendingId());
  await waitForFile(ready);
  wp.child.kill("SIGTERM");
  const status = await wp.child.status;
  await wp.stop();
  assert.equal(status.code, 42, wp.output());
  const sandbox = (await waitForFile(`${s.dir}/sandbox`)).trim();
  assert.ok(sandbox.length > 0);
  assert.ok(!(await exists(sandbox)), "sandbox removed");
  assert.ok((await s.auditLines()).some((e) => e.result === "revoked"), "session revoked");
});

Deno.test("a child killed by the forwarded signal exits 128+n", async () => {
  await using s = await startProdStack();
  const wp = s.withProd(["bash", "-c", `touch ${s.dir}/ready; exec sleep 30`]);
  await s.approve(await s.nextPendingId());
  await waitForFile(`${s.dir}/ready`);
  await new Promise((r) => setTimeout(r, 100)); // let bash exec into sleep
  wp.child.kill("SIGTERM");
  const status = await wp.child.status;
  await wp.stop();
  assert.equal(status.code, 143, wp.output());
});

Deno.test("a second signal skips the 5 s grace and kills at once", async () => {
  await using s = await startProdStack();
  const wp = s.withProd([
    "bash",
    "-c",
    `trap '' TERM; touch ${s.dir}/ready; while :; do sleep 0.05; done`,
  ]);
  await s.approve(await s.nextPendingId());
  await waitForFile(`${s.dir}/ready`);
  const t0 = Date.now();
  wp.child.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 300));
  wp.child.kill("SIGTERM");
  const status = await wp.child.status;
  const elapsed = Date.now() - t0;
  await wp.stop();
  assert.equal(status.code, 137, wp.output());
  assert.ok(elapsed < 4_000, `took ${elapsed} ms`);
  assert.ok((await s.auditLines()).some((e) => e.result === "revoked"));
});

Deno.test("a crashing child: exit 128+n, session revoked, sandbox removed", async () => {
  await using s = await startProdStack();
  const wp = s.withProd([
    "bash",
    "-c",
    `echo "$CLOUDSDK_CONFIG" > ${s.dir}/sandbox; kill -SEGV $$`,
  ]);
  await s.approve(await s.nextPendingId());
  const status = await wp.child.status;
  await wp.stop();
  assert.equal(status.code, 139, wp.output());
  const sandbox = (await waitForFile(`${s.dir}/sandbox`)).trim();
  assert.ok(!(await exists(sandbox)), "sandbox removed");
  assert.deepEqual(
    (await s.auditLines()).filter((e) => e.endpoint === "/session").map((e) => e.result),
    ["granted", "revoked"],
  );
});

Deno.test("a command that does not exist: 127, session revoked", async () => {
  await using s = await startProdStack();
  const wp = s.withProd(["authcalator-no-such-command-xyz"]);
  await s.approve(await s.nextPendingId());
  const status = await wp.child.status;
  await wp.stop();
  assert.equal(status.code, 127);
  assert.match(wp.output(), /cannot run authcalator-no-such-command-xyz: command not found/);
  assert.ok((await s.auditLines()).some((e) => e.result === "revoked"));
});

/** Whether `pid` is running (a zombie waiting for its reaper counts as gone). */
async function running(pid: number): Promise<boolean> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
  if (!stat) return false;
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

Deno.test("SIGKILL of with-prod under an approved session: session revoked, command tree killed, sandbox removed", async () => {
  await using s = await startProdStack();
  const wp = s.withProd([
    "bash",
    "-c",
    `echo "$CLOUDSDK_CONFIG" > ${s.dir}/sandbox; sleep 300 & echo $! > ${s.dir}/grandchild; ` +
    `echo $$ > ${s.dir}/child; wait`,
  ]);
  await s.approve(await s.nextPendingId());
  const child = Number((await waitForFile(`${s.dir}/child`)).trim());
  const grandchild = Number((await waitForFile(`${s.dir}/grandchild`)).trim());
  const sandbox = (await waitForFile(`${s.dir}/sandbox`)).trim();
  assert.ok(await running(child) && await running(grandchild) && await exists(sandbox));
  assert.ok(!(await s.auditLines()).some((e) => e.result === "revoked"));

  wp.child.kill("SIGKILL");
  const status = await wp.child.status;
  assert.equal(status.signal, "SIGKILL");
  // The gate saw the held connection drop and revoked the session.
  await until(
    "the gate to revoke the session",
    async () =>
      (await s.auditLines()).some((e) => e.endpoint === "/session" && e.result === "revoked"),
  );
  // The reaper killed the command and what it started, and removed the sandbox.
  await until("the command to die", async () => !(await running(child)));
  await until("the grandchild to die", async () => !(await running(grandchild)));
  await until("the sandbox to go", async () => !(await exists(sandbox)));
  await wp.stop();
  assert.match(wp.output(), /reaper: with-prod ended without cleaning up; killed its command/);
});

Deno.test("a sandbox left by a with-prod that died with its reaper is swept at the next start", async () => {
  await using s = await startProdStack();
  const stale = `${s.dir}/wp/authcalator-gcloud-stale`;
  await Deno.mkdir(`${s.dir}/wp`, { recursive: true });
  await Deno.mkdir(stale);
  await Deno.writeTextFile(`${stale}/owner`, "1 1\n"); // PID 1 never has start time 1
  const wp = s.withProd(["true"]);
  await s.approve(await s.nextPendingId());
  const status = await wp.child.status;
  await wp.stop();
  assert.equal(status.code, 0, wp.output());
  assert.ok(!(await exists(stale)), "stale sandbox swept");
});

Deno.test("the gate going away mid-run is noticed: with-prod says so and its proxy serves no more tokens", async () => {
  await using s = await startProdStack();
  await Deno.writeTextFile(
    `${s.dir}/probe.sh`,
    `H=$GCE_METADATA_HOST; ${bashGet(TOKEN_PATH)}\n`,
  );
  const wp = s.withProd([
    "bash",
    "-c",
    `bash ${s.dir}/probe.sh > ${s.dir}/before; touch ${s.dir}/ready; ` +
    `for i in $(seq 1 400); do [ -e ${s.dir}/go ] && break; sleep 0.05; done; ` +
    `bash ${s.dir}/probe.sh > ${s.dir}/after.tmp; mv ${s.dir}/after.tmp ${s.dir}/after`,
  ]);
  await s.approve(await s.nextPendingId());
  await waitForFile(`${s.dir}/ready`);
  assert.match(await Deno.readTextFile(`${s.dir}/before`), /^HTTP\/1\.1 200/);
  await s.gate.stop("SIGTERM");
  await wp.waitFor(
    /with-prod: the prod session ended: .*; prod tokens are no longer served/,
    15_000,
  );
  await Deno.writeTextFile(`${s.dir}/go`, "");
  const after = await waitForFile(`${s.dir}/after`);
  assert.doesNotMatch(after, /^HTTP\/1\.1 200/);
  assert.ok(!after.includes("ya29"), after);
  const status = await wp.child.status;
  await wp.stop();
  assert.equal(status.code, 0, wp.output());
});
