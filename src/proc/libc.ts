/**
 * The few libc calls the gate needs to learn a Unix-socket peer from the kernel, through Deno's
 * FFI: Deno has no `SO_PEERCRED` API and reads `/proc` only under `--allow-all`, while the gate's
 * role grants `--allow-ffi` for libc's path alone. The calls are synchronous and quick (a
 * `getsockopt`, a `readlink`, a small `read` of `/proc`), so nothing here blocks for long.
 *
 * `loadLibc()` returns undefined (never throws) off Linux, without the permission, or when no
 * known libc path exists; callers then report peers as unverified.
 * @module
 */

/** Where libc lives on the distributions we support (glibc, then musl), per architecture. */
export const LIBC_PATHS: readonly string[] = [
  "/lib/x86_64-linux-gnu/libc.so.6",
  "/lib/aarch64-linux-gnu/libc.so.6",
  "/usr/lib/x86_64-linux-gnu/libc.so.6",
  "/usr/lib/aarch64-linux-gnu/libc.so.6",
  "/lib64/libc.so.6",
  "/usr/lib64/libc.so.6",
  "/usr/lib/libc.so.6",
  "/lib/libc.so.6",
  "/lib/ld-musl-x86_64.so.1",
  "/lib/ld-musl-aarch64.so.1",
];

const SYMBOLS = {
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  syscall: { parameters: ["i64", "i64", "i64", "i64", "i64"], result: "i64" },
  // getdents64 through syscall(2): entries land in our buffer, so no pointer is ever read (that
  // would need --allow-ffi for everything, not libc's path alone).
  getdents64: { name: "syscall", parameters: ["i64", "i32", "buffer", "usize"], result: "i64" },
  // fstat through syscall(2) too: glibc before 2.33 has no `fstat` symbol to bind.
  fstat: { name: "syscall", parameters: ["i64", "i32", "buffer"], result: "i64" },
} as const;

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const SO_PEERPIDFD = 77;
const O_RDONLY_CLOEXEC = 0o2000000;
const O_DIRECTORY = 0o200000;
const AF_UNIX = 1;
/** `pidfd_send_signal`: the same number on every architecture (new syscall table). */
const SYS_PIDFD_SEND_SIGNAL = 424;
/** `getdents64`'s number differs between the two architectures we support. */
const SYS_GETDENTS64: Record<string, number> = { x86_64: 217, aarch64: 61 };
/** `fstat`'s number; `st_ino` is at offset 8 of `struct stat` on both architectures. */
const SYS_FSTAT: Record<string, number> = { x86_64: 5, aarch64: 80 };
const STAT_INO = 8;
/** Offsets in `struct linux_dirent64`: d_reclen (u16) and d_name. */
const DIRENT_RECLEN = 16;
const DIRENT_NAME = 19;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const cString = (s: string) => encoder.encode(s + "\0");

/** The kernel's credentials of a socket's peer, captured when it connected. */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** The libc calls, typed for what the gate does with them. */
export class Libc {
  constructor(private readonly lib: Lib) {}

  /** Names of the entries of a directory (without "." and ".."), or undefined if unreadable. */
  listDir(path: string): string[] | undefined {
    const nr = SYS_GETDENTS64[Deno.build.arch];
    if (nr === undefined) return undefined;
    const fd = this.lib.open(cString(path), O_RDONLY_CLOEXEC | O_DIRECTORY);
    if (fd < 0) return undefined;
    const names: string[] = [];
    const buf = new Uint8Array(32 * 1024);
    const view = new DataView(buf.buffer);
    try {
      for (;;) {
        const n = Number(this.lib.getdents64(BigInt(nr), fd, buf, BigInt(buf.length)));
        if (n < 0) return undefined;
        if (n === 0) break;
        for (let at = 0; at < n;) {
          const reclen = view.getUint16(at + DIRENT_RECLEN, true);
          if (reclen === 0) return undefined;
          const raw = buf.subarray(at + DIRENT_NAME, at + reclen);
          const name = decoder.decode(raw.subarray(0, raw.indexOf(0)));
          if (name !== "." && name !== "..") names.push(name);
          at += reclen;
        }
      }
    } finally {
      this.lib.close(fd);
    }
    return names;
  }

