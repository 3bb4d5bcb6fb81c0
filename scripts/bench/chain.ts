/**
 * The bench's view of the emulator → gate → metadata-proxy chain. Starting it is the shared
 * launcher's job (src/testing/chain.ts, also used by the demo and the tests): each role runs as
 * users run it, `deno run <its pinned flags> src/main.ts <role> <flags>`.
 * @module
 */
import {
  MAIN,
  PROJECT,
  roleEnv as launcherEnv,
  type RunningProcess,
  SERVICE_ACCOUNT,
  startChain as launch,
} from "../../src/testing/chain.ts";

export { MAIN, PROJECT, SERVICE_ACCOUNT };

/** A started role: its process and pid. */
export interface RoleProcess {
  name: string;
  proc: RunningProcess;
  pid: number;
}

/** The environment every role gets: clean, with the shared module cache. */
export function roleEnv(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return launcherEnv(dir, { XDG_RUNTIME_DIR: `${dir}/run`, ...extra });
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

const role = (name: string, proc: RunningProcess): RoleProcess => ({
  name,
  proc,
  pid: proc.child.pid,
});

/** Starts emulator, gate and metadata-proxy in `dir`; stops what started if a step fails. */
export async function startChain(dir: string): Promise<Chain> {
  const chain = await launch({ dir });
  return {
    emulator: role("emulator", chain.emulator),
    gate: role("gate", chain.gate),
    proxy: role("metadata-proxy", chain.proxy!),
    emulatorUrl: chain.emulatorUrl,
    proxyUrl: chain.proxyUrl!,
    adcPath: chain.adcPath,
    stop: () => chain.stop(),
  };
}

/** Installs `authcalator` into `<root>/bin` the way `deno task install` does; returns its path. */
export { installAuthcalator } from "../../src/testing/install.ts";
