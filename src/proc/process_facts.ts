/**
 * What `/proc/<pid>` says about a process, for showing a caller to a human: effective uid, the pid
 * in each nested PID namespace, executable and argv. One reader for every caller-identity path
 * (the gate's Unix-socket peers now; the proxy's TCP callers next), over any {@link ProcFS}.
 * @module
 */
import type { ProcFS } from "./proc_fs.ts";

/** The facts read; a field that cannot be read is left out. */
export interface ProcessFacts {
  /** Effective uid from `status`. */
  uid?: number;
  /** `NSpid`, outermost first, when the process is in a nested PID namespace. */
  nsPid?: number[];
  /** `/proc/<pid>/exe`. */
  exe?: string;
  /** `/proc/<pid>/cmdline`, split on NUL. */
  argv?: string[];
}

/** Reads {@link ProcessFacts} of `pid`; never throws. */
export async function describeProcess(proc: ProcFS, pid: number): Promise<ProcessFacts> {
  const facts: ProcessFacts = {};
  const [status, exe, cmdline] = await Promise.all([
    proc.readText(`/proc/${pid}/status`).catch(() => undefined),
    proc.readLink(`/proc/${pid}/exe`).catch(() => undefined),
    proc.readText(`/proc/${pid}/cmdline`).catch(() => undefined),
  ]);
  if (status) {
    const uid = /^Uid:\s*\d+\s+(\d+)/m.exec(status);
    if (uid) facts.uid = Number(uid[1]);
    const ns = /^NSpid:\s*([\d\t ]+)$/m.exec(status);
    const ids = ns ? ns[1].trim().split(/\s+/).map(Number) : [];
    if (ids.length > 1) facts.nsPid = ids;
  }
  if (exe) facts.exe = exe;
  if (cmdline) {
    const parts = cmdline.split("\0");
    if (parts[parts.length - 1] === "") parts.pop();
    facts.argv = parts;
  }
  return facts;
}
