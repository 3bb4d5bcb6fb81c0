/**
 * A routes listener (src/routes_proxy/app.ts) on a real loopback port in front of a fake gate on
 * a real Unix socket: the tests script the gate's answer per request and see exactly what the
 * listener sent it.
 * @module
 */
import { createRoutesProxyApp, type RoutesProxyDeps } from "../../src/routes_proxy/app.ts";
import { routesHostAllowed } from "../../src/routes_proxy/target.ts";
import { UnixSocketTransport } from "../../src/gate_api/transport.ts";

/** What the fake gate saw of one request (copied: a served Request is closed once answered). */
export interface SeenRequest {
  method: string;
  path: string;
  headers: Headers;
}

/** What the fake gate answers a request with. */
export type GateHandler = (req: Request) => Response | Promise<Response>;

/** One running listener + fake gate. */
export class RoutesProxyFixture {
  readonly dir: string;
  readonly socketPath: string;
  readonly seen: SeenRequest[] = [];
  readonly logs: string[] = [];
  handler: GateHandler = () => new Response("ok");
  #gate?: Deno.HttpServer<Deno.UnixAddr>;
  #proxy!: Deno.HttpServer<Deno.NetAddr>;
  #transport!: UnixSocketTransport;

  private constructor(dir: string) {
    this.dir = dir;
    this.socketPath = `${dir}/gate.sock`;
  }

  /** Starts both ends; `gate: false` leaves the socket absent (the gate is down). */
  static async start(
    options: { gate?: boolean; deps?: Partial<RoutesProxyDeps> } = {},
  ): Promise<RoutesProxyFixture> {
    const f = new RoutesProxyFixture(await Deno.makeTempDir({ prefix: "routes-proxy-" }));
    if (options.gate !== false) {
      f.#gate = Deno.serve(
        { transport: "unix", path: f.socketPath, onListen() {} },
        (req) => {
          f.seen.push({
            method: req.method,
            path: new URL(req.url).pathname,
            headers: new Headers(req.headers),
          });
          return f.handler(req);
        },
      );
    }
    f.#transport = new UnixSocketTransport(f.socketPath);
    let port = 0;
    const app = createRoutesProxyApp({
      transport: f.#transport,
      hostAllowed: (host) => routesHostAllowed(host, "127.0.0.1", port),
      log: (line) => f.logs.push(line),
      ...options.deps,
    });
    f.#proxy = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (req, info) => app.fetch(req, { remoteAddr: info.remoteAddr }),
    );
    port = f.#proxy.addr.port;
    return f;
  }

  get port(): number {
    return this.#proxy.addr.port;
  }

  /** `http://127.0.0.1:<port><path>`. */
  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  async close(): Promise<void> {
    await this.#proxy.shutdown();
    this.#transport.close();
    await this.#gate?.shutdown();
    await Deno.remove(this.dir, { recursive: true });
  }
}

/** Sends raw bytes to `port` and returns everything read until the server closes (bounded). */
export async function rawExchange(port: number, text: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), 5_000);
  try {
    await conn.write(new TextEncoder().encode(text));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(16 * 1024);
    while (true) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    return new TextDecoder().decode(
      chunks.reduce((a, b) => new Uint8Array([...a, ...b]), new Uint8Array()),
    );
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}
