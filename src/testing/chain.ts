/**
 * THE launcher of the emulator → gate → metadata-proxy chain, used by `deno task demo`, the
 * benchmarks and the end-to-end tests alike: each role runs as users run it,
 * `deno run <its pinned flags> src/main.ts <role> <flags>` (or an installed `authcalator`
 * executable), in a clean environment. One home for start-up order, readiness lines and teardown,
 * so the four copies that used to drift are gone. Not published: see deno.json's publish.exclude.
 * @module
 */
import { pinnedFlags } from "../commands/permissions.ts";
import { freePort, type LineSink, type RunningProcess, watchProcess } from "./process.ts";

export { freePort, type RunningProcess, watchProcess } from "./process.ts";

/** Absolute path of src/main.ts. */
export const MAIN = decodeURIComponent(new URL("../main.ts", import.meta.url).pathname);

/** The project the chain's emulated world uses. */
export const PROJECT = "demo-project";
/** The dev service account the emulator lets the engineer impersonate. */
export const SERVICE_ACCOUNT = "dev-runner@demo-project.iam.gserviceaccount.com";

/** What each role prints once it is ready. */
export const READY = {
  emulator: /emulator listening on (http:\/\/127\.0\.0\.1:\d+)/,
  adcWritten: /ADC written/,
  gate: /gate listening on unix:/,
  proxy: /metadata-proxy listening on (http:\/\/[\d.]+:\d+)/,
} as const;

/** Readiness bound for a role's start (module load included on a cold cache). */
export const READY_TIMEOUT_MS = 30_000;

/** The clean environment every role gets: no colour or backtraces, the caller's module cache. */
export function roleEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: home,
    RUST_BACKTRACE: "0",
    NO_COLOR: "1",
    DENO_NO_UPDATE_CHECK: "1",
  };
  // A test that changes HOME must keep Deno's cache where it is (pinned DENO_DIR).
  env.DENO_DIR = Deno.env.get("DENO_DIR") ?? `${
    Deno.env.get("XDG_CACHE_HOME") ??
      `${Deno.env.get("HOME")}/.cache`
  }/deno`;
  return { ...env, ...extra };
}

/** How to start one role. */
export interface RoleOptions {
  /** The whole environment of the role (clearEnv is always on). */
  env: Record<string, string>;
  /** Deno flags; default: the role's pinned flags for this command line and env. */
  permissions?: string[];
  /** Run this executable (`authcalator` shim or compiled binary) instead of `deno run … main.ts`. */
  executable?: string;
  /** Each output line, e.g. for the demo's `[gate] …` echo. */
  onLine?: LineSink;
  cwd?: string;
}

