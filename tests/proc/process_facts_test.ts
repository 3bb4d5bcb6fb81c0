/**
 * One `/proc` reader for every caller-identity path: through Deno (with-prod) and through libc
 * (the gate, whose role cannot read `/proc` through Deno) it must say the same about a process.
 */
import assert from "node:assert/strict";
import { loadLibc } from "../../src/proc/libc.ts";
import { libcProcFS, ProcReadError, realProcFS } from "../../src/proc/proc_fs.ts";
import { describeProcess } from "../../src/proc/process_facts.ts";

const linux = Deno.build.os === "linux";

Deno.test({
  name: "describeProcess reads the same facts through Deno and through libc",
  ignore: !linux,
  async fn() {
    const libc = loadLibc();
    assert.ok(libc, "libc loads on Linux");
    const viaDeno = await describeProcess(realProcFS, Deno.pid);
    const viaLibc = await describeProcess(libcProcFS(libc), Deno.pid);
    assert.deepEqual(viaLibc, viaDeno);
    assert.equal(viaDeno.uid, Deno.uid());
    assert.equal(viaDeno.exe, Deno.execPath());
    // argv[0] is however deno was started: `deno`, or its full path when a task or npx ran it.
    assert.match(viaDeno.argv?.[0] ?? "", /(^|\/)deno$/);
    assert.ok(viaDeno.argv?.includes("test"), "the test runner's own argv");
    const fds = await libcProcFS(libc).readDir("/proc/self/fd");
    assert.deepEqual(
      [...fds].sort(),
      [...(await realProcFS.readDir("/proc/self/fd"))].sort().filter((fd) => fds.includes(fd)),
    );
  },
});

Deno.test({
  name: "describeProcess leaves out what it cannot read; libcProcFS throws a clear error",
  ignore: !linux,
  async fn() {
    const libc = loadLibc()!;
    assert.deepEqual(await describeProcess(libcProcFS(libc), 0), {});
    await assert.rejects(
      libcProcFS(libc).readText("/proc/0/status"),
      (e: Error) => e instanceof ProcReadError && e.message === "cannot read /proc/0/status",
    );
    await assert.rejects(libcProcFS(libc).readDir("/proc/0/fd"), ProcReadError);
    await assert.rejects(libcProcFS(libc).readLink("/proc/0/exe"), ProcReadError);
  },
});
