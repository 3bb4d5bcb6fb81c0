/** Starts a real gate process under its role's pinned permission flags (the shared launcher). */
import type { RunningProcess } from "./cli.ts";
import { baseEnv } from "./cli.ts";
import { SERVICE_ACCOUNT, spawnRole } from "../../src/testing/chain.ts";

/** The dev service account the emulator's default world lets the engineer impersonate. */
export const DEV_SA = SERVICE_ACCOUNT;

/** Where a test gate keeps its files. */
export interface GatePaths {
  /** The 0700 runtime dir (XDG_RUNTIME_DIR) holding the sockets and the audit log. */
  runDir: string;
  socket: string;
  adminSocket: string;
  adc: string;
  auditLog: string;
}

/** Lays out a gate's files under `dir` (the ADC file is the caller's to write). */
export async function gatePaths(dir: string): Promise<GatePaths> {
  const runDir = `${dir}/run`;
  await Deno.mkdir(runDir, { mode: 0o700, recursive: true });
  await Deno.chmod(runDir, 0o700);
  return {
    runDir,
    socket: `${runDir}/gcp-authcalator.sock`,
    adminSocket: `${runDir}/gcp-authcalator-admin/admin.sock`,
    adc: `${dir}/adc.json`,
    auditLog: `${runDir}/audit.log`,
  };
}

/** Starts `authcalator gate` and waits until it listens. */
export async function startGate(
  paths: GatePaths,
  googleBase: string,
  home: string,
  extraArgs: string[] = [],
): Promise<RunningProcess> {
  const args = [
    "--project-id",
    "demo-project",
    "--service-account",
    DEV_SA,
    "--google-api-base",
    googleBase,
    ...extraArgs,
  ];
  const env = baseEnv({
    GOOGLE_APPLICATION_CREDENTIALS: paths.adc,
    XDG_RUNTIME_DIR: paths.runDir,
    HOME: home,
  });
  const gate = spawnRole("gate", args, { env });
  await gate.waitFor(/gate listening on unix:|error|gate: /, 30_000);
  return gate;
}

/** GETs `path` from a Unix-socket server; bounded. */
export async function socketGet(
  socket: string,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
  try {
    const res = await fetch(`http://localhost${path}`, {
      ...init,
      client,
      signal: AbortSignal.timeout(20_000),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : {}, headers: res.headers };
  } finally {
    client.close();
  }
}
