/**
 * `authcalator gate`: checks what it depends on (its audit log, the ADC), binds its sockets,
 * says on its terminal what it is and how approvals will be asked, then serves until a stop signal.
 * @module
 */
import { waitForStopSignal } from "../stop_signal.ts";
import { dirname } from "node:path";
import type { Invocation } from "../cli/commands.ts";
import { runtimeDir } from "../cli/config.ts";
import { systemClock } from "../clock.ts";
import { UsageError } from "../errors.ts";
import { resolveEndpoints } from "../google/endpoints.ts";
import { createGateApp } from "../gate/app.ts";
import { createRoutesApp } from "../gate/routes_app.ts";
import { openRoutes, type ServedRoutes } from "../routes/served_routes.ts";
import { createRoutePolicy } from "../routes/route_policy.ts";
import { createProdLayer, type ProdLayerOptions, systemProdOptions } from "../gate/prod.ts";
import {
  checkAuditLog,
  DEFAULT_AUDIT_MAX_BYTES,
  DEFAULT_AUDIT_MAX_FILES,
  FileAuditLog,
} from "../gate/audit.ts";
import { dialogProgram } from "../gate/confirm/chain.ts";
import {
  checkCredentials,
  credentialsFailure,
  type CredentialsReport,
} from "../gate/credentials_check.ts";
import { checkGateConfig, type GateConfig } from "../gate/gate_config.ts";
import { GoogleTokenService } from "../gate/google_tokens.ts";
import type { GateDeps } from "../gate/types.ts";
import {
  assertDistinctSockets,
  ensurePrivateDir,
  serveUnix,
  type UnixServer,
} from "../gate/unix_socket.ts";
import { createLogger, type Logger } from "../log.ts";
import { auditWithRemoteClient } from "../gate/remote_client.ts";
import type { TcpSetup } from "../gate/tcp_setup.ts";
import { defaultTlsDir } from "../tls/files.ts";
import { VERSION } from "../version.ts";

/** Socket file modes: the main socket is shared with the container's group; admin is ours alone. */
const MAIN_SOCKET_MODE = 0o660;
const ADMIN_SOCKET_MODE = 0o600;

