/**
 * The gate's Unix sockets: private directories, safe stale-socket recovery, owned binding, and a
 * server that knows who connected (kernel peer identity, see src/gate/peer_kernel.ts).
 * @module
 */
import { basename, dirname } from "node:path";
import { type ConnServerLimits, serveConnections } from "../http/conn_server.ts";
import type { PeerEnv } from "./peer.ts";
import { KernelPeers } from "./peer_kernel.ts";
import { ROUTES_GATE_PREFIX } from "../gate_api/routes_wire.ts";

/** Raised when the filesystem is not in a state the gate will trust; the message says why. */
export class UnsafePathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsafePathError";
  }
}

const octal = (mode: number) => "0" + (mode & 0o777).toString(8);

/**
 * Makes sure `dir` exists as a directory owned by us with no permission bit beyond `mode`.
 * A symlink, a foreign owner or looser bits are refused rather than silently repaired.
 */
export async function ensurePrivateDir(dir: string, mode: number): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(dir);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    await Deno.mkdir(dir, { recursive: true, mode });
    await Deno.chmod(dir, mode);
    return;
  }
  if (info.isSymlink) throw new UnsafePathError(`${dir} is a symlink; refusing to use it`);
  if (!info.isDirectory) throw new UnsafePathError(`${dir} exists and is not a directory`);
  if (info.uid !== Deno.uid()) {
    throw new UnsafePathError(
      `${dir} is owned by uid ${info.uid}, not by this user (${Deno.uid()})`,
    );
  }
  const extra = (info.mode ?? 0) & 0o777 & ~mode;
  if (extra) {
    throw new UnsafePathError(
      `${dir} has permissions ${octal(info.mode ?? 0)}, looser than ${octal(mode)}; ` +
        `run: chmod ${octal(mode)} ${dir}`,
    );
  }
}

/**
 * Clears the way for binding `path`: removes a socket we own that nobody answers on, refuses a
 * live one (another gate), a symlink, a non-socket or a socket owned by someone else.
 */
export async function removeStaleSocket(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  if (info.isSymlink) throw new UnsafePathError(`${path} is a symlink; refusing to replace it`);
  if (!info.isSocket) throw new UnsafePathError(`${path} exists and is not a socket`);
  if (info.uid !== Deno.uid()) {
    throw new UnsafePathError(`${path} is owned by uid ${info.uid}; refusing to replace it`);
  }
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
  } catch (err) {
    if (err instanceof Deno.errors.ConnectionRefused) {
      await Deno.remove(path);
      return;
    }
    throw err;
  }
  throw new UnsafePathError(`another instance is already running on ${path}`);
}

/** Refuses socket paths that name the same file once symlinked parents are resolved. */
export async function assertDistinctSockets(paths: Record<string, string>): Promise<void> {
  const seen = new Map<string, string>();
  for (const [key, path] of Object.entries(paths)) {
    const real = `${await Deno.realPath(dirname(path))}/${basename(path)}`;
    const first = seen.get(real);
    if (first) throw new UnsafePathError(`${key} resolves to the same path as ${first} (${real})`);
    seen.set(real, key);
  }
}

/**
 * The gate's requests are small (a prod request's body is a few hundred bytes), so its sockets take
 * at most 64 KiB of body: 256 connections then buffer tens of MiB at worst, not hundreds.
 */
export const GATE_LIMITS: Partial<ConnServerLimits> = {
  maxBodyBytes: 64 * 1024,
  // Routed calls (issue 11) stream their bodies; the route enforces its own size limit.
  streamBodyPrefix: ROUTES_GATE_PREFIX,
};

/** What serves a Unix socket: a Hono app's `fetch` fits; `env.peer()` names the caller. */
export type UnixHandler = (request: Request, env: PeerEnv) => Response | Promise<Response>;

/** A server bound to a Unix socket by {@link serveUnix}. */
export interface UnixServer {
  path: string;
  /** Open connections. */
  readonly connections: number;
  /** Whether callers are identified from the kernel here (else every peer is "unverified"). */
  readonly peersFromKernel: boolean;
  /** Stops accepting and waits up to `graceMs` for in-flight requests, then drops them. */
  close(graceMs?: number): Promise<void>;
}

/** Options of {@link serveUnix}. */
export interface ServeUnixOptions {
  limits?: Partial<ConnServerLimits>;
  /** Peer identification (default: the kernel's, for `path`); tests may pass their own. */
  peers?: KernelPeers;
  onError?: (what: string, err: unknown) => void;
}

/**
 * Binds `handler` on `path` with `mode` and serves HTTP/1.1 with our own accept loop, so each
 * request's `env.peer()` names the process that connected (src/gate/peer_kernel.ts). The caller
 * holds a tight umask, so the socket never exists with looser permissions, even for the instant
 * before the chmod.
 *
 * `handler` may still be typed as a `Deno.ServeHandler` by callers not yet moved to
 * {@link UnixHandler}; it receives the {@link PeerEnv} as its second argument either way.
 */
export async function serveUnix(
  path: string,
  mode: number,
  handler: UnixHandler | Deno.ServeHandler<Deno.UnixAddr>,
  options: ServeUnixOptions = {},
): Promise<UnixServer> {
  await removeStaleSocket(path);
  const listener = Deno.listen({ path, transport: "unix" });
  try {
    await Deno.chmod(path, mode);
  } catch (err) {
    listener.close();
    throw err;
  }
  const peers = options.peers ?? new KernelPeers(path);
  const peersFromKernel = await peers.ready();
  const server = serveConnections<PeerEnv>(listener, handler as UnixHandler, {
    accepted: (conn) => peers.accepted(conn),
    limits: { ...GATE_LIMITS, ...options.limits },
    onError: options.onError,
  });
  return {
    path,
    get connections() {
      return server.connections;
    },
    peersFromKernel,
    close: (graceMs = 250) => server.close(graceMs),
  };
}
