/**
 * Who is on the other end of a gate Unix-socket connection, from the kernel, on Linux.
 *
 * Deno has no `SO_PEERCRED` API and its `Deno.serve` hides the accepted socket, so:
 *
 * 1. The gate accepts connections itself, **one at a time** (src/http/conn_server.ts). Right after
 *    each `accept`, before the next, it lists its own descriptors (`/proc/self/fd`) and keeps the
 *    sockets bound to its path. Those not seen at the previous look are the connection just
 *    accepted: nothing else accepts on that path meanwhile, and connections still waiting in the
 *    backlog have no descriptor yet. Exactly one is expected; zero or several leave the connection
 *    "unverified" (fail closed).
 * 2. On that descriptor, `getsockopt(SO_PEERCRED)` gives the pid, uid and gid the kernel recorded
 *    when the client called `connect` (pid and uid translated into the gate's namespaces), and
 *    `SO_PEERPIDFD` (Linux 6.5+) a pidfd that pins that very process.
 * 3. When a route asks (lazily, once per connection) the gate reads `/proc/<pid>/status` (NSpid),
 *    `exe` and `cmdline`, then checks through the pidfd that the process is still alive: its pid
 *    cannot have been reused, so what was read describes the process that connected.
 *
 * Why FFI: this works whatever network namespace the client is in (a container's), which the
 * kernel's sock_diag (`ss`) cannot see, and it names the connecting process rather than guessing
 * among holders. The calls go through libc (src/proc/libc.ts) under `--allow-ffi` for libc's path
 * only; that is still a wide grant (libc can do anything), accepted because the gate already holds
 * the engineer's credentials and this is the only kernel-attested peer identity Deno can reach.
 *
 * `verified` means uid and pid are the kernel's for this connection; exe and argv are added only
 * when they are proven to describe that process, and `reason` says why they are missing.
 *
 * Limits, said plainly: the pid is the process that connected, not necessarily the one speaking
 * (a forked child or a process the socket was passed to is not named); a process of the same uid
 * as the client can act through it (ptrace), so identity separates users, not processes of one
 * user; a client whose pid is not visible in the gate's PID namespace is reported with pid 0 and
 * unverified; without `SO_PEERPIDFD` (kernels before 6.5) uid and pid are still the kernel's but
 * exe and argv are not shown; not Linux, or no libc: every peer is unverified with that reason.
 * @module
 */
import type { AcceptedConnection } from "../http/conn_server.ts";
import { type Libc, loadLibc } from "../proc/libc.ts";
import { libcProcFS, type ProcFS } from "../proc/proc_fs.ts";
import { describeProcess } from "../proc/process_facts.ts";
import { type PeerEnv, type PeerIdentity, unverified } from "./peer.ts";

/** The kernel calls peer identification uses, and `/proc` to read (a seam for tests). */
export interface PeerSys extends
  Pick<
    Libc,
    "socketPath" | "inodeOf" | "peerCredentials" | "peerPidFd" | "pidFdAlive" | "close"
  > {
  proc: ProcFS;
}

/** The real kernel through libc, or undefined where libc cannot be loaded. */
export function libcPeerSys(): PeerSys | undefined {
  const libc = loadLibc();
  if (!libc) return undefined;
  return {
    proc: libcProcFS(libc),
    socketPath: (fd) => libc.socketPath(fd),
    inodeOf: (fd) => libc.inodeOf(fd),
    peerCredentials: (fd) => libc.peerCredentials(fd),
    peerPidFd: (fd) => libc.peerPidFd(fd),
    pidFdAlive: (pidfd) => libc.pidFdAlive(pidfd),
    close: (fd) => libc.close(fd),
  };
}

const NO_LIBC = "peer identification needs Linux and the gate's libc (FFI) permission";

/** Options of {@link KernelPeers}. */
export interface KernelPeersOptions {
  /** The libc seam; default: the real libc, or none off Linux. */
  sys?: PeerSys | null;
}

/**
 * Attributes the connections accepted on one socket path to their peers. Construct it right
 * after binding; call `accepted` right after each accept and before the next one.
 */
export class KernelPeers {
  readonly #path: string;
  #sys: PeerSys | undefined;
  /** `fd:inode` of our sockets bound to the path, as of the last look. */
  #known = new Set<string>();

  /** Settles once the sockets present at construction (the listener) are known. */
  readonly #ready: Promise<void>;

