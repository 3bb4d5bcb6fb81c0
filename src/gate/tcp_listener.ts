/**
 * The gate's TCP listener (`gate_tls_port`): TLS 1.2+ through node:tls, because `Deno.serve` and
 * `Deno.listenTls` cannot ask a client for its certificate. Every request must authenticate,
 * either with a client certificate chained to the gate's CA (checked by the TLS handshake: chain,
 * validity, clientAuth EKU), carrying a client name and not on the revocation list (checked on
 * every request, so a revocation takes effect on open connections too), or with a bearer token
 * (the hashes file or Kubernetes TokenReview, src/gate/bearer_auth.ts). There is no
 * unauthenticated mode, so no bind address can expose the gate without client authentication.
 *
 * HTTP/1.1 is served by the same server as the gate's Unix sockets (src/http/conn_server.ts):
 * each TLS socket is adapted to the byte-stream connection it reads and writes, so the bounded
 * head and body waits, the size caps, keep-alive, streamed (held-session) answers and
 * `request.signal` aborting on disconnect are the same code. The first byte and the TLS handshake
 * have their own deadline; a plain-HTTP client gets a 400 saying to use https, and any other
 * non-TLS client is dropped without an answer.
 *
 * Each request runs as its {@link RemoteClient}: the audit records it, and the prod approval shows
 * it as an unverified requester naming the client and its address (no kernel peer over TCP).
 * @module
 */
import net from "node:net";
import tls from "node:tls";
import type { TLSSocket } from "node:tls";
import { type ConnServerLimits, DEFAULT_LIMITS, serveConnections } from "../http/conn_server.ts";
import { HttpError } from "../errors.ts";
import type { ClientIdentity } from "../tls/client_identity.ts";
import type { PeerEnv } from "./peer.ts";
import { bearerToken, type BearerVerifier } from "./bearer_auth.ts";
import { type RemoteClient, remotePeer, runAsRemoteClient } from "./remote_client.ts";
import { GATE_LIMITS } from "./unix_socket.ts";

/** How TCP clients authenticate. */
export type ClientAuthentication =
  | {
    kind: "certificate";
    /**
     * Names the client of a certificate the handshake accepted, or refuses it (unnamed, revoked:
     * src/tls/client_identity.ts); called on every request so a revocation reaches open
     * connections. May throw an HttpError (503) when it cannot tell.
     */
    identify(peer: tls.PeerCertificate): Promise<ClientIdentity>;
  }
  | { kind: "bearer"; verifier: BearerVerifier };

/** Options of {@link serveTcp}. */
export interface TcpListenerOptions {
  hostname: string;
  port: number;
  /** The gate's server certificate and key (PEM), and the CA client certificates must chain to. */
  cert: string;
  key: string;
  ca: string;
  auth: ClientAuthentication;
  /** The TCP listener's Hono app (`fetch`); it gets the remote client as an unverified peer. */
  handler: (request: Request, env: PeerEnv) => Response | Promise<Response>;
  /** Longest TLS handshake (default 10 s). */
  handshakeTimeoutMs?: number;
  limits?: Partial<ConnServerLimits>;
  /** The gate's log: refused handshakes and clients (never a token or a certificate's key). */
  log?: (message: string) => void;
  onError?: (what: string, err: unknown) => void;
}

/** A running TCP listener. */
export interface TcpServer {
  readonly hostname: string;
  readonly port: number;
  readonly connections: number;
  close(graceMs?: number): Promise<void>;
}

/** What the listener keeps about each TLS connection. */
interface TlsConnEnv {
  address: string;
  certificate?: tls.PeerCertificate;
}

