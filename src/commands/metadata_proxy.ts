/**
 * `authcalator metadata-proxy`: the container-side GCE metadata server, backed by the gate's
 * Unix socket, or by a remote gate at `gate_url` (TCP + mTLS or a bearer token file).
 * @module
 */
import { waitForStopSignal } from "../stop_signal.ts";
import type { Invocation } from "../cli/commands.ts";
import { UsageError } from "../errors.ts";
import { withDeadline } from "../http/deadline_fetch.ts";
import { createMetadataApp } from "../metadata/app.ts";
import { openGateTransport } from "../gate_api/open_transport.ts";
import type { GateTransport } from "../gate_api/transport.ts";
import { GateClient } from "../metadata/gate_client.ts";
import {
  hostAllowed,
  hostForUrl,
  isLoopback,
  rememberLastAllowed,
} from "../metadata/host_check.ts";
import { MetadataStore } from "../metadata/store.ts";
import { defaultInstance } from "../metadata/vm_tree.ts";
import { createRoutesProxyApp } from "../routes_proxy/app.ts";
import { routesHostAllowed } from "../routes_proxy/target.ts";

/** How long shutdown waits for in-flight requests before exiting anyway. */
const SHUTDOWN_GRACE_MS = 5_000;

/** The listen address: `--bind`, else 127.0.0.1; only IP literals (or `localhost`). */
export function bindAddress(flag: unknown): string {
  if (flag === undefined) return "127.0.0.1";
  const value = String(flag).trim();
  if (value === "localhost") return "127.0.0.1";
  const bare = value.replace(/^\[(.*)\]$/, "$1");
  const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(bare);
  if (ipv4 && ipv4.slice(1).every((n) => Number(n) <= 255)) return bare;
  if (/^[0-9a-f:]+$/i.test(bare) && bare.includes(":")) return bare;
  throw new UsageError(`--bind must be an IP address, got ${JSON.stringify(value)}`);
}

/** Checks that the gate socket exists and is a socket, with advice when it is not. */
async function checkSocket(path: string): Promise<void> {
  const advice =
    "start `authcalator gate` on the host and mount its socket into the container at that path " +
    "(socket_path, --socket-path or GCP_AUTHCALATOR_SOCKET_PATH)";
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Error(`the gate socket ${path} does not exist: ${advice}`);
    }
    throw new Error(`cannot inspect the gate socket ${path} (${(err as Error).name}): ${advice}`);
  }
  if (!info.isSocket) throw new Error(`${path} exists but is not a socket: ${advice}`);
}

/** The routes listener's address: loopback always, whatever `--bind` says for metadata. */
const ROUTES_BIND = "127.0.0.1";

/**
 * Starts the API routes listener (src/routes_proxy/app.ts) on `127.0.0.1:<routesPort>`, passing
 * routed calls to the gate over `transport`, the one the metadata server uses.
 */
function serveRoutes(routesPort: number, transport: GateTransport): Deno.HttpServer<Deno.NetAddr> {
  let port = routesPort;
  const app = createRoutesProxyApp({
    transport,
    hostAllowed: (host) => routesHostAllowed(host, ROUTES_BIND, port),
    log: (line) => console.error(`metadata-proxy: routes: ${line}`),
  });
  try {
    const server = Deno.serve(
      { hostname: ROUTES_BIND, port: routesPort, onListen() {} },
      (req, info) => app.fetch(req, { remoteAddr: info.remoteAddr }),
    );
    port = server.addr.port;
    return server;
  } catch (err) {
    if (err instanceof Deno.errors.AddrInUse) {
      throw new Error(
        `routes_port ${routesPort} on ${ROUTES_BIND} is already in use: pick another with ` +
          "--routes-port N (or GCP_AUTHCALATOR_ROUTES_PORT, or routes_port in the config file; " +
          "0 = any free port)",
      );
    }
    throw err;
  }
}

/** Runs the proxy until SIGINT or SIGTERM. */
export async function run(invocation: Invocation): Promise<number> {
  const config = invocation.config!;
  if (!config.project_id) {
    throw new UsageError(
      "metadata-proxy needs project_id (--project-id, GCP_AUTHCALATOR_PROJECT_ID or project_id in the config file)",
    );
  }
  const bind = bindAddress(invocation.flags.bind);
  if (!isLoopback(bind)) {
    console.error(
      `metadata-proxy: warning: listening on ${bind}, not loopback: anything that can reach it gets tokens`,
    );
  }

  if (config.gate_url === undefined) await checkSocket(config.socket_path);
  const transport = await openGateTransport(
    config,
    invocation.env,
    (line) => console.error(`metadata-proxy: warning: ${line}`),
  );
  const gate = new GateClient({ transport });
  try {
    await gate.health();
  } catch (err) {
    gate.close();
    throw new Error(`${transport.where} did not pass its health check: ${(err as Error).message}`);
  }

  const store = new MetadataStore({
    projectId: config.project_id,
    serviceAccountEmail: config.service_account,
    scopes: config.scopes,
    instance: defaultInstance(config.project_id),
    projectAttributes: {},
  });
  const stop = new AbortController();
  let port = config.port;
  const { handler } = createMetadataApp({
    backend: gate,
    store,
    // `port` is final before the first request arrives (it is set right after Deno.serve).
    hostAllowed: rememberLastAllowed((host) => hostAllowed(host, bind, port)),
    stop: stop.signal,
    log: (line) => console.error(`metadata-proxy: ${line}`),
  });
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({ hostname: bind, port, onListen() {} }, handler);
  } catch (err) {
    gate.close();
    if (err instanceof Deno.errors.AddrInUse) {
      throw new Error(
        `port ${port} on ${bind} is already in use (another metadata-proxy?): pick another with ` +
          "--port N (or GCP_AUTHCALATOR_PORT, or port in the config file; 0 = any free port) and " +
          "point GCE_METADATA_HOST at it",
      );
    }
    throw err;
  }
  port = server.addr.port;
  // Both listeners are up before either is announced: a start script waiting for the first line
  // must not see success from a proxy about to exit.
  let routes: Deno.HttpServer<Deno.NetAddr> | undefined;
  if (config.routes_port !== undefined) {
    try {
      routes = serveRoutes(config.routes_port, transport);
    } catch (err) {
      await server.shutdown();
      gate.close();
      throw err;
    }
  }
  console.log(`metadata-proxy listening on http://${hostForUrl(bind)}:${port}`);
  if (routes) {
    console.log(`metadata-proxy routes on http://${ROUTES_BIND}:${routes.addr.port}/<route>/`);
  }

  await waitForStopSignal();
  stop.abort();
  try {
    await withDeadline(
      Promise.all([server.shutdown(), routes?.shutdown()]),
      SHUTDOWN_GRACE_MS,
      "finishing in-flight requests",
    );
  } catch {
    // Exit anyway: a stuck client must not keep the proxy alive after a signal.
  }
  gate.close();
  return 0;
}
