/** Resident set size of a process from /proc (Linux; the bench runs with --allow-all). */
import { median } from "./stats.ts";

/** VmRSS of `pid` in MiB. */
export async function rssMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** The median of `samples` readings of VmRSS, `gapMs` apart. */
export async function idleRssMiB(pid: number, samples = 5, gapMs = 100): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < samples; i++) {
    values.push(await rssMiB(pid));
    await new Promise((r) => setTimeout(r, gapMs));
  }
  return median(values);
}
