/**
 * Starts the emulator → gate → metadata-proxy chain for the bench, each role as users run it:
 * `deno run <its pinned flags from src/permissions.ts> src/main.ts <role> <flags>`.
 * @module
 */
import { pinnedFlags } from "../../src/commands/permissions.ts";
import { freePort, type RunningProcess, watchProcess } from "../../tests/helpers/cli.ts";

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

/** Spawns `deno run <pinned flags of command's role> main.ts <command> <args>`; waits for `ready`. */
export async function startRole(
  command: string,
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
): Promise<RoleProcess & { match: RegExpMatchArray }> {
  const flags = pinnedFlags(command, args, env);
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
    return { name: command, proc, pid: child.pid, match };
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
      ["--port", "0", "--write-adc", adcPath],
      roleEnv(dir),
      /emulator listening on (http:\/\/127\.0\.0\.1:\d+)/,
    );
    started.push(emulator);
    await emulator.proc.waitFor(/ADC written/, 10_000);
    const emulatorUrl = emulator.match[1];

    const socket = `${dir}/run/g.sock`;
    const gateEnv = roleEnv(dir, { GOOGLE_APPLICATION_CREDENTIALS: adcPath });
    const gate = await startRole(
      "gate",
      [
        "--project-id",
        PROJECT,
        "--service-account",
        SERVICE_ACCOUNT,
        "--socket-path",
        socket,
        "--admin-socket-path",
        `${dir}/run/adm/admin.sock`,
        "--google-api-base",
        emulatorUrl,
      ],
      gateEnv,
      /gate listening on/,
    );
    started.push(gate);

    const port = freePort();
    const proxy = await startRole(
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
