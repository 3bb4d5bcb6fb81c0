/**
 * Starts the emulator → gate → metadata-proxy chain for the bench, each role as users run it:
 * `deno run <its pinned flags from src/permissions.ts> src/main.ts <role> <flags>`.
 * @module
 */
import { loadConfig } from "../../src/cli/config.ts";
import { denoFlags, type Role, sampleContext } from "../../src/permissions.ts";
import { type RunningProcess, watchProcess } from "../../tests/helpers/cli.ts";

/** Absolute path of src/main.ts. */
export const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

/** The project and service account the bench's world uses. */
export const PROJECT = "demo-project";
/** The dev service account the gate impersonates. */
export const SERVICE_ACCOUNT = "dev-runner@demo-project.iam.gserviceaccount.com";

/** A started role: its process, pid and listening URL. */
export interface RoleProcess {
  name: string;
  proc: RunningProcess;
  pid: number;
}

/** A loopback port that was free a moment ago (the config rejects port 0). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** The environment every role gets: clean, with the shared module cache. */
export function roleEnv(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: dir,
    XDG_RUNTIME_DIR: `${dir}/run`,
    RUST_BACKTRACE: "0",
    NO_COLOR: "1",
    DENO_NO_UPDATE_CHECK: "1",
  };
  const denoDir = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;
  env.DENO_DIR = denoDir;
  return { ...env, ...extra };
}

/** Spawns `deno run <pinned flags of role> main.ts <command> <args>` and waits for `ready`. */
export async function startRole(
  name: string,
  role: Role,
  command: string,
  args: string[],
  env: Record<string, string>,
  configFlags: Record<string, unknown>,
  ready: RegExp,
  adcPath?: string,
): Promise<RoleProcess & { match: RegExpMatchArray }> {
  const config = loadConfig({ flags: configFlags, env });
  const flags = denoFlags(role, {
    ...sampleContext(),
    home: env.HOME,
    runtimeDir: env.XDG_RUNTIME_DIR,
    config,
    adcPath,
  });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...flags, MAIN, command, ...args],
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const proc = watchProcess(child);
  try {
    const match = await proc.waitFor(ready, 30_000);
    return { name, proc, pid: child.pid, match };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

/** The running chain. */
export interface Chain {
  emulator: RoleProcess;
  gate: RoleProcess;
  proxy: RoleProcess;
  emulatorUrl: string;
  proxyUrl: string;
  adcPath: string;
  stop(): Promise<void>;
}

/** Starts emulator, gate and metadata-proxy in `dir`; stops what started if a step fails. */
export async function startChain(dir: string): Promise<Chain> {
  await Deno.mkdir(`${dir}/run`, { mode: 0o700, recursive: true });
  const adcPath = `${dir}/adc.json`;
  const started: RoleProcess[] = [];
  const stopAll = async () => {
    for (const r of started.reverse()) await r.proc.stop();
  };
  try {
    const emulator = await startRole(
      "emulator",
      "emulator",
      "emulator",
      ["--port", "0", "--write-adc", adcPath],
      roleEnv(dir),
      {},
      /emulator listening on (http:\/\/127\.0\.0\.1:\d+)/,
    );
    started.push(emulator);
    await emulator.proc.waitFor(/ADC written/, 10_000);
    const emulatorUrl = emulator.match[1];

    const socket = `${dir}/run/g.sock`;
    const gateFlags = {
      project_id: PROJECT,
      service_account: SERVICE_ACCOUNT,
      socket_path: socket,
      admin_socket_path: `${dir}/run/adm/admin.sock`,
      google_api_base: emulatorUrl,
    };
    const gateEnv = roleEnv(dir, { GOOGLE_APPLICATION_CREDENTIALS: adcPath });
    const gate = await startRole(
      "gate",
      "gate",
      "gate",
      [
        "--project-id",
        PROJECT,
        "--service-account",
        SERVICE_ACCOUNT,
        "--socket-path",
        socket,
        "--admin-socket-path",
        gateFlags.admin_socket_path,
        "--google-api-base",
        emulatorUrl,
      ],
      gateEnv,
      gateFlags,
      /gate listening on/,
      adcPath,
    );
    started.push(gate);

    const port = freePort();
    const proxy = await startRole(
      "metadata-proxy",
      "metadata-proxy",
      "metadata-proxy",
      [
        "--project-id",
        PROJECT,
        "--service-account",
        SERVICE_ACCOUNT,
        "--socket-path",
        socket,
        "--port",
        String(port),
      ],
      roleEnv(dir),
      { project_id: PROJECT, service_account: SERVICE_ACCOUNT, socket_path: socket, port },
      /metadata-proxy listening on (http:\/\/127\.0\.0\.1:\d+)/,
    );
    started.push(proxy);
    return {
      emulator,
      gate,
      proxy,
      emulatorUrl,
      proxyUrl: proxy.match[1],
      adcPath,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
