import { waitForStopSignal } from "../stop_signal.ts";
import { dirname } from "node:path";
import type { Invocation } from "../cli/commands.ts";
import { runtimeDir } from "../cli/config.ts";
import { systemClock } from "../clock.ts";
import { resolveEndpoints } from "../google/endpoints.ts";
import { createGateApp } from "../gate/app.ts";
import { createProdLayer, systemProdOptions } from "../gate/prod.ts";
import { FileAuditLog } from "../gate/audit.ts";
import { checkGateConfig } from "../gate/gate_config.ts";
import { GoogleTokenService } from "../gate/google_tokens.ts";
import type { GateDeps } from "../gate/types.ts";
import {
  assertDistinctSockets,
  ensurePrivateDir,
  serveUnix,
  type UnixServer,
} from "../gate/unix_socket.ts";
import { VERSION } from "../version.ts";

/** Socket file modes: the main socket is shared with the container's group; admin is ours alone. */
const MAIN_SOCKET_MODE = 0o660;
const ADMIN_SOCKET_MODE = 0o600;

/** Runs the gate until SIGINT or SIGTERM. */
export async function run(invocation: Invocation): Promise<number> {
  const config = checkGateConfig(invocation.config!);
  const env = invocation.env;
  const clock = systemClock;
  const endpoints = resolveEndpoints(config);
  const xdg = env.XDG_RUNTIME_DIR;
  const dirMode = (dir: string) => (xdg && dir === xdg.replace(/\/+$/, "") ? 0o700 : 0o750);

  const auditDir = runtimeDir(env);
  const tokens = new GoogleTokenService({
    projectId: config.project_id,
    serviceAccount: config.service_account,
    endpoints,
    env,
    clock,
    hostname: Deno.hostname(),
  });
  const deps: GateDeps = {
    config,
    clock,
    tokens,
    audit: new FileAuditLog(`${auditDir}/audit.log`, clock),
    startedAt: clock.now(),
  };

  const prod = createProdLayer(deps, systemProdOptions(env));

  const previousUmask = Deno.umask(0o077);
  const servers: UnixServer[] = [];
  try {
    await ensurePrivateDir(auditDir, dirMode(auditDir));
    await ensurePrivateDir(dirname(config.socket_path), dirMode(dirname(config.socket_path)));
    await ensurePrivateDir(dirname(config.admin_socket_path), 0o700);
    await assertDistinctSockets({
      socket_path: config.socket_path,
      admin_socket_path: config.admin_socket_path,
    });
    const main = createGateApp(deps, "main", prod.handlers("main"));
    servers.push(await serveUnix(config.socket_path, MAIN_SOCKET_MODE, main.fetch));
    servers.push(await serveUnix(config.admin_socket_path, ADMIN_SOCKET_MODE, prod.adminApp.fetch));
  } catch (err) {
    await Promise.all(servers.map((s) => s.close(0)));
    Deno.umask(previousUmask);
    throw err;
  }

  console.log(
    summary(
      invocation,
      endpoints.oauth2 === "https://oauth2.googleapis.com" ? "Google" : endpoints.oauth2,
    ),
  );
  console.log(`gate listening on unix:${config.socket_path}`);

  await waitForStopSignal();
  console.error("gate: shutting down");
  // Deny queued approvals and revoke sessions while clients can still be answered, then close.
  await prod.shutdown();
  await Promise.all(servers.map((s) => s.close()));
  return 0;
}

function summary(invocation: Invocation, google: string): string {
  const c = invocation.config!;
  return [
    `authcalator ${VERSION} gate`,
    `  project:          ${c.project_id}`,
    `  service account:  ${c.service_account}`,
    `  token TTL:        ${c.token_ttl_seconds} s (sessions ${c.session_ttl_seconds} s)`,
    `  socket:           ${c.socket_path}`,
    `  admin socket:     ${c.admin_socket_path}`,
    `  Google APIs:      ${google}`,
  ].join("\n");
}
