/**
 * A process's identity across PID reuse: its PID plus the kernel's start time (field 22 of
 * `/proc/<pid>/stat`, clock ticks since boot). with-prod stamps its sandbox with its own, and hands
 * the wrapped command's to the reaper, so neither ever acts on an unrelated process that later got
 * the same PID.
 * @module
 */
import type { ProcFS } from "./proc_fs.ts";

/** `<pid> <start time>`, or undefined when the process is gone or `/proc` is unreadable. */
export async function processStamp(proc: ProcFS, pid: number): Promise<string | undefined> {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  let stat: string;
  try {
    stat = await proc.readText(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
  const close = stat.lastIndexOf(")");
  if (close < 0) return undefined;
  const fields = stat.slice(close + 2).trim().split(" ");
  const start = fields[19]; // field 22 overall; fields here start at field 3
  return start && /^\d+$/.test(start) ? `${pid} ${start}` : undefined;
}

/** Parses a stamp written by {@link processStamp}; undefined when malformed. */
export function parseStamp(text: string): { pid: number; start: string } | undefined {
  const m = /^(\d{1,10}) (\d{1,20})$/.exec(text.trim());
  if (!m) return undefined;
  const pid = Number(m[1]);
  return pid > 0 ? { pid, start: m[2] } : undefined;
}

/** True when `stamp` still names a live process (same PID, same start time). */
export async function stampAlive(proc: ProcFS, stamp: string): Promise<boolean> {
  const parsed = parseStamp(stamp);
  if (!parsed) return false;
  return (await processStamp(proc, parsed.pid)) === `${parsed.pid} ${parsed.start}`;
}
