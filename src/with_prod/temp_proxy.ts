/**
 * with-prod's temporary metadata proxy: the shared metadata app on a random loopback port, with a
 * guard run before every route that serves only processes in the wrapped command's tree.
 * @module
 */
import { HttpError } from "../errors.ts";
import { createMetadataApp } from "../metadata/app.ts";
import type { IdTokenFormat, MetadataBackend } from "../metadata/backend.ts";
import { hostAllowed } from "../metadata/host_check.ts";
import { MetadataStore } from "../metadata/store.ts";
import { defaultInstance } from "../metadata/vm_tree.ts";
import type { ExpiringToken } from "../token_cache.ts";
import { checkCaller } from "./caller_pid.ts";
import type { ProcFS } from "./proc_fs.ts";

/** Most distinct outside processes whose refusal is logged (bounds the memory it takes). */
export const MAX_LOGGED_REFUSALS = 256;

/**
 * Logs a refusal once per outside process, so a polling client cannot flood the terminal. The
 * set of processes seen is bounded: past {@link MAX_LOGGED_REFUSALS} one last line says further
 * refusals go unlogged.
 */
export function refusalLog(
  log: (line: string) => void,
  max = MAX_LOGGED_REFUSALS,
): (pid: number, why: string) => void {
  const seen = new Set<number>();
  return (pid, why) => {
    if (seen.has(pid) || seen.size >= max) return;
    seen.add(pid);
    log(`with-prod: refused a metadata request: ${why}`);
    if (seen.size === max) {
      log(
        `with-prod: refused requests from ${max} outside processes; further refusals are not logged`,
      );
    }
  };
}

/** What the proxy's backend is made of. */
export interface ProdBackendParts {
  email: string;
  token: () => Promise<ExpiringToken>;
  projectNumber: () => Promise<string>;
  universeDomain: () => Promise<string>;
  /** Throws unless the gate still knows the session (never mints). */
  sessionHealth: () => Promise<void>;
}

/** The backend: the session's token, the engineer's email, no identity tokens. */
export function prodBackend(parts: ProdBackendParts): MetadataBackend {
  return {
    token: () => parts.token(),
    idToken: (_audience: string, _format: IdTokenFormat) =>
      Promise.reject(
        new HttpError(404, "identity tokens are not served inside a with-prod session"),
      ),
    projectNumber: parts.projectNumber,
    universeDomain: parts.universeDomain,
    identityEmail: () => Promise.resolve(parts.email),
    sessionHealth: parts.sessionHealth,
  };
}

/** Options of {@link startTempProxy}. */
export interface TempProxyOptions {
  backend: MetadataBackend;
  project: string;
  email: string;
  scopes: string[];
  /** The PID whose tree is served (with-prod's own). */
  ancestor: number;
  proc: ProcFS;
  log: (line: string) => void;
}

/** A running temporary proxy. */
export interface TempProxy {
  /** `127.0.0.1:<port>`. */
  host: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts the proxy on 127.0.0.1 with an ephemeral port. */
export function startTempProxy(options: TempProxyOptions): TempProxy {
  const stop = new AbortController();
  const store = new MetadataStore({
    projectId: options.project,
    serviceAccountEmail: options.email,
    scopes: options.scopes,
    instance: defaultInstance(options.project),
    projectAttributes: {},
  });
  let port = 0;
  const logRefusal = refusalLog(options.log);
  const { app } = createMetadataApp({
    backend: options.backend,
    store,
    stop: stop.signal,
    hostAllowed: (host) => hostAllowed(host, "127.0.0.1", port),
    log: (line) => options.log(`with-prod: metadata: ${line}`),
    guard: async (_request, info) => {
      const remote = info?.remoteAddr;
      if (!remote || remote.transport !== "tcp") return forbidden();
      const verdict = await checkCaller(
        options.proc,
        { hostname: remote.hostname, port: remote.port },
        { hostname: "127.0.0.1", port },
        options.ancestor,
      );
      if (verdict.allowed) return undefined;
      logRefusal(verdict.pids[0] ?? -1, verdict.why);
      return forbidden();
    },
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req, info) => app.fetch(req, info),
  );
  port = server.addr.port;
  return {
    host: `127.0.0.1:${port}`,
    port,
    async stop() {
      stop.abort();
      await server.shutdown();
    },
  };
}

function forbidden(): Response {
  return new Response("Forbidden\n", { status: 403, headers: { "content-type": "text/plain" } });
}
