/** Renders the bench results as a markdown report (pure: results in, text out). */
import type { ColdResult } from "./cold.ts";
import type { StartupResult } from "./startup.ts";
import type { WrkResult } from "./wrk.ts";

/** The machine the bench ran on. */
export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  deno: string;
  loadGenerator: string;
  loadAverageAtStart: number[];
}

/** Warm results at one concurrency: the proxy and the bare baseline, medians over rounds. */
export interface WarmRow {
  connections: number;
  proxy: WrkResult;
  bare: WrkResult;
  /** proxy req/s ÷ bare req/s. */
  ratio: number;
}

/** Idle RSS in MiB. */
export interface RssRow {
  process: string;
  rssMiB: number;
  ratio: number;
}

/** One target and whether this run met it. */
export interface Target {
  name: string;
  measured: string;
  goal: string;
  met: boolean;
}

/** Everything one bench run produced. */
export interface BenchResults {
  date: string;
  machine: Machine;
  settings: { secondsPerRun: number; rounds: number; coldRuns: number; startupRuns: number };
  warm: WarmRow[];
  cold: ColdResult;
  startup: { rows: (StartupResult & { ratio: number })[] };
  rss: RssRow[];
  targets: Target[];
}

const ms = (v: number) => `${v.toFixed(2)} ms`;
const x = (v: number) => `${v.toFixed(2)}×`;
const int = (v: number) => Math.round(v).toLocaleString("en-US");

/** The markdown report. */
export function renderMarkdown(r: BenchResults): string {
  const m = r.machine;
  const lines = [
    `## Benchmarks (${r.date})`,
    "",
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB.toFixed(1)} GiB, Linux ${m.kernel}, ` +
    `Deno ${m.deno}; load generator ${m.loadGenerator} (1 thread, keep-alive); ` +
    `load average at start ${m.loadAverageAtStart.map((l) => l.toFixed(2)).join(" ")}. ` +
    `Loopback only; every role runs under its pinned permission flags.`,
    "",
    `### (a) Warm token through the metadata-proxy vs a bare Deno.serve answering the same bytes`,
    "",
    `${r.settings.rounds} round(s) of ${r.settings.secondsPerRun} s per cell, proxy and bare ` +
    "alternating; medians over rounds.",
    "",
    "| connections | proxy req/s | bare req/s | proxy ÷ bare | proxy p50 | proxy p99 | bare p50 | bare p99 |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...r.warm.map((w) =>
      `| ${w.connections} | ${int(w.proxy.requestsPerSecond)} | ${
        int(w.bare.requestsPerSecond)
      } | ` +
      `${w.ratio.toFixed(2)} | ${ms(w.proxy.p50Ms)} | ${ms(w.proxy.p99Ms)} | ${
        ms(w.bare.p50Ms)
      } | ` +
      `${ms(w.bare.p99Ms)} |`
    ),
    "",
    "### (b) Cold token: proxy → gate → emulator (caches missed with fresh scopes)",
    "",
    `${r.cold.runs} sequential requests, each paired with the same generateAccessToken call made ` +
    "straight to the emulator.",
    "",
    "| | p50 | p99 |",
    "|---|---:|---:|",
    `| through proxy and gate | ${ms(r.cold.chainP50Ms)} | ${ms(r.cold.chainP99Ms)} |`,
    `| emulator alone | ${ms(r.cold.emulatorP50Ms)} | ${ms(r.cold.emulatorP99Ms)} |`,
    `| authcalator's share (pairwise difference) | ${ms(r.cold.overheadP50Ms)} | ${
      ms(r.cold.overheadP99Ms)
    } |`,
    "",
    "### (c) kube-token wall time vs `deno run` on an empty script",
    "",
    `${r.settings.startupRuns} runs of each, round-robin, against the running metadata-proxy.`,
    "",
    "| command | median | p25 | min | median ÷ floor |",
    "|---|---:|---:|---:|---:|",
    ...r.startup.rows.map((s) =>
      `| ${s.label} | ${ms(s.medianMs)} | ${ms(s.p25Ms)} | ${ms(s.minMs)} | ${x(s.ratio)} |`
    ),
    "",
    "### (d) Idle RSS vs a bare Deno.serve",
    "",
    "| process | RSS | ÷ bare |",
    "|---|---:|---:|",
    ...r.rss.map((row) => `| ${row.process} | ${row.rssMiB.toFixed(1)} MiB | ${x(row.ratio)} |`),
    "",
    "### Targets",
    "",
    "| target | goal | measured | met |",
    "|---|---|---|---|",
    ...r.targets.map((t) =>
      `| ${t.name} | ${t.goal} | ${t.measured} | ${t.met ? "yes" : "**no**"} |`
    ),
    "",
  ];
  return lines.join("\n");
}