/** Binds the listener; resolves once it accepts connections. */
export async function serveTcp(options: TcpListenerOptions): Promise<TcpServer> {
  const log = options.log ?? (() => {});
  const certificates = options.auth.kind === "certificate";
  const server = tls.createServer({
    cert: options.cert,
    key: options.key,
    ca: options.ca,
    requestCert: certificates,
    rejectUnauthorized: certificates,
    minVersion: "TLSv1.2",
    handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
    ALPNProtocols: ["http/1.1"],
  });
  const limits = { ...DEFAULT_LIMITS, ...GATE_LIMITS, ...options.limits };
  const handshakeMs = options.handshakeTimeoutMs ?? 10_000;
  const listener = new TlsListener(server);
  const refusals = new RefusalLog(log);
  // The port's TCP server: it reads each connection's first byte (within the handshake deadline)
  // and hands a TLS ClientHello to the TLS server; plain HTTP gets a 400 saying to use https, and
  // anything else is dropped. Connections still in their handshake count toward the cap too.
  // Connections whose first byte has not come yet: dropped at close (they hold no request; past
  // it, the TLS handshake's own deadline bounds them).
  const opening = new Set<net.Socket>();
  const front = net.createServer((socket) => {
    opening.add(socket);
    socket.once("close", () => opening.delete(socket));
    sniff(socket, server, handshakeMs, refusals, () => opening.delete(socket));
  });
  front.maxConnections = limits.maxConnections;
  server.on("tlsClientError", (err: Error, socket: TLSSocket) => {
    refusals.note(
      `TLS handshake from ${
        addressOf(handshakePeer(socket))
      } refused (no or untrusted client certificate, expired, not yet valid, not for client ` +
        `authentication, or no common TLS version): ${err.message}`,
    );
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    front.once("error", reject);
    front.listen(options.port, options.hostname, () => {
      front.off("error", reject);
      resolve();
    });
  });
  front.on("error", (err: Error) => options.onError?.("tcp server", err));
  server.on("error", (err: Error) => options.onError?.("tls server", err));
  const bound = front.address() as { address: string; port: number };

  const authenticate = async (request: Request, conn: TlsConnEnv): Promise<RemoteClient> => {
    const auth = options.auth;
    if (auth.kind === "bearer") {
      const name = await auth.verifier.verify(
        bearerToken(request.headers.get("authorization")),
        request.signal,
      );
      return { auth: auth.verifier.auth, name, address: conn.address };
    }
    const peer = conn.certificate;
    if (!peer || !peer.raw) {
      throw new HttpError(401, "a client certificate is required", "client_certificate_required");
    }
    const who = await auth.identify(peer);
    if (!who.ok) throw new HttpError(403, who.reason, "client_certificate_refused");
    return { auth: "certificate", name: who.name, address: conn.address };
  };

  const served = serveConnections<TlsConnEnv>(
    listener as unknown as Deno.Listener,
    async (request, conn) => {
      let client: RemoteClient;
      try {
        client = await authenticate(request, conn);
      } catch (err) {
        const refused = err instanceof HttpError
          ? err
          : new HttpError(503, "the gate could not authenticate the client", "client_auth_failed");
        refusals.note(
          `request from ${conn.address} refused: ${refused.status} ${refused.message}` +
            (refused.logDetail ? ` (${refused.logDetail})` : ""),
        );
        return refusal(refused);
      }
      // Abort listeners (a held session's revocation, a queued approval's cancellation) run
      // inside the client's context too, so what they audit names the client.
      const gone = new AbortController();
      const abort = () => runAsRemoteClient(client, () => gone.abort(request.signal.reason));
      if (request.signal.aborted) abort();
      else request.signal.addEventListener("abort", abort, { once: true });
      const inner = new Request(request, { signal: gone.signal });
      // The credential has done its work: nothing past this point sees it.
      inner.headers.delete("authorization");
      const env: PeerEnv = { peer: () => Promise.resolve(remotePeer(client)) };
      return runAsRemoteClient(client, () => options.handler(inner, env));
    },
    {
      accepted: (conn) => {
        const socket = (conn as unknown as TlsConn).socket;
        return {
          env: {
            address: addressOf(socket),
            certificate: certificates ? socket.getPeerCertificate() : undefined,
          },
        };
      },
      limits,
      onError: options.onError,
    },
  );
  return {
    hostname: bound.address,
    port: bound.port,
    get connections() {
      return served.connections;
    },
    close: (graceMs = 250) => {
      front.close();
      for (const socket of opening) socket.destroy();
      return served.close(graceMs);
    },
  };
}

const TLS_HANDSHAKE_RECORD = 0x16;
const HTTP_METHOD = /^[A-Z]{3,10} /;

