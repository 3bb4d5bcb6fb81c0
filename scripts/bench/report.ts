/** Renders the bench results as a markdown report (pure: results in, text out). */
import type { ColdResult, TransportColdRow } from "./cold.ts";
import type { ImportCost } from "./import_cost.ts";
import type { SoakResult } from "./soak.ts";
import { routesMarkdown, type RoutesResult } from "./routes.ts";
import type { StartupResult } from "./startup.ts";
import type { Spread, WarmRow } from "./warm.ts";
import { DAEMON_V8_FLAGS } from "../../src/permissions.ts";

export type { WarmRow };

/** The machine the bench ran on. */
export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  deno: string;
  loadGenerator: string;
  loadAverageAtStart: number[];
  loadAverageAtEnd?: number[];
}

/** Idle resident memory in MiB after the first token, and its ratio to the bare server's. */
export interface RssRow {
  process: string;
  rssMiB: number;
  ratio: number;
  /** Private anonymous memory (RssAnon): what the process itself holds, file pages excluded. */
  anonMiB: number;
  anonRatio: number;
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
  /** The cold figure through the Unix socket and remote gates (TCP + mTLS, TCP + bearer). */
  coldByTransport?: TransportColdRow[];
  startup: { rows: (StartupResult & { ratio: number; ratioToOneFetch: number })[] };
  rss: RssRow[];
  imports: ImportCost[];
  soak: SoakResult;
  /** (g) routes (issue 11): TTFB, download throughput and concurrent streams vs direct. */
  routes?: RoutesResult;
  targets: Target[];
}

