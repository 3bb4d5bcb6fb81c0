/** Runs authcalator as a real process, the way users and containers do. */
import { fileURLToPath as fromFileUrl } from "node:url";
import { type RunningProcess, watchProcess } from "../../src/testing/process.ts";

// The process watcher lives with the chain launcher (src/testing); re-exported for the tests.
export { freePort, type RunningProcess, watchProcess } from "../../src/testing/process.ts";

/** Absolute path of src/main.ts. */
export const MAIN = fromFileUrl(new URL("../../src/main.ts", import.meta.url));
/** Absolute path of the repository root. */
export const ROOT = fromFileUrl(new URL("../../", import.meta.url));

/** The environment every spawned Deno gets: clean errors, no colour, the shared module cache. */
export function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    RUST_BACKTRACE: "0",
    NO_COLOR: "1",
    DENO_NO_UPDATE_CHECK: "1",
  };
  const denoDir = Deno.env.get("DENO_DIR");
  if (denoDir) env.DENO_DIR = denoDir;
  for (const k of ["HOME", "XDG_RUNTIME_DIR", "TMPDIR"]) {
    const v = Deno.env.get(k);
    if (v !== undefined) env[k] = v;
  }
  return { ...env, ...extra };
}

/** Output of a finished CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for running the CLI. */
export interface CliOptions {
  /** Deno permission flags; default `--allow-all`. */
  permissions?: string[];
  /** Extra environment (added to {@link baseEnv}); `clearEnv` is always on. */
  env?: Record<string, string>;
  stdin?: string;
  cwd?: string;
}

/** Runs `authcalator <args>` to completion and captures its output. */
export async function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...(options.permissions ?? ["--allow-all"]), MAIN, ...args],
    env: baseEnv(options.env),
    clearEnv: true,
    cwd: options.cwd,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
  const child = cmd.spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Starts `authcalator <args>` in the background, collecting its output. */
export function startCli(args: string[], options: CliOptions = {}): RunningProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...(options.permissions ?? ["--allow-all"]), MAIN, ...args],
    env: baseEnv(options.env),
    clearEnv: true,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return watchProcess(child);
}
