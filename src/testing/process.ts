/**
 * A spawned authcalator role as the launcher, the demo, the benchmarks and the tests watch it:
 * output collected, bounded waits for a line, and a stop that always reaps the child.
 * Lives in src/testing (never published) so scripts need not import tests.
 * @module
 */

/** A long-running process started by the launcher or a test. */
export interface RunningProcess {
  child: Deno.ChildProcess;
  /** Everything the process printed so far (stdout and stderr interleaved by chunk). */
  output(): string;
  /** Waits until the output matches `pattern`, or fails after `timeoutMs` or at exit. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends a signal and waits for exit; returns the exit status. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
  /** Waits (bounded) for the process to exit by itself; kills it and fails after `timeoutMs`. */
  exited(timeoutMs?: number): Promise<Deno.CommandStatus>;
}

/** Called with each complete output line (demo prefixing, logs). */
export type LineSink = (line: string) => void;

/** Wraps a spawned child (stdout and stderr piped) with output collection and waiting. */
export function watchProcess(child: Deno.ChildProcess, onLine?: LineSink): RunningProcess {
  let text = "";
  const waiters = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    let partial = "";
    for await (const chunk of stream) {
      const piece = decoder.decode(chunk, { stream: true });
      text += piece;
      if (onLine) {
        const lines = (partial + piece).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) if (line) onLine(line);
      }
      for (const w of waiters) w();
    }
    if (onLine && partial) onLine(partial);
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

/** A loopback port that was free a moment ago, for a process whose port a caller must know first. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}
