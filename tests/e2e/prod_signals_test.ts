/** with-prod's signals, exit codes and cleanup, with real processes. */
import assert from "node:assert/strict";
import { runCli } from "../helpers/cli.ts";
import { exists, startProdStack, waitForFile } from "./prod_stack.ts";

Deno.test("a signal before the child starts cancels: 143/130, the command never runs", async () => {
  await using s = await startProdStack();
  for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
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
    assert.match(left.stderr, /no queued request/);
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
