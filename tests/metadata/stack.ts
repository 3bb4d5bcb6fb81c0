/**
 * The metadata e2e tests' view of the chain (emulator → gate → metadata-proxy, each under its
 * pinned permissions), started by the one launcher in src/testing/chain.ts, plus client helpers.
 */
import { pinnedFlags } from "../../src/commands/permissions.ts";
import { type Chain, startChain } from "../../src/testing/chain.ts";
import { freePort, type RunningProcess } from "../helpers/cli.ts";

/** The project and service account the e2e world uses (the launcher's). */
export { PROJECT, SERVICE_ACCOUNT } from "../../src/testing/chain.ts";
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

/** Starts emulator, gate and proxy (the shared launcher); disposing stops all and removes the dir. */
export async function startStack(): Promise<Stack> {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-md-e2e-" });
  await Deno.chmod(dir, 0o700);
  let chain: Chain;
  try {
    chain = await startChain({ dir, proxyPort: freePort() });
  } catch (err) {
    await Deno.remove(dir, { recursive: true });
    throw err;
  }
  const metadataHost = chain.metadataHost!;
  return {
    dir,
    emulatorUrl: chain.emulatorUrl,
    socketPath: chain.socketPath,
    proxyPort: Number(metadataHost.split(":")[1]),
    metadataHost,
    emulator: chain.emulator,
    get gate() {
      return chain.gate;
    },
    proxy: chain.proxy!,
    startGate: () => chain.restartGate(),
    async [Symbol.asyncDispose]() {
      await chain.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
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
