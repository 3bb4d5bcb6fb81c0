/** Resident set size of a process from /proc (Linux; the bench runs with --allow-all). */
import { median } from "./stats.ts";

/** VmRSS of `pid` in MiB. */
export async function rssMiB(pid: number): Promise<number> {
  return (await memoryOf(pid)).rssMiB;
}

/** Resident memory: all of it, and the private anonymous part (heap, stacks; no file pages). */
export interface Resident {
  rssMiB: number;
  anonMiB: number;
}

/** VmRSS and RssAnon of `pid` in MiB. */
export async function memoryOf(pid: number): Promise<Resident> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const rss = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  const anon = /^RssAnon:\s+(\d+) kB$/m.exec(status);
  if (!rss || !anon) throw new Error(`no VmRSS/RssAnon for pid ${pid}`);
  return { rssMiB: Number(rss[1]) / 1024, anonMiB: Number(anon[1]) / 1024 };
}

/** The median of `samples` readings of VmRSS, `gapMs` apart. */
export async function idleRssMiB(pid: number, samples = 5, gapMs = 100): Promise<number> {
  return (await idleMemory(pid, samples, gapMs)).rssMiB;
}

/** Medians of `samples` readings of VmRSS and RssAnon, `gapMs` apart. */
export async function idleMemory(pid: number, samples = 5, gapMs = 100): Promise<Resident> {
  const values: Resident[] = [];
  for (let i = 0; i < samples; i++) {
    values.push(await memoryOf(pid));
    await new Promise((r) => setTimeout(r, gapMs));
  }
  return {
    rssMiB: median(values.map((v) => v.rssMiB)),
    anonMiB: median(values.map((v) => v.anonMiB)),
  };
}