  /** The target of a symbolic link, or undefined. */
  readLink(path: string): string | undefined {
    const buf = new Uint8Array(4096);
    const n = Number(this.lib.readlink(cString(path), buf, BigInt(buf.length)));
    if (n < 0 || n >= buf.length) return undefined;
    return decoder.decode(buf.subarray(0, n));
  }

  /** Up to `cap` bytes of a file (a `/proc` file has no size to trust), or undefined. */
  readFile(path: string, cap = 64 * 1024): Uint8Array | undefined {
    const fd = this.lib.open(cString(path), O_RDONLY_CLOEXEC);
    if (fd < 0) return undefined;
    try {
      const out = new Uint8Array(cap);
      let length = 0;
      while (length < cap) {
        const n = Number(this.lib.read(fd, out.subarray(length), BigInt(cap - length)));
        if (n < 0) return undefined;
        if (n === 0) break;
        length += n;
      }
      return out.slice(0, length);
    } finally {
      this.lib.close(fd);
    }
  }

  readonly #addr = new Uint8Array(110);
  readonly #addrLen = new Uint32Array(1);
  readonly #addrLenBytes = new Uint8Array(this.#addrLen.buffer);

  readonly #stat = new Uint8Array(256);

  /** The inode of an open descriptor (a socket's is the one `/proc` shows), or undefined. */
  inodeOf(fd: number): bigint | undefined {
    const nr = SYS_FSTAT[Deno.build.arch];
    if (nr === undefined) return undefined;
    if (this.lib.fstat(BigInt(nr), fd, this.#stat) !== 0n) return undefined;
    return new DataView(this.#stat.buffer).getBigUint64(STAT_INO, true);
  }

  /** The path a Unix socket descriptor is bound to ("" when unnamed), or undefined. */
  socketPath(fd: number): string | undefined {
    const addr = this.#addr;
    const len = this.#addrLen;
    len[0] = addr.length;
    if (this.lib.getsockname(fd, addr, this.#addrLenBytes) !== 0) return undefined;
    if ((addr[0] | (addr[1] << 8)) !== AF_UNIX) return undefined;
    const used = Math.min(len[0], addr.length);
    const raw = addr.subarray(2, used);
    const nul = raw.indexOf(0);
    return decoder.decode(nul >= 0 ? raw.subarray(0, nul) : raw);
  }

  /** `SO_PEERCRED`: who connected, as the kernel recorded it at `connect`. */
  peerCredentials(fd: number): PeerCredentials | undefined {
    const cred = new Int32Array(3);
    const len = new Uint32Array([12]);
    const rc = this.lib.getsockopt(
      fd,
      SOL_SOCKET,
      SO_PEERCRED,
      new Uint8Array(cred.buffer),
      new Uint8Array(len.buffer),
    );
    if (rc !== 0) return undefined;
    return { pid: cred[0], uid: cred[1], gid: cred[2] };
  }

  /** `SO_PEERPIDFD` (Linux 6.5+): a pidfd of the connecting process, or undefined. */
  peerPidFd(fd: number): number | undefined {
    const out = new Int32Array(1);
    const len = new Uint32Array([4]);
    const rc = this.lib.getsockopt(
      fd,
      SOL_SOCKET,
      SO_PEERPIDFD,
      new Uint8Array(out.buffer),
      new Uint8Array(len.buffer),
    );
    return rc === 0 && out[0] >= 0 ? out[0] : undefined;
  }

  /** Whether the process a pidfd refers to is still alive (its pid not yet free for reuse). */
  pidFdAlive(pidfd: number): boolean {
    return this.lib.syscall(BigInt(SYS_PIDFD_SEND_SIGNAL), BigInt(pidfd), 0n, 0n, 0n) === 0n;
  }

  close(fd: number): void {
    this.lib.close(fd);
  }
}

let loaded: Libc | undefined | null = null;

/** libc, loaded once; undefined where it cannot be (see the module doc). */
export function loadLibc(): Libc | undefined {
  if (loaded !== null) return loaded;
  loaded = undefined;
  if (Deno.build.os !== "linux") return loaded;
  for (const path of LIBC_PATHS) {
    try {
      loaded = new Libc(Deno.dlopen(path, SYMBOLS).symbols);
      break;
    } catch { /* absent here, or not permitted: try the next */ }
  }
  return loaded;
}
