/**
 * Starts the real processes a devcontainer setup runs, for end-to-end tests: the Google API
 * emulator, the gate on a Unix socket, and the metadata proxy under its own pinned permissions.
 */
import { pinnedFlags } from "../../src/commands/permissions.ts";
import { freePort, type RunningProcess, startCli } from "../helpers/cli.ts";

/** The project and service account the e2e world uses. */
export const PROJECT = "demo-project";
export const SERVICE_ACCOUNT = "dev-runner@demo-project.iam.gserviceaccount.com";
export const CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform";

/** The Deno permission flags the metadata-proxy role gets for this socket and port. */
export function proxyPermissions(socketPath: string, port: number): string[] {
  return pinnedFlags("metadata-proxy", ["--socket-path", socketPath, "--port", String(port)], {});
}

/** A running emulator → gate → proxy chain. */
export interface Stack extends AsyncDisposable {
  dir: string;
  emulatorUrl: string;
  socketPath: string;
  proxyPort: number;
  /** host:port for GCE_METADATA_HOST and friends. */
  metadataHost: string;
  emulator: RunningProcess;
  gate: RunningProcess;
  proxy: RunningProcess;
  /** Starts the gate (again) on the same socket. */
  startGate(): Promise<RunningProcess>;
}

/** Starts the gate against the emulator with the engineer's ADC file. */
async function launchGate(dir: string, emulatorUrl: string): Promise<RunningProcess> {
  const gate = startCli([
    "gate",
    "--project-id",
    PROJECT,
    "--service-account",
    SERVICE_ACCOUNT,
    "--socket-path",
    `${dir}/g.sock`,
    "--admin-socket-path",
    `${dir}/a/admin.sock`,
    "--google-api-base",
    emulatorUrl,
  ], {
    env: { GOOGLE_APPLICATION_CREDENTIALS: `${dir}/adc.json`, XDG_RUNTIME_DIR: dir },
  });
  await gate.waitFor(/gate listening on unix:/, 30_000);
  return gate;
}

/** Starts emulator, gate and proxy; disposing stops all three and removes the directory. */
export async function startStack(): Promise<Stack> {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-md-e2e-" });
  await Deno.chmod(dir, 0o700);
  await Deno.mkdir(`${dir}/a`, { mode: 0o700 });
  const started: RunningProcess[] = [];
  const stopAll = async () => {
    for (const p of started.reverse()) await p.stop("SIGTERM");
  };
  try {
    const emulator = startCli(["emulator", "--port", "0", "--write-adc", `${dir}/adc.json`]);
    started.push(emulator);
    const [, emulatorUrl] = await emulator.waitFor(
      /emulator listening on (http:\/\/127\.0\.0\.1:\d+)/,
      30_000,
    );
    await emulator.waitFor(/ADC written/, 10_000);
    let gate = await launchGate(dir, emulatorUrl);
    started.push(gate);
    const socketPath = `${dir}/g.sock`;
    const proxyPort = freePort();
    const proxy = startCli([
      "metadata-proxy",
      "--project-id",
      PROJECT,
      "--service-account",
      SERVICE_ACCOUNT,
      "--socket-path",
      socketPath,
      "--port",
      String(proxyPort),
    ], { permissions: proxyPermissions(socketPath, proxyPort) });
    started.push(proxy);
    await proxy.waitFor(/metadata-proxy listening on http:\/\/127\.0\.0\.1:\d+/, 30_000);
    const stack: Stack = {
      dir,
      emulatorUrl,
      socketPath,
      proxyPort,
      metadataHost: `127.0.0.1:${proxyPort}`,
      emulator,
      get gate() {
        return gate;
      },
      proxy,
      async startGate() {
        gate = await launchGate(dir, emulatorUrl);
        started.push(gate);
        return gate;
      },
      async [Symbol.asyncDispose]() {
        await stopAll();
        await Deno.remove(dir, { recursive: true });
      },
    };
    return stack;
  } catch (err) {
    await stopAll();
    await Deno.remove(dir, { recursive: true });
    throw err;
  }
}

/** GETs a metadata path from the proxy with the flavor header; bounded. */
export async function metadataGet(
  stack: Stack,
  path: string,
  headers: Record<string, string> = { "Metadata-Flavor": "Google" },
): Promise<Response> {
  return await fetch(`http://${stack.metadataHost}${path}`, {
    headers,
    signal: AbortSignal.timeout(15_000),
    redirect: "manual",
  });
}

/** Output of a finished client program. */
export interface ClientRun {
  code: number;
  stdout: string;
  stderr: string;
  /** `key: value` lines of stdout. */
  values: Record<string, string>;
}

/** Runs a program with exactly `env`, killed after `timeoutMs`. */
export async function runClient(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<ClientRun> {
  const out = await new Deno.Command(cmd, {
    args,
    env,
    clearEnv: true,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs ?? 120_000),
  }).output();
  const dec = new TextDecoder();
  const stdout = dec.decode(out.stdout);
  const values: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    const i = line.indexOf(": ");
    if (i > 0) values[line.slice(0, i)] = line.slice(i + 2);
  }
  return { code: out.code, stdout, stderr: dec.decode(out.stderr), values };
}
