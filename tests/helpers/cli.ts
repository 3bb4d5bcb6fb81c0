/** Runs authcalator as a real process, the way users and containers do. */
import { fileURLToPath as fromFileUrl } from "node:url";

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

/** A long-running authcalator process started by a test. */
export interface RunningProcess {
  child: Deno.ChildProcess;
  /** Everything the process printed so far (stdout and stderr interleaved by line). */
  output(): string;
  /** Waits until a line matching `pattern` appears, or fails after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends a signal and waits for exit; returns the exit status. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
  /** Waits (bounded) for the process to exit by itself; kills it and fails after `timeoutMs`. */
  exited(timeoutMs?: number): Promise<Deno.CommandStatus>;
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

/** Wraps a spawned child (stdout and stderr piped) with output collection and waiting. */
export function watchProcess(child: Deno.ChildProcess): RunningProcess {
  let text = "";
  const waiters = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      for (const w of waiters) w();
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited = false;
  // Exit counts only once all output is read, so a waiter never misses the last lines.
  const status = child.status.then(async (s) => {
    await pumps;
    exited = true;
    for (const w of waiters) w();
    return s;
  });
  return {
    child,
    output: () => text,
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = text.match(pattern);
          if (m) return done(() => resolve(m));
          if (exited) {
            return done(() => reject(new Error(`process exited before ${pattern}:\n${text}`)));
          }
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`timed out waiting for ${pattern}:\n${text}`))),
          timeoutMs,
        );
        const done = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          f();
        };
        waiters.add(check);
        check();
      });
    },
    async exited(timeoutMs = 20_000) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), timeoutMs)));
      const first = await Promise.race([status, late]);
      clearTimeout(timer);
      if (first === "late") {
        await this.stop("SIGKILL");
        throw new Error(`process did not exit within ${timeoutMs} ms:\n${text}`);
      }
      await pumps;
      return first;
    },
    async stop(signal: Deno.Signal = "SIGTERM") {
      if (!exited) {
        try {
          child.kill(signal);
        } catch { /* already gone */ }
      }
      const s = await status;
      await pumps;
      return s;
    },
  };
}

/** A loopback port that was free a moment ago, for a process whose port a test must know first. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}