/** Spawns `authcalator <command> <args>` as its role, output collected. */
export function spawnRole(command: string, args: string[], options: RoleOptions): RunningProcess {
  const argv = options.executable ? [command, ...args] : [
    "run",
    "--quiet",
    ...(options.permissions ?? pinnedFlags(command, args, options.env)),
    MAIN,
    command,
    ...args,
  ];
  const child = new Deno.Command(options.executable ?? Deno.execPath(), {
    args: argv,
    env: options.env,
    clearEnv: true,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return watchProcess(child, options.onLine);
}

/** Spawns a role and waits (bounded) for its ready line; stops it if it never gets ready. */
export async function startRole(
  command: string,
  args: string[],
  options: RoleOptions & { ready: RegExp; timeoutMs?: number },
): Promise<{ proc: RunningProcess; match: RegExpMatchArray }> {
  const proc = spawnRole(command, args, options);
  try {
    const match = await proc.waitFor(options.ready, options.timeoutMs ?? READY_TIMEOUT_MS);
    return { proc, match };
  } catch (err) {
    await proc.stop("SIGKILL");
    throw err;
  }
}

/** Where the chain keeps its files; every path defaults to a place under `dir`. */
export interface ChainOptions {
  /** A private (0700) directory the caller owns and removes; HOME of every role. */
  dir: string;
  /** XDG_RUNTIME_DIR of the gate (its audit.log lands here); default `<dir>/run`. */
  runDir?: string;
  socketPath?: string;
  adminSocketPath?: string;
  /** Start the metadata-proxy: a port (0 = any free one), or false for emulator + gate only. */
  proxyPort?: number | false;
  /** Extra gate flags and environment (DISPLAY, a PATH with fake dialogs, …). */
  gateArgs?: string[];
  gateEnv?: Record<string, string>;
  /** Deno flags of the gate; default its pinned flags. */
  gatePermissions?: string[];
  /**
   * A host-side launcher script run instead of `authcalator gate` (the devcontainer recipe's):
   * it gets the gate's settings as a TOML file named by AUTHCALATOR_GATE_CONFIG, and the
   * `authcalator` executable to use in AUTHCALATOR.
   */
  gateLauncher?: { script: string; authcalator: string };
  /** An installed `authcalator` to run every role with, instead of `deno run` on this checkout. */
  executable?: string;
  /** Each role's output lines. */
  onLine?: (role: string, line: string) => void;
}

/** A running chain; `stop()` stops every role it started, newest first. */
export interface Chain extends AsyncDisposable {
  dir: string;
  runDir: string;
  emulatorUrl: string;
  adcPath: string;
  socketPath: string;
  adminSocketPath: string;
  auditLogPath: string;
  emulator: RunningProcess;
  /** The current gate (see {@link Chain.restartGate}). */
  readonly gate: RunningProcess;
  proxy?: RunningProcess;
  /** `http://127.0.0.1:<port>` of the proxy, when started. */
  proxyUrl?: string;
  /** `127.0.0.1:<port>` for GCE_METADATA_HOST, when the proxy is started. */
  metadataHost?: string;
  /** Starts a new gate on the same sockets (the previous one must have stopped). */
  restartGate(): Promise<RunningProcess>;
  /** Also stopped with the chain: a process the caller started against it. */
  adopt(proc: RunningProcess): RunningProcess;
  stop(): Promise<void>;
}

/** Starts emulator, gate and (unless `proxyPort: false`) the metadata proxy; all or nothing. */
/** The gate's flags in every test world: the e2e project, its sockets, Google at the emulator. */
export function gateArgsFor(
  where: { socketPath: string; adminSocketPath: string; googleApiBase: string },
): string[] {
  return [
    "--project-id",
    PROJECT,
    "--service-account",
    SERVICE_ACCOUNT,
    "--socket-path",
    where.socketPath,
    "--admin-socket-path",
    where.adminSocketPath,
    "--google-api-base",
    where.googleApiBase,
  ];
}

/**
 * The metadata-proxy's flags in every test world: the e2e project, then how it reaches the gate
 * (`--socket-path …`, or `--gate-url …` with its credentials), its port and any extra flags.
 */
export function proxyArgsFor(reach: string[], port: number, extra: string[] = []): string[] {
  return [
    "--project-id",
    PROJECT,
    "--service-account",
    SERVICE_ACCOUNT,
    ...reach,
    "--port",
    String(port),
    ...extra,
  ];
}

export async function startChain(options: ChainOptions): Promise<Chain> {
  const dir = options.dir;
  const runDir = options.runDir ?? `${dir}/run`;
  await Deno.mkdir(runDir, { mode: 0o700, recursive: true });
  await Deno.chmod(runDir, 0o700);
  const socketPath = options.socketPath ?? `${runDir}/g.sock`;
  const adminSocketPath = options.adminSocketPath ?? `${runDir}/adm/admin.sock`;
  const adcPath = `${dir}/adc.json`;
  const started: RunningProcess[] = [];
  const stop = async () => {
    for (const p of started.splice(0).reverse()) await p.stop("SIGTERM");
  };
  const lines = (role: string) => options.onLine && ((line: string) => options.onLine!(role, line));
  const run = (command: string, args: string[], env: Record<string, string>, ready: RegExp) =>
    startRole(command, args, {
      env,
      ready,
      executable: options.executable,
      onLine: lines(command),
      permissions: command === "gate" ? options.gatePermissions : undefined,
    }).then((r) => {
      started.push(r.proc);
      return r;
    });
  try {
    const emulator = await run(
      "emulator",
      ["--port", "0", "--write-adc", adcPath],
      roleEnv(dir),
      READY.emulator,
    );
    await emulator.proc.waitFor(READY.adcWritten, 10_000);
    const emulatorUrl = emulator.match[1];
    const gateArgs = [
      ...gateArgsFor({ socketPath, adminSocketPath, googleApiBase: emulatorUrl }),
      ...(options.gateArgs ?? []),
    ];
    const gateEnv = roleEnv(dir, {
      GOOGLE_APPLICATION_CREDENTIALS: adcPath,
      XDG_RUNTIME_DIR: runDir,
      ...options.gateEnv,
    });
    const startGate = options.gateLauncher
      ? () =>
        launchGateScript(options.gateLauncher!, gateArgs, gateEnv, dir, lines("gate"))
          .then((proc) => (started.push(proc), proc))
      : async () => (await run("gate", gateArgs, gateEnv, READY.gate)).proc;
    let gate = await startGate();
    let proxy: RunningProcess | undefined;
    let proxyUrl: string | undefined;
    if (options.proxyPort !== false) {
      const port = options.proxyPort || freePort();
      const r = await run(
        "metadata-proxy",
        proxyArgsFor(["--socket-path", socketPath], port),
        roleEnv(dir, { XDG_RUNTIME_DIR: runDir }),
        READY.proxy,
      );
      proxy = r.proc;
      proxyUrl = r.match[1];
    }
    return {
      dir,
      runDir,
      emulatorUrl,
      adcPath,
      socketPath,
      adminSocketPath,
      auditLogPath: `${runDir}/audit.log`,
      emulator: emulator.proc,
      get gate() {
        return gate;
      },
      proxy,
      proxyUrl,
      metadataHost: proxyUrl && new URL(proxyUrl).host,
      async restartGate() {
        gate = await startGate();
        return gate;
      },
      adopt(proc) {
        started.push(proc);
        return proc;
      },
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** `--flag value` pairs as TOML `flag = "value"` lines (the gate's flags are all strings here). */
function tomlOf(args: string[]): string {
  const lines: string[] = [];
  for (let i = 0; i + 1 < args.length; i += 2) {
    if (!args[i].startsWith("--")) throw new Error(`not a flag: ${args[i]}`);
    lines.push(`${args[i].slice(2).replaceAll("-", "_")} = ${JSON.stringify(args[i + 1])}`);
  }
  return lines.join("\n") + "\n";
}

/** Runs a host-side gate launcher script with the gate's settings in a TOML file. */
async function launchGateScript(
  launcher: { script: string; authcalator: string },
  gateArgs: string[],
  env: Record<string, string>,
  dir: string,
  onLine: LineSink | undefined,
): Promise<RunningProcess> {
  const config = `${dir}/gate.toml`;
  await Deno.writeTextFile(config, tomlOf(gateArgs), { mode: 0o600 });
  const child = new Deno.Command("/bin/sh", {
    args: [launcher.script],
    env: {
      ...env,
      AUTHCALATOR_GATE_CONFIG: config,
      AUTHCALATOR: launcher.authcalator,
      DENO: Deno.execPath(),
    },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const proc = watchProcess(child, onLine);
  try {
    await proc.waitFor(READY.gate, READY_TIMEOUT_MS);
    return proc;
  } catch (err) {
    await proc.stop("SIGKILL");
    throw err;
  }
}