/** Runs the gate until SIGINT or SIGTERM. */
export async function run(invocation: Invocation): Promise<number> {
  const config = checkGateConfig(invocation.config!);
  const env = invocation.env;
  const clock = systemClock;
  const log = createLogger({
    component: "gate",
    level: config.log_level,
    format: config.log_format,
  });
  const auditRequired = auditRequiredFrom(invocation, config);
  const allowMissing = invocation.flags["allow-missing-credentials"] === true;
  const endpoints = resolveEndpoints(config);
  const xdg = env.XDG_RUNTIME_DIR;
  const dirMode = (dir: string) => (xdg && dir === xdg.replace(/\/+$/, "") ? 0o700 : 0o750);

  const auditDir = runtimeDir(env);
  const auditPath = `${auditDir}/audit.log`;
  const tokens = new GoogleTokenService({
    projectId: config.project_id,
    serviceAccount: config.service_account,
    endpoints,
    env,
    clock,
    hostname: Deno.hostname(),
  });
  const audit = new FileAuditLog({
    path: auditPath,
    clock,
    required: auditRequired,
    maxBytes: config.audit_max_bytes,
    maxFiles: config.audit_max_files,
    log: (m) => log.error(m),
  });
  // Lines written while a TCP client's request runs name that client (src/gate/remote_client.ts).
  const deps: GateDeps = {
    config,
    clock,
    tokens,
    audit: auditWithRemoteClient(audit),
    startedAt: clock.now(),
  };
  const prodOptions = systemProdOptions(env, linesAt(log, "info"));
  const prod = createProdLayer(deps, prodOptions);

  const previousUmask = Deno.umask(0o077);
  const servers: UnixServer[] = [];
  let tcp: TcpSetup | undefined;
  let routes: ServedRoutes | undefined;
  // `/routes/<name>` (issue 11) on each API listener; the admin socket never serves them.
  const routesApp = (listener: "main" | "tcp") =>
    createRoutesApp({
      routes: routes?.routes ?? new Map(),
      audit: deps.audit,
      clock,
      listener,
      log: linesAt(log, "error"),
      auditRequired,
      // Prod routes need a live with-prod session; pushes go through the prod confirmation chain.
      policy: createRoutePolicy({
        listener,
        sessionActive: prod.sessionActive,
        confirmGitPush: prod.confirmGitPush,
        timers: prodOptions.timers,
        log: linesAt(log, "info"),
      }),
    });
  let credentials: CredentialsReport;
  try {
    await ensurePrivateDir(auditDir, dirMode(auditDir));
    // Fail closed before anything is served: a gate that cannot record grants never starts.
    checkAuditLog(auditPath, { log: (m) => log.warn(m) });
    log.debug(`checking Application Default Credentials with one refresh against Google`);
    credentials = await checkCredentials(tokens, env);
    if (credentials.problem && !allowMissing) throw new Error(credentialsFailure(credentials));
    await ensurePrivateDir(dirname(config.socket_path), dirMode(dirname(config.socket_path)));
    await ensurePrivateDir(dirname(config.admin_socket_path), 0o700);
    await assertDistinctSockets({
      socket_path: config.socket_path,
      admin_socket_path: config.admin_socket_path,
    });
    routes = openRoutes(config.routes ?? [], env);
    const main = createGateApp(
      deps,
      "main",
      prod.handlers("main"),
      linesAt(log, "error"),
      routesApp("main"),
    );
    servers.push(await bind(config.socket_path, MAIN_SOCKET_MODE, main.fetch, "socket-path"));
    servers.push(
      await bind(
        config.admin_socket_path,
        ADMIN_SOCKET_MODE,
        prod.adminApp.fetch,
        "admin-socket-path",
      ),
    );
    if (config.gate_tls_port !== undefined) {
      // The TCP listener's modules (X.509 parsing, node:tls) are loaded only when it is
      // configured: a gate on its Unix sockets alone does not carry them (issue 9, memory).
      const { tlsExpiryWarnings } = await import("../gate/health_warnings.ts");
      const { startTcpListener } = await import("../gate/tcp_setup.ts");
      // The same dev, prod and session routes as the main socket; the admin routes are absent.
      deps.healthWarnings = tlsExpiryWarnings(
        config.tls_dir ?? defaultTlsDir(env),
        clock,
        (m) => log.warn(m),
      );
      const tcpApp = createGateApp(
        deps,
        "tcp",
        prod.handlers("tcp"),
        linesAt(log, "error"),
        routesApp("tcp"),
      );
      tcp = await startTcpListener({
        config,
        env,
        handler: tcpApp.fetch,
        log: (m) => log.warn(m),
      });
    }
  } catch (err) {
    await Promise.all(servers.map((s) => s.close(0)));
    await tcp?.close();
    routes?.close();
    Deno.umask(previousUmask);
    await prod.shutdown();
    // In JSON mode the refusal is a JSON line like every other; in text mode main prints it.
    if (config.log_format === "json" && !(err instanceof UsageError)) {
      log.error((err as Error).message ?? String(err));
      return 1;
    }
    throw err;
  }

  const facts = bannerFacts({
    config,
    credentials,
    auditPath,
    auditRequired,
    approvals: approvalMethods(prodOptions),
    google: endpoints.oauth2 === "https://oauth2.googleapis.com" ? "Google" : endpoints.oauth2,
  });
  if (tcp) facts.splice(facts.findIndex(([k]) => k === "admin socket") + 1, 0, ...tcp.facts);
  if (config.log_format === "json") {
    console.log(JSON.stringify({
      time: new Date(clock.now()).toISOString(),
      level: "info",
      component: "gate",
      msg: `authcalator ${VERSION} gate`,
      ...Object.fromEntries(facts.map(([k, v]) => [k.toLowerCase().replaceAll(" ", "_"), v])),
    }));
  } else {
    console.log(renderBanner(facts));
  }
  if (credentials.problem) {
    log.warn(
      `STARTED WITHOUT USABLE CREDENTIALS (--allow-missing-credentials): ${credentials.problem}. ` +
        `Every token request fails until this is fixed. Fix: ${credentials.fix}`,
    );
  }
  if (!auditRequired) {
    log.warn(
      "audit_required = false: if the audit log cannot be written, dev tokens are still granted " +
        "(unaudited); prod grants are refused regardless",
    );
  }
  for (const warning of tcp?.warnings ?? []) log.warn(warning);
  const listening = `gate listening on unix:${config.socket_path}` +
    (tcp ? ` and tcp:${tcp.address}` : "");
  if (config.log_format === "json") {
    console.log(JSON.stringify({
      time: new Date(clock.now()).toISOString(),
      level: "info",
      component: "gate",
      msg: listening,
    }));
  } else console.log(listening);

  await waitForStopSignal();
  log.info("shutting down");
  // Deny queued approvals and revoke sessions while clients can still be answered, then close.
  await prod.shutdown();
  await Promise.all([...servers.map((s) => s.close()), tcp?.close()]);
  routes?.close();
  return 0;
}

