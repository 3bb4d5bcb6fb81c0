/**
 * Wall time of kube-token as kubectl starts it, against the floor of `deno run` on an empty
 * script: every variant runs in turn (round-robin), so machine noise hits them alike.
 * @module
 */
import { median, percentile } from "./stats.ts";

/** One command line to time. */
export interface Variant {
  label: string;
  command: string;
  args: string[];
}

/** Timing of one variant, in ms. */
export interface StartupResult {
  label: string;
  commandLine: string;
  runs: number;
  medianMs: number;
  p25Ms: number;
  minMs: number;
}

/** Runs each variant `warmup` times, then `runs` times round-robin; every run must exit 0. */
export async function timeStartups(
  variants: Variant[],
  env: Record<string, string>,
  cwd: string,
  runs: number,
  warmup = 3,
): Promise<StartupResult[]> {
  const times = variants.map(() => [] as number[]);
  for (let i = 0; i < warmup + runs; i++) {
    for (const [k, v] of variants.entries()) {
      const started = performance.now();
      const out = await new Deno.Command(v.command, {
        args: v.args,
        env,
        clearEnv: true,
        cwd,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const took = performance.now() - started;
      if (!out.success) {
        throw new Error(
          `${v.label} exited ${out.code}: ${new TextDecoder().decode(out.stderr).trim()}`,
        );
      }
      if (i >= warmup) times[k].push(took);
    }
  }
  return variants.map((v, k) => ({
    label: v.label,
    commandLine: [v.command, ...v.args].join(" "),
    runs,
    medianMs: median(times[k]),
    p25Ms: percentile(times[k], 25),
    minMs: Math.min(...times[k]),
  }));
}
