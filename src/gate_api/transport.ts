/**
 * How a gate client reaches the gate, separated from what it says to it (src/gate_api/client.ts):
 * the metadata proxy, with-prod and the admin commands speak the same protocol over a Unix socket
 * today and over TCP + mTLS or a bearer-token file tomorrow, so the one client takes a
 * {@link GateTransport} and never learns which. A transport moves one HTTP exchange; deadlines,
 * JSON and error mapping stay in the client, so every transport gets them for free.
 * @module
 */

/** One request to the gate. */
export interface GateRequest {
  /** The gate's own endpoints use GET, POST and DELETE; a routed call (routes_wire.ts) any method. */
  method: string;
  /** Path and query, starting with `/` (built by src/gate_api/wire.ts). */
  path: string;
  headers?: Record<string, string>;
  /** A routed call streams its body (src/routes_proxy/); the gate's own endpoints send a string. */
  body?: string | ReadableStream<Uint8Array>;
  /**
   * Aborts the exchange, body included: the client's deadline and its caller's cancellation.
   * A transport passes it to every wait it makes (connect, TLS, reading a token file).
   */
  signal: AbortSignal;
}

/**
 * A way to reach the gate. `send` resolves once the response head has arrived and leaves the body
 * unread (a held session streams NDJSON on it). It rejects with {@link GateUnreachableError} when
 * no answer could be had (nothing listening, TLS refused, a token file missing), and with the
 * signal's abort error when `request.signal` aborted. Nothing a transport puts in an error may
 * carry a token, a key or a session id.
 */
export interface GateTransport {
  send(request: GateRequest): Promise<Response>;
  /** Where the gate is, for messages: `the gate at /run/authcalator.sock` (never a secret). */
  readonly where: string;
  /** One sentence naming the likely fix when the gate cannot be reached. */
  readonly hint: string;
  /** Releases connections; later sends fail. */
  close(): void;
}

/**
 * No HTTP answer could be had from the gate; `reason` says why in a few words. A transport raises
 * it with the reason alone; the client re-raises it with a message naming the gate and the fix.
 */
export class GateUnreachableError extends Error {
  readonly reason: string;
  constructor(reason: string, options?: ErrorOptions & { message?: string }) {
    super(options?.message ?? reason, options);
    this.name = "GateUnreachableError";
    this.reason = reason;
  }
}

/**
 * Why a connection failed, in a few lowercase words taken from the OS error text (`connection
 * refused`, `no such file or directory`); the fetch message itself is not used because it carries
 * the URL. The one copy of this rule for every gate client.
 */
export function connectFailureReason(err: unknown): string {
  if (err instanceof GateUnreachableError) return err.reason;
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const m = /([A-Za-z][A-Za-z ]*[a-z]) \(os error \d+\)/.exec(e.message);
    if (m) return m[1].toLowerCase();
    if (e instanceof Deno.errors.NotCapable) return "not permitted";
  }
  return "connection failed";
}

/** The default hint of the main socket, as seen from a container or the host. */
export const MAIN_SOCKET_HINT =
  "is 'authcalator gate' running on the host, with its socket mounted here?";

/** Options for {@link UnixSocketTransport}. */
export interface UnixSocketTransportOptions {
  /** What to say when the socket cannot be reached (default {@link MAIN_SOCKET_HINT}). */
  hint?: string;
}

/** The gate over a local Unix socket (the main socket or the host-only admin socket). */
export class UnixSocketTransport implements GateTransport {
  readonly where: string;
  readonly hint: string;
  readonly #client: Deno.HttpClient;

  constructor(socketPath: string, options: UnixSocketTransportOptions = {}) {
    this.where = `the gate at ${socketPath}`;
    this.hint = options.hint ?? MAIN_SOCKET_HINT;
    this.#client = Deno.createHttpClient({ proxy: { transport: "unix", path: socketPath } });
  }

  async send(request: GateRequest): Promise<Response> {
    const init: RequestInit & { client: Deno.HttpClient } = {
      method: request.method,
      headers: request.headers,
      body: request.body,
      signal: request.signal,
      client: this.#client,
      // A redirect is the gate's (or a routed upstream's) answer to pass on, never one to follow.
      redirect: "manual",
    };
    try {
      return await fetch(`http://localhost${request.path}`, init);
    } catch (err) {
      if (request.signal.aborted) throw err;
      throw new GateUnreachableError(connectFailureReason(err), { cause: err });
    }
  }

  close(): void {
    this.#client.close();
  }
}
