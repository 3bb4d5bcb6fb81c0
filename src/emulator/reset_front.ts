/**
 * The emulator's raw TCP front, so the `reset` fault can do what no `Deno.serve` handler can:
 * close the client's connection with no answer at all (a handler can only answer; an error
 * response becomes a 500 and an errored body arrives after a 200's headers). The front relays
 * bytes both ways between each client connection and the emulator's real HTTP listener; when an
 * answer carries {@link RESET_MARKER} (set by the middleware for an armed reset), it closes both
 * connections instead of relaying it, which the client sees as "connection closed before message
 * completed". A client that leaves closes its backend connection too, so the handler's request
 * signal aborts (the `hang` fault relies on it).
 * @module
 */

/** Response header the middleware sets on an answer that must become a connection reset. */
export const RESET_MARKER = "x-emulator-reset";

const MARKER_BYTES = new TextEncoder().encode(`${RESET_MARKER}:`);
const BUFFER_BYTES = 64 * 1024;

/** A running front. */
export interface ResetFront {
  readonly addr: Deno.NetAddr;
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

/** Relays `from` to `to` until either side ends; `watch` sees each chunk first (false = stop). */
async function relay(
  from: Deno.Conn,
  to: Deno.Conn,
  watch: (chunk: Uint8Array) => boolean = () => true,
): Promise<void> {
  const buffer = new Uint8Array(BUFFER_BYTES);
  try {
    while (true) {
      const n = await from.read(buffer);
      if (n === null) return;
      const chunk = buffer.subarray(0, n);
      if (!watch(chunk)) return;
      await writeAll(to, chunk);
    }
  } catch {
    // Either side closed: the caller closes both.
  }
}

/**
 * Listens on `hostname:port` and relays to the HTTP listener at `backend`. Answers carrying
 * {@link RESET_MARKER} become closed connections.
 */
export function startResetFront(
  hostname: string,
  port: number,
  backend: Deno.NetAddr,
): ResetFront {
  const listener = Deno.listen({ hostname, port, transport: "tcp" });
  const open = new Set<Deno.Conn>();
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
    await Promise.race([
      relay(client, upstream),
      relay(upstream, client, (chunk) => !contains(chunk, MARKER_BYTES)),
    ]);
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
