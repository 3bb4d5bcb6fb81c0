/**
 * Who is calling the temporary metadata proxy: the TCP connection pair is looked up in
 * `/proc/net/tcp` and `tcp6` (ESTABLISHED rows only, matching both the caller's address and the
 * proxy's actually bound address), the socket inode is traced to the processes holding it, and
 * each holder's `PPid` chain must reach with-prod's own PID within a depth cap. Anything that
 * cannot be proven is refused.
 * @module
 */
import type { ProcFS } from "./proc_fs.ts";

/** Most parent links followed. */
export const MAX_DEPTH = 256;

const ESTABLISHED = "01";

/** One end of a TCP connection. */
export interface Endpoint {
  hostname: string;
  port: number;
}

function hex4(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, "0");
}

/** An IPv4 address as the kernel prints it in `/proc/net/tcp` (little-endian hex). */
function ipv4Hex(address: string): string | undefined {
  const parts = address.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    return undefined;
  }
  return parts.reverse().map((p) => p.toString(16).toUpperCase().padStart(2, "0")).join("");
}

/** The `/proc/net/tcp` and `tcp6` spellings of an endpoint (IPv4, and IPv4-mapped IPv6). */
export function procAddresses(ep: Endpoint): { v4?: string; v6?: string } {
  const host = ep.hostname.replace(/^\[|\]$/g, "").replace(/^::ffff:/i, "");
  const v4 = ipv4Hex(host);
  if (!v4) return {};
  return { v4: `${v4}:${hex4(ep.port)}`, v6: `0000000000000000FFFF0000${v4}:${hex4(ep.port)}` };
}

/** The inode of the ESTABLISHED socket whose local end is `caller` and remote end is `server`. */
export async function findSocketInode(
  proc: ProcFS,
  caller: Endpoint,
  server: Endpoint,
): Promise<string | undefined> {
  const local = procAddresses(caller);
  const remote = procAddresses(server);
  const tables: [string, string | undefined, string | undefined][] = [
    ["/proc/net/tcp", local.v4, remote.v4],
    ["/proc/net/tcp6", local.v6, remote.v6],
  ];
  for (const [path, l, r] of tables) {
    if (!l || !r) continue;
    let text: string;
    try {
      text = await proc.readText(path);
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      if (f[1] === l && f[2] === r && f[3] === ESTABLISHED && f[9] !== "0") return f[9];
    }
  }
  return undefined;
}

/** Every PID holding `socket:[inode]` among its open file descriptors. */
export async function socketHolders(proc: ProcFS, inode: string): Promise<number[]> {
  const target = `socket:[${inode}]`;
  let entries: string[];
  try {
    entries = await proc.readDir("/proc");
  } catch {
    return [];
  }
  const holders: number[] = [];
  for (const name of entries) {
    if (!/^[0-9]+$/.test(name)) continue;
    let fds: string[];
    try {
      fds = await proc.readDir(`/proc/${name}/fd`);
    } catch {
      continue; // gone, or not ours
    }
    for (const fd of fds) {
      try {
        if ((await proc.readLink(`/proc/${name}/fd/${fd}`)) === target) {
          holders.push(Number(name));
          break;
        }
      } catch { /* closed meanwhile */ }
    }
  }
  return holders;
}

/** The parent PID from `/proc/<pid>/status`, or undefined. */
async function parentOf(proc: ProcFS, pid: number): Promise<number | undefined> {
  try {
    const status = await proc.readText(`/proc/${pid}/status`);
    const m = /^PPid:\s*(\d+)\s*$/m.exec(status);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `pid` is `ancestor` or one of its descendants (at most {@link MAX_DEPTH} links). */
export async function descendsFrom(proc: ProcFS, pid: number, ancestor: number): Promise<boolean> {
  let current = pid;
  for (let i = 0; i <= MAX_DEPTH; i++) {
    if (current === ancestor) return true;
    if (current <= 1) return false;
    const parent = await parentOf(proc, current);
    if (parent === undefined || parent === current) return false;
    current = parent;
  }
  return false;
}

/** The verdict on one connection, with the reason for the log. */
export interface CallerVerdict {
  allowed: boolean;
  why: string;
  pids: number[];
}

/**
 * Decides whether the process at the other end of a connection to `server` from `caller` belongs
 * to the tree of `ancestor`. Every process holding the socket must descend from it: a socket
 * shared with an outsider is refused.
 */
export async function checkCaller(
  proc: ProcFS,
  caller: Endpoint,
  server: Endpoint,
  ancestor: number,
): Promise<CallerVerdict> {
  const inode = await findSocketInode(proc, caller, server);
  if (!inode) return { allowed: false, why: "no established connection found", pids: [] };
  const pids = await socketHolders(proc, inode);
  if (pids.length === 0) return { allowed: false, why: "no process holds the socket", pids };
  for (const pid of pids) {
    if (!(await descendsFrom(proc, pid, ancestor))) {
      return { allowed: false, why: `process ${pid} is outside the wrapped command's tree`, pids };
    }
  }
  return { allowed: true, why: "caller is in the wrapped command's tree", pids };
}