const ms = (v: number) => `${v.toFixed(2)} ms`;
const x = (v: number) => `${v.toFixed(2)}×`;
const mib = (v: number) => `${v.toFixed(1)} MiB`;
const int = (v: number) => Math.round(v).toLocaleString("en-US");
const range = (s: Spread) => `${s.median.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
const loads = (l: number[]) => l.map((v) => v.toFixed(2)).join(" ");

/** The (b) rows by transport: the same cold figure through each gate transport, in one run. */
export function coldByTransportTable(rows: TransportColdRow[] | undefined): string[] {
  if (!rows?.length) return [];
  return [
    `By transport, in the same run (${rows[0].runs} requests each, alternating rounds; each path ` +
    "has its own emulator, subtracted pairwise; ratios to the Unix socket):",
    "",
    "| transport | through proxy and gate p50 | authcalator's share p50 | p99 | " +
    "p50 ÷ Unix socket | share ÷ Unix socket |",
    "|---|---:|---:|---:|---:|---:|",
    ...rows.map((row) =>
      `| ${row.transport} | ${ms(row.chainP50Ms)} | ${ms(row.overheadP50Ms)} | ` +
      `${ms(row.overheadP99Ms)} | ${x(row.chainRatio)} | ${x(row.overheadRatio)} |`
    ),
    "",
  ];
}

/** The markdown report. */
export function renderMarkdown(r: BenchResults): string {
  const m = r.machine;
  const s = r.soak;
  const lines = [
    `## Benchmarks (${r.date})`,
    "",
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB.toFixed(1)} GiB, Linux ${m.kernel}, ` +
    `Deno ${m.deno}; load generator ${m.loadGenerator} (keep-alive); load average (1, 5, 15 min) ` +
    `${loads(m.loadAverageAtStart)} at start` +
    (m.loadAverageAtEnd ? `, ${loads(m.loadAverageAtEnd)} at end` : "") +
    `. Loopback only; every role runs under its pinned flags (the gate and the proxy also with ` +
    `\`${DAEMON_V8_FLAGS}\`). A load average above ` +
    `the core count means other work shared the CPUs: read the ranges, not only the medians.`,
    "",
    `### (a) Warm token through the metadata-proxy vs a bare Deno.serve answering the same bytes`,
    "",
    `${r.settings.rounds} round(s) of ${r.settings.secondsPerRun} s per cell; in each round proxy, ` +
    "bare and reading bare run back to back and the ratio is taken within the " +
    "round (the order rotates); medians over rounds, ratio ranges in brackets. wrk cannot drive one connection " +
    "from two threads, so 1 connection has one thread only. The last column is a bare server " +
    "that reads the method, URL and the five headers the proxy checks before answering: the " +
    "runtime's price of looking at a request, which no checking server avoids.",
    "",
    "| connections | wrk threads | proxy req/s | bare req/s | proxy ÷ bare req/s | proxy p50 | proxy p99 | bare p99 | proxy ÷ bare p99 | reading bare ÷ bare req/s |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...r.warm.map((w) =>
      `| ${w.connections} | ${w.threads} | ${int(w.proxyRps)} | ${int(w.bareRps)} | ` +
      `${range(w.rpsRatio)} | ${ms(w.proxyP50Ms)} | ${ms(w.proxyP99Ms)} | ${ms(w.bareP99Ms)} | ` +
      `${range(w.p99Ratio)} | ${range(w.readsRatio)} |`
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
    ...coldByTransportTable(r.coldByTransport),
    "### (c) kube-token wall time vs `deno run` on an empty script and on one fetch",
    "",
    `${r.settings.startupRuns} runs of each, round-robin, against the running metadata-proxy. ` +
    "The target (issue 8) is against a `deno run` that makes the one fetch kube-token makes; the " +
    "empty script is the stricter floor of any deno start.",
    "",
    "| command | median | p25 | min | median ÷ empty | median ÷ one fetch |",
    "|---|---:|---:|---:|---:|---:|",
    ...r.startup.rows.map((row) =>
      `| ${row.label} | ${ms(row.medianMs)} | ${ms(row.p25Ms)} | ${ms(row.minMs)} | ${
        x(row.ratio)
      } | ${x(row.ratioToOneFetch)} |`
    ),
    "",
    "### (d) Idle memory after the first token vs a bare Deno.serve",
    "",
    "RSS includes the pages of the deno executable a process has touched (shared with every " +
    "other deno process); RssAnon is the memory the process holds itself.",
    "",
    "| process | RSS | ÷ bare | RssAnon | ÷ bare |",
    "|---|---:|---:|---:|---:|",
    ...r.rss.map((row) =>
      `| ${row.process} | ${mib(row.rssMiB)} | ${x(row.ratio)} | ${mib(row.anonMiB)} | ${
        x(row.anonRatio)
      } |`
    ),
    "",
    "### (e) What each import costs (idle RSS of a probe that imports it and serves, minus none)",
    "",
    "| module | probe RSS | cost |",
    "|---|---:|---:|",
    ...r.imports.map((i) => `| ${i.module} | ${mib(i.rssMiB)} | ${mib(i.costMiB)} |`),
    "",
    `### (f) Soak: ${int(s.settings.requests)} token requests over ${
      int(s.settings.scopeSets)
    } distinct scope sets`,
    "",
    `Through the proxy and the gate, ${s.settings.concurrency} concurrent clients, ` +
    `${s.seconds.toFixed(0)} s of load, ${s.errors} failed request(s)` +
    (s.firstError ? ` (first: ${s.firstError})` : "") +
    `. Each scope set is asked ${
      int(s.settings.requests / s.settings.scopeSets)
    } times in a row, so every set is one miss in both caches. RSS at rest (the lowest reading ` +
    "in the 40 s after the load, once V8 has returned the heap the load grew) after the first " +
    `${int(s.settings.checkpointAfter)} requests and after all of them.`,
    "",
    `| process | after ${int(s.settings.checkpointAfter)} | after ${
      int(s.settings.requests)
    } | growth | right after the load |`,
    "|---|---:|---:|---:|---:|",
    ...s.rows.map((row) =>
      `| ${row.process} | ${mib(row.afterFirstMiB)} | ${mib(row.afterAllMiB)} | ${
        mib(row.growthMiB)
      } | ${mib(row.underLoadMiB)} |`
    ),
    "",
    ...(r.routes ? routesMarkdown(r.routes) : []),
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
