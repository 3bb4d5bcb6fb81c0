import assert from "node:assert/strict";
import { parseStamp, processStamp, stampAlive } from "../../src/with_prod/process_stamp.ts";
import type { ProcFS } from "../../src/with_prod/proc_fs.ts";
import { realProcFS } from "../../src/with_prod/proc_fs.ts";

function fakeProc(stats: Record<number, string>): ProcFS {
  return {
    readText: (path) => {
      const pid = Number(/^\/proc\/(\d+)\/stat$/.exec(path)?.[1]);
      return pid in stats
        ? Promise.resolve(stats[pid])
        : Promise.reject(new Deno.errors.NotFound());
    },
    readDir: () => Promise.resolve([]),
    readLink: () => Promise.reject(new Deno.errors.NotFound()),
  };
}

const fields = (start: string) =>
  `S 1 2 3 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 ${start} 9000 100 18446744073709551615`;

Deno.test("the stamp is the PID and field 22, even when the command name holds ') ' and spaces", async () => {
  const proc = fakeProc({
    10: `10 (bash) ${fields("5551")}\n`,
    11: `11 (evil) S 1 2 (x) y) ${fields("777")}\n`,
  });
  assert.equal(await processStamp(proc, 10), "10 5551");
  assert.equal(await processStamp(proc, 11), "11 777");
});

Deno.test("bad forms: a gone process, a malformed stat, a bad PID", async () => {
  const proc = fakeProc({ 12: "12 no parens", 13: "13 (x) S 1", 14: `14 (x) ${fields("abc")}` });
  for (const pid of [99, 12, 13, 14, 0, -1, 1.5, Number.NaN]) {
    assert.equal(await processStamp(proc, pid), undefined, String(pid));
  }
  for (const bad of ["", "1", "x 1", "1 x", "0 5", "-1 5", "1 2 3", "12345678901 1"]) {
    assert.equal(parseStamp(bad), undefined, bad);
  }
  assert.deepEqual(parseStamp(" 42 7\n"), { pid: 42, start: "7" });
});

Deno.test("stampAlive: our own stamp is alive; our PID with another start time is not", async () => {
  const own = (await processStamp(realProcFS, Deno.pid))!;
  assert.match(own, new RegExp(`^${Deno.pid} \\d+$`));
  assert.equal(await stampAlive(realProcFS, own), true);
  assert.equal(await stampAlive(realProcFS, `${Deno.pid} 1`), false);
  assert.equal(await stampAlive(realProcFS, "garbage"), false);
});
