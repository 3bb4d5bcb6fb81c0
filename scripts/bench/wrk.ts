/**
 * Load generation with wrk (Debian package `wrk`): a C event-loop client, so the generator is not
 * the bottleneck; a Lua `done` hook prints the exact counts and percentiles as JSON.
 * @module
 */

/** One wrk run's result. */
export interface WrkResult {
  connections: number;
  threads: number;
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  /** Socket errors plus non-2xx answers. */
  errors: number;
  p50Ms: number;
  p99Ms: number;
}

const REPORT_LUA = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout + e.status,
    latency:percentile(50), latency:percentile(99)))
end
`;

/** The wrk version line, or a clear error naming the Debian package. */
export async function wrkVersion(): Promise<string> {
  try {
    const out = await new Deno.Command("wrk", {
      args: ["--version"],
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return text.split("\n")[0].replace(/ Copyright.*/, "").trim();
  } catch {
    throw new Error("wrk is not installed: apt-get install wrk (the bench's load generator)");
  }
}

/** Runs `wrk -t<threads> -c<connections> -d<seconds>s` against `url` with `headers`. */
export async function runWrk(
  url: string,
  connections: number,
  seconds: number,
  headers: Record<string, string>,
  scriptDir: string,
  threads = 1,
): Promise<WrkResult> {
  if (threads > connections) {
    throw new Error(`wrk needs at least one connection per thread (${threads} > ${connections})`);
  }
  const script = `${scriptDir}/report.lua`;
  await Deno.writeTextFile(script, REPORT_LUA);
  const args = [
    `-t${threads}`,
    `-c${connections}`,
    `-d${seconds}s`,
    "--timeout",
    "2s",
    "-s",
    script,
  ];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  args.push(url);
  const out = await new Deno.Command("wrk", { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  const line = text.split("\n").find((l) => l.startsWith("WRKJSON "));
  if (!out.success || !line) {
    throw new Error(`wrk failed: ${text}${new TextDecoder().decode(out.stderr)}`);
  }
  const r = JSON.parse(line.slice("WRKJSON ".length));
  const secs = r.duration_us / 1e6;
  return {
    connections,
    threads,
    requests: r.requests,
    seconds: secs,
    requestsPerSecond: r.requests / secs,
    errors: r.errors,
    p50Ms: r.p50_us / 1000,
    p99Ms: r.p99_us / 1000,
  };
}