/** Routes a new connection by its first byte (see serveTcp). */
function sniff(
  socket: net.Socket,
  tlsServer: tls.Server,
  deadlineMs: number,
  refusals: RefusalLog,
  sniffed: () => void,
) {
  const address = addressOf(socket);
  // A reset before the first byte must not become an unhandled 'error' event (it would end the
  // gate); the TLS layer reports its own errors once the socket is handed over.
  socket.on("error", () => {});
  socket.setNoDelay(true);
  const timer = setTimeout(() => socket.destroy(), deadlineMs);
  socket.once("close", () => clearTimeout(timer));
  socket.once("data", (chunk: Uint8Array) => {
    clearTimeout(timer);
    sniffed();
    if (chunk[0] === TLS_HANDSHAKE_RECORD) {
      socket.pause();
      socket.unshift(chunk);
      tlsServer.emit("connection", socket);
      return;
    }
    const text = new TextDecoder().decode(chunk.subarray(0, 16));
    if (HTTP_METHOD.test(text)) {
      refusals.note(`plain HTTP from ${address} refused: this port speaks TLS`);
      const body = JSON.stringify({
        error: "this gate port speaks TLS: use an https:// gate_url",
        code: "tls_required",
      });
      socket.end(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n" +
          `content-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
      );
      return;
    }
    refusals.note(`connection from ${address} refused: not TLS`);
    socket.destroy();
  });
}

/** The JSON refusal every gate route answers with. */
function refusal(err: HttpError): Response {
  const headers = new Headers({
    "content-type": "application/json",
    "cache-control": "no-store, no-transform",
    ...err.headers,
  });
  return new Response(JSON.stringify(err.toBody()), { status: err.status, headers });
}

/**
 * The socket to read a failed handshake's address from: Deno's node:tls clears the TLS socket's
 * address on error, the TCP socket under it (`_parent`) still has it.
 */
function handshakePeer(socket: TLSSocket): { remoteAddress?: string; remotePort?: number } {
  if (socket.remoteAddress) return socket;
  return (socket as unknown as { _parent?: { remoteAddress?: string; remotePort?: number } })
    ._parent ?? socket;
}

function addressOf(socket: { remoteAddress?: string; remotePort?: number }): string {
  const host = socket.remoteAddress ?? "unknown";
  return `${host.includes(":") ? `[${host}]` : host}:${socket.remotePort ?? "?"}`;
}

/**
 * At most 20 refusal lines a minute reach the log, then one line counting the rest, so a client
 * hammering the port cannot flood the gate's log.
 */
class RefusalLog {
  #windowStart = 0;
  #lines = 0;
  #dropped = 0;
  constructor(readonly log: (message: string) => void) {}
  note(line: string) {
    const now = Date.now();
    if (now - this.#windowStart >= 60_000) {
      if (this.#dropped) {
        this.log(`${this.#dropped} further TCP refusals not logged in the last minute`);
      }
      this.#windowStart = now;
      this.#lines = 0;
      this.#dropped = 0;
    }
    if (this.#lines++ < 20) this.log(line);
    else this.#dropped++;
  }
}

const BACKLOG_BYTES = 64 * 1024;

/** A TLS socket as the byte-stream connection src/http/conn_server.ts reads and writes. */
class TlsConn {
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;
  #wake?: () => void;

  constructor(readonly socket: TLSSocket) {
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      if (this.#buffered > BACKLOG_BYTES) socket.pause();
      this.#notify();
    });
    const end = () => {
      this.#ended = true;
      this.#notify();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", end);
  }

  #notify() {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async read(into: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#ended) return null;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    const head = this.#chunks[0];
    const n = Math.min(head.length, into.length);
    into.set(head.subarray(0, n));
    if (n === head.length) this.#chunks.shift();
    else this.#chunks[0] = head.subarray(n);
    this.#buffered -= n;
    if (this.#buffered <= BACKLOG_BYTES && this.socket.isPaused()) this.socket.resume();
    return n;
  }

  write(bytes: Uint8Array): Promise<number> {
    if (this.socket.destroyed) return Promise.reject(new Deno.errors.BrokenPipe("closed"));
    const copy = bytes.slice();
    return new Promise((resolve, reject) => {
      this.socket.write(copy, (err) => {
        if (err) reject(new Deno.errors.BrokenPipe(err.message));
        else resolve(copy.length);
      });
    });
  }

  close() {
    this.socket.destroy();
  }
}

/** The TLS server as the listener src/http/conn_server.ts accepts from. */
class TlsListener {
  #queue: TlsConn[] = [];
  #waiting?: { resolve: (conn: TlsConn) => void; reject: (err: Error) => void };
  #closed = false;

  constructor(readonly server: tls.Server) {
    server.on("secureConnection", (socket: TLSSocket) => {
      if (this.#closed) return socket.destroy();
      // An answer is written as head then body: with Nagle's algorithm the body would wait for
      // the client's delayed ACK of the head (40 ms per request, seen in the bench's cold rows).
      socket.setNoDelay(true);
      const conn = new TlsConn(socket);
      const waiting = this.#waiting;
      this.#waiting = undefined;
      if (waiting) waiting.resolve(conn);
      else this.#queue.push(conn);
    });
  }

  accept(): Promise<Deno.Conn> {
    const next = this.#queue.shift();
    if (next) return Promise.resolve(next as unknown as Deno.Conn);
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("listener closed"));
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve: (c) => resolve(c as unknown as Deno.Conn), reject };
    });
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    for (const conn of this.#queue.splice(0)) conn.close();
    this.#waiting?.reject(new Deno.errors.BadResource("listener closed"));
    this.#waiting = undefined;
  }
}