/** `audit_required` from config (flag, env, TOML), turned off by the gate's `--no-audit-required`. */
export function auditRequiredFrom(invocation: Invocation, config: GateConfig): boolean {
  if (invocation.flags["no-audit-required"] === true) return false;
  return config.audit_required ?? true;
}

/** Adapts modules' `gate: …` lines (they predate the logger) to one level of the leveled log. */
function linesAt(log: Logger, level: "error" | "info"): (message: string) => void {
  return (m) => log[level](m.replace(/^gate: /, ""));
}

/** Binds a socket; one in use names itself and says how to pick another. */
async function bind(
  path: string,
  mode: number,
  handler: Deno.ServeHandler<Deno.UnixAddr>,
  flag: string,
): Promise<UnixServer> {
  try {
    return await serveUnix(path, mode, handler);
  } catch (err) {
    const inUse = err instanceof Deno.errors.AddrInUse ||
      /already running|in use/i.test((err as Error).message);
    if (!inUse) throw err;
    const env = `GCP_AUTHCALATOR_${flag.replaceAll("-", "_").toUpperCase()}`;
    throw new Error(
      `${(err as Error).message}\n  ${path} is in use: stop the gate that holds it, or pick ` +
        `another path with --${flag} <path> (or ${env}, or ${flag.replaceAll("-", "_")} in the ` +
        "TOML config); the containers' socket mount must follow it",
    );
  }
}

/** The confirmation surfaces this host will try, in order. */
export function approvalMethods(options: ProdLayerOptions): string[] {
  const methods: string[] = [];
  const dialog = dialogProgram(options.platform, options.env);
  if (dialog === "zenity") methods.push("zenity dialog (a display is set; skipped if it fails)");
  if (dialog === "osascript") methods.push("macOS dialog (osascript)");
  if (options.terminal) methods.push("this terminal");
  methods.push("pending queue (authcalator pending / approve / deny)");
  return methods;
}

interface BannerInput {
  config: GateConfig;
  credentials: CredentialsReport;
  auditPath: string;
  auditRequired: boolean;
  approvals: string[];
  google: string;
}

/** The banner's facts, in order: what the gate is, whom it acts for and where its parts are. */
export function bannerFacts(input: BannerInput): [string, string][] {
  const { config: c, credentials } = input;
  const maxBytes = c.audit_max_bytes ?? DEFAULT_AUDIT_MAX_BYTES;
  const maxFiles = c.audit_max_files ?? DEFAULT_AUDIT_MAX_FILES;
  return [
    ["engineer", credentials.email ?? `UNKNOWN (${credentials.problem ?? "not checked"})`],
    ["ADC", `${credentials.type ?? "unusable"} credential from ${credentials.path}`],
    ["project", c.project_id],
    ["dev service account", c.service_account],
    ["token TTL", `${c.token_ttl_seconds} s (sessions ${c.session_ttl_seconds} s)`],
    ["socket", c.socket_path],
    ["admin socket", c.admin_socket_path],
    [
      "audit log",
      `${input.auditPath} (rotates at ${maxBytes} bytes, keeps ${maxFiles} old files; ` +
      (input.auditRequired
        ? "nothing is granted if it cannot be written)"
        : "prod refused, dev still granted if it cannot be written)"),
    ],
    ["approvals", input.approvals.join(", then ")],
    ["Google APIs", input.google],
    ["log", `${c.log_level ?? "info"}, ${c.log_format ?? "text"}`],
  ];
}

/** Renders the banner for a terminal. */
export function renderBanner(facts: [string, string][]): string {
  const width = Math.max(...facts.map(([k]) => k.length)) + 2;
  return [
    `authcalator ${VERSION} gate`,
    ...facts.map(([k, v]) => `  ${(k + ":").padEnd(width)}${v}`),
  ].join("\n");
}
