/**
 * The emulator's raw TCP front, so the `reset` and `hang` faults can do what no `Deno.serve`
 * handler can: close the client's connection with no answer at all, or hold it with no answer
 * until the client gives up (a handler can only answer; an error response becomes a 500, an
 * errored body arrives after a 200's headers, and Deno.serve does not reliably abort a waiting
 * handler's request signal when the client leaves). The front relays bytes both ways between
 * each client connection and the emulator's real HTTP listener. When an answer carries
 * {@link RESET_MARKER} it closes both connections instead of relaying it, which the client sees
 * as "connection closed before message completed"; when it carries {@link HANG_MARKER} it drops
 * the answer and holds the client's connection, unanswered, until the client closes it or the
 * emulator stops. No timer is involved.
 * @module
 */

/** Response header the middleware sets on an answer that must become a connection reset. */
export const RESET_MARKER = "x-emulator-reset";
/** Response header the middleware sets on an answer that must never reach the client. */
export const HANG_MARKER = "x-emulator-hang";

const RESET_BYTES = new TextEncoder().encode(`${RESET_MARKER}:`);
const HANG_BYTES = new TextEncoder().encode(`${HANG_MARKER}:`);
const BUFFER_BYTES = 64 * 1024;

/** A running front. */
export interface TcpFront {
  readonly addr: Deno.NetAddr;
  /** Connections held unanswered by the hang fault right now. */
  held(): number;
  /** Stops accepting and closes every relayed connection. Idempotent. */
  close(): Promise<void>;
}

/** Whether `bytes` contains `needle`. */
function contains(bytes: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= bytes.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (bytes[i + j] !== needle[j]) continue outer;
    }
    return true;
  }
  return false;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** Why a relay stopped. */
type RelayEnd = "closed" | "reset" | "hang";

/** What to do with a chunk of the listener's answers. */
function verdict(chunk: Uint8Array): RelayEnd | "pass" {
  if (contains(chunk, RESET_BYTES)) return "reset";
  if (contains(chunk, HANG_BYTES)) return "hang";
  return "pass";
}

/** Relays `from` to `to` until either side ends or `watch` stops it at a chunk. */
async function relay(
  from: Deno.Conn,
  to: Deno.Conn,
  watch: (chunk: Uint8Array) => RelayEnd | "pass" = () => "pass",
): Promise<RelayEnd> {
  const buffer = new Uint8Array(BUFFER_BYTES);
  try {
    while (true) {
      const n = await from.read(buffer);
      if (n === null) return "closed";
      const chunk = buffer.subarray(0, n);
      const next = watch(chunk);
      if (next !== "pass") return next;
      await writeAll(to, chunk);
    }
  } catch {
    return "closed"; // either side closed: the caller closes both
  }
}

/**
 * Listens on `hostname:port` and relays to the HTTP listener at `backend`. Answers carrying
 * {@link RESET_MARKER} become closed connections.
 */
export function startTcpFront(
  hostname: string,
  port: number,
  backend: Deno.NetAddr,
): TcpFront {
  const listener = Deno.listen({ hostname, port, transport: "tcp" });
  const open = new Set<Deno.Conn>();
  const held = new Set<Deno.Conn>();
  const relays = new Set<Promise<void>>();
  let closing: Promise<void> | undefined;

  const closeQuietly = (conn: Deno.Conn) => {
    open.delete(conn);
    try {
      conn.close();
    } catch { /* already closed */ }
  };

  async function serve(client: Deno.Conn): Promise<void> {
    open.add(client);
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect({ hostname: backend.hostname, port: backend.port });
    } catch {
      closeQuietly(client);
      return;
    }
    open.add(upstream);
    if (closing) return closeQuietly(client), closeQuietly(upstream);
    const fromClient = relay(client, upstream);
    const end = await Promise.race([fromClient, relay(upstream, client, verdict)]);
    if (end === "hang") {
      // No answer, ever: wait for the client to leave (or close() to end it).
      held.add(client);
      await fromClient;
      held.delete(client);
    }
    closeQuietly(client);
    closeQuietly(upstream);
  }

  const accepting = (async () => {
    try {
      for await (const client of listener) {
        const task = serve(client);
        relays.add(task);
        task.finally(() => relays.delete(task));
      }
    } catch {
      // Listener closed.
    }
  })();

  return {
    addr: listener.addr as Deno.NetAddr,
    held: () => held.size,
    close() {
      closing ??= (async () => {
        try {
          listener.close();
        } catch { /* already closed */ }
        for (const conn of [...open]) closeQuietly(conn);
        await accepting;
        await Promise.all([...relays]);
      })();
      return closing;
    },
  };
}