  constructor(path: string, options: KernelPeersOptions = {}) {
    this.#path = path;
    this.#sys = options.sys === null ? undefined : (options.sys ?? libcPeerSys());
    this.#ready = this.#sys
      ? this.#ourSockets(this.#sys).then((known) => {
        if (known) this.#known = known;
        else this.#sys = undefined; // e.g. not permitted after all: every peer is unverified
      })
      : Promise.resolve();
  }

  /** Whether peers can be identified here at all (settled once {@link ready} has). */
  get supported(): boolean {
    return this.#sys !== undefined;
  }

  /** Resolves once the start-up look is done, to whether peers can be identified. */
  async ready(): Promise<boolean> {
    await this.#ready;
    return this.supported;
  }

  /** `fd:inode` of our descriptors that are sockets bound to the path; undefined if unreadable. */
  async #ourSockets(sys: PeerSys): Promise<Set<string> | undefined> {
    let fds: string[];
    try {
      fds = await sys.proc.readDir("/proc/self/fd");
    } catch {
      return undefined;
    }
    const found = new Set<string>();
    for (const name of fds) {
      // One getsockname per descriptor (ENOTSOCK for the rest); the inode only for ours.
      if (!/^\d+$/.test(name) || sys.socketPath(Number(name)) !== this.#path) continue;
      const inode = sys.inodeOf(Number(name));
      if (inode !== undefined) found.add(`${name}:${inode}`);
    }
    return found;
  }

  /** Identifies the connection just accepted; never throws. */
  async accepted(_conn?: Deno.Conn): Promise<AcceptedConnection<PeerEnv>> {
    const fixed = (identity: PeerIdentity) => ({ env: { peer: () => Promise.resolve(identity) } });
    await this.#ready;
    const sys = this.#sys;
    if (!sys) return fixed(unverified(NO_LIBC));
    let now: Set<string> | undefined;
    try {
      now = await this.#ourSockets(sys);
    } catch {
      now = undefined;
    }
    if (!now) return fixed(unverified("the gate could not list its own descriptors"));
    const fresh = [...now].filter((k) => !this.#known.has(k));
    this.#known = now;
    if (fresh.length !== 1) {
      return fixed(unverified(
        fresh.length === 0
          ? "the connection ended before the gate could identify it"
          : "several connections appeared at once; none is attributed",
      ));
    }
    const fd = Number(fresh[0].split(":")[0]);
    const cred = sys.peerCredentials(fd);
    if (!cred) return fixed(unverified("the kernel gave no peer credentials"));
    // The pidfd, "unsupported" (kernel before 6.5), or "released" once the connection is gone.
    let pidfd: number | "unsupported" | "released" = sys.peerPidFd(fd) ?? "unsupported";
    const release = () => {
      if (typeof pidfd === "number") sys.close(pidfd);
      pidfd = "released";
    };
    let memo: Promise<PeerIdentity> | undefined;
    const peer = () =>
      memo ??= (async () => {
        try {
          return await this.#resolve(sys, cred, pidfd);
        } catch {
          return { verified: true, ...creds(cred), reason: "the client could not be described" };
        } finally {
          release();
        }
      })();
    return { env: { peer }, closed: release };
  }

  async #resolve(
    sys: PeerSys,
    cred: { pid: number; uid: number },
    pidfd: number | "unsupported" | "released",
  ): Promise<PeerIdentity> {
    if (cred.pid <= 0) {
      return {
        ...unverified("the client's process is outside the gate's PID namespace"),
        uid: cred.uid,
      };
    }
    // From here uid and pid are the kernel's for this connection; exe and argv are shown only
    // when the pidfd proves the pid still names the process that connected.
    if (pidfd === "released") {
      return { verified: true, ...creds(cred), reason: "the client left before it was described" };
    }
    if (pidfd === "unsupported") {
      return {
        verified: true,
        ...creds(cred),
        reason: "exe and argv not shown: the client could not be pinned (SO_PEERPIDFD needs " +
          "Linux 6.5 and a free descriptor)",
      };
    }
    const { uid: _statusUid, ...facts } = await describeProcess(sys.proc, cred.pid);
    if (!sys.pidFdAlive(pidfd)) {
      return {
        verified: true,
        ...creds(cred),
        reason: "the client exited before it was described",
      };
    }
    if (!facts.exe && !facts.argv) {
      return {
        verified: true,
        ...creds(cred),
        reason: "the client's /proc entries are not readable by the gate",
      };
    }
    return { verified: true, ...creds(cred), ...facts };
  }
}

function creds(cred: { pid: number; uid: number }) {
  return { pid: cred.pid, uid: cred.uid };
}
