/**
 * with-prod's temporary routes listener (issue 11 item 5): the container-side routes app
 * (src/routes_proxy/app.ts) on a random loopback port of its own, speaking for the approved
 * session, so `level = "prod"` routes are served to the wrapped command and to nothing else. The
 * session id goes to the gate in `x-route-session` and stays in this process; before anything
 * reaches the gate, the caller of each connection must be in the wrapped command's process tree
 * (the same kernel check as the temporary metadata proxy), so another process in the container
 * that finds the port gets a 403 and never borrows the session.
 * @module
 */
import type { GateTransport } from "../gate_api/transport.ts";
import { createRoutesProxyApp } from "../routes_proxy/app.ts";
import { routesHostAllowed } from "../routes_proxy/target.ts";
import { checkCaller } from "./caller_pid.ts";
import type { ProcFS } from "./proc_fs.ts";
import { refusalLog, type TempProxy } from "./temp_proxy.ts";

/** The child's variable naming the temporary routes listener (`http://127.0.0.1:<port>`). */
export const ROUTES_URL_VAR = "AUTHCALATOR_ROUTES_URL";

/** Options of {@link startTempRoutesProxy}. */
export interface TempRoutesProxyOptions {
  /** The gate transport; closed when the listener stops. */
  transport: GateTransport;
  /** The approved session's id (never logged). */
  session: string;
  /** The PID whose tree is served (with-prod's own). */
  ancestor: number;
  proc: ProcFS;
  log: (line: string) => void;
}

/** Starts the listener on 127.0.0.1 with an ephemeral port. */
export function startTempRoutesProxy(options: TempRoutesProxyOptions): TempProxy {
  let port = 0;
  const logRefusal = refusalLog((line) =>
    options.log(line.replace("a metadata request", "a routes request"))
  );
  const app = createRoutesProxyApp({
    transport: options.transport,
    hostAllowed: (host) => routesHostAllowed(host, "127.0.0.1", port),
    session: options.session,
    log: (line) => options.log(`with-prod: routes: ${line}`),
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req, info) => {
      const remote = info.remoteAddr;
      if (remote.transport !== "tcp") return forbidden();
      const verdict = await checkCaller(
        options.proc,
        { hostname: remote.hostname, port: remote.port },
        { hostname: "127.0.0.1", port },
        options.ancestor,
      ).catch(() => ({ allowed: false, why: "the caller could not be checked", pids: [] }));
      if (!verdict.allowed) {
        logRefusal(verdict.pids[0] ?? -1, verdict.why);
        await req.body?.cancel().catch(() => {});
        return forbidden();
      }
      return app.fetch(req, { remoteAddr: remote });
    },
  );
  port = server.addr.port;
  return {
    host: `127.0.0.1:${port}`,
    port,
    async stop() {
      await server.shutdown();
      options.transport.close();
    },
  };
}

function forbidden(): Response {
  return new Response(
    "Forbidden: this routes listener serves only the command with-prod runs\n",
    { status: 403, headers: { "content-type": "text/plain" } },
  );
}
