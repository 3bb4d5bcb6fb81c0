/**
 * The reaper with real processes: a real process tree, a real pipe whose writer "dies" (closed, as
 * the kernel closes it when with-prod is SIGKILLed), and /proc. Every wait is bounded.
 */
import assert from "node:assert/strict";
import { startReaper } from "../../src/with_prod/reaper.ts";
import { processStamp } from "../../src/with_prod/process_stamp.ts";
import { realProcFS } from "../../src/with_prod/proc_fs.ts";

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Running, not a zombie waiting for whichever process reaps it. */
async function alive(pid: number): Promise<boolean> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
  const close = stat.lastIndexOf(")");
  return close >= 0 && stat[close + 2] !== "Z";
}
const exists = (path: string) => Deno.lstat(path).then(() => true, () => false);

/** A tree: bash → (sleep, subshell → sleep, bash → sleep); the PIDs of the sleeps in a file. */
async function startTree(dir: string) {
  const child = new Deno.Command("bash", {
    args: [
      "-c",
      `sleep 101 & echo $! >> ${dir}/pids; ( sleep 102 & echo $! >> ${dir}/pids; wait ) & ` +
      `bash -c 'sleep 103 & echo $! >> ${dir}/pids; wait' & wait`,
    ],
    stdout: "null",
  }).spawn();
  await until("the tree", async () => {
    const text = await Deno.readTextFile(`${dir}/pids`).catch(() => "");
    return text.trim().split("\n").length === 3;
  });
  const pids = (await Deno.readTextFile(`${dir}/pids`)).trim().split("\n").map(Number);
  return { child, pids };
}

Deno.test("when with-prod's pipe closes, the reaper kills the command's whole tree and removes the sandbox", async () => {
  const dir = await Deno.makeTempDir();
  const sandbox = await Deno.makeTempDir();
  try {
    const reaper = startReaper(sandbox);
    const { child, pids } = await startTree(dir);
    await reaper.watch(await processStamp(realProcFS, child.pid));
    await reaper.release(); // what the kernel does when with-prod dies
    const status = await child.status;
    assert.equal(status.signal, "SIGKILL");
    for (const pid of pids) await until(`sleep ${pid} to die`, async () => !(await alive(pid)));
    await until("the sandbox to go", async () => !(await exists(sandbox)));
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(sandbox, { recursive: true }).catch(() => {});
  }
});

Deno.test("a stamp whose start time does not match (a reused PID) is never killed", async () => {
  const dir = await Deno.makeTempDir();
  const sandbox = await Deno.makeTempDir();
  const bystander = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    const reaper = startReaper(sandbox);
    await reaper.watch(`${bystander.pid} 1`);
    await reaper.release();
    await until("the sandbox to go", async () => !(await exists(sandbox)));
    assert.ok(await alive(bystander.pid), "the unrelated process lives");
  } finally {
    bystander.kill("SIGKILL");
    await bystander.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad forms on the pipe: no stamp, an empty line, garbage — the sandbox still goes, nothing is killed", async () => {
  const bystander = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    for (
      const send of [
        undefined,
        "",
        "garbage",
        `${bystander.pid}`,
        `-${bystander.pid} 1`,
        `${bystander.pid};kill 1`,
      ]
    ) {
      const sandbox = await Deno.makeTempDir();
      const reaper = startReaper(sandbox);
      if (send !== undefined) await reaper.watch(send);
      await reaper.release();
      await until("the sandbox to go", async () => !(await exists(sandbox)));
      assert.ok(await alive(bystander.pid), `bystander alive after ${send}`);
    }
  } finally {
    bystander.kill("SIGKILL");
    await bystander.status;
  }
});

Deno.test("the reaper ignores SIGINT/SIGTERM/SIGHUP sent to it and still does its job", async () => {
  const dir = await Deno.makeTempDir();
  const sandbox = await Deno.makeTempDir();
  try {
    const reaper = startReaper(sandbox);
    const { child } = await startTree(dir);
    await reaper.watch(await processStamp(realProcFS, child.pid));
    // The reaper is the only process whose argv names it; find it through /proc.
    let reaperPid: number | undefined;
    for await (const e of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
      if (cmd.includes("authcalator-with-prod-reaper\0" + sandbox)) reaperPid = Number(e.name);
    }
    assert.ok(reaperPid, "reaper found");
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) Deno.kill(reaperPid, sig);
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(await alive(reaperPid), "reaper survived the signals");
    await reaper.release();
    assert.equal((await child.status).signal, "SIGKILL");
    await until("the sandbox to go", async () => !(await exists(sandbox)));
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(sandbox, { recursive: true }).catch(() => {});
  }
});

Deno.test("a tree that keeps forking while the reaper works is frozen and killed whole (bounded)", async () => {
  const dir = await Deno.makeTempDir();
  const sandbox = await Deno.makeTempDir();
  try {
    const reaper = startReaper(sandbox);
    // Starts at most 400 sleepers, one every 10 ms, recording each pid; it is still forking when
    // the reaper acts.
    const child = new Deno.Command("bash", {
      args: [
        "-c",
        `for i in $(seq 1 400); do sleep 200 & echo $! >> ${dir}/pids; sleep 0.01; done; wait`,
      ],
      stdout: "null",
    }).spawn();
    await until("some sleepers", async () => {
      const text = await Deno.readTextFile(`${dir}/pids`).catch(() => "");
      return text.trim().split("\n").length >= 10;
    });
    await reaper.watch(await processStamp(realProcFS, child.pid));
    await reaper.release();
    assert.equal((await child.status).signal, "SIGKILL");
    const pids = (await Deno.readTextFile(`${dir}/pids`)).trim().split("\n").map(Number);
    assert.ok(pids.length < 400, "the loop was stopped part-way");
    for (const pid of pids) await until(`sleeper ${pid} to die`, async () => !(await alive(pid)));
    await until("the sandbox to go", async () => !(await exists(sandbox)));
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(sandbox, { recursive: true }).catch(() => {});
  }
});
