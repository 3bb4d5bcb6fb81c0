/**
 * Warm token throughput and latency, proxy against the bare baseline, measured so that a busy or
 * drifting machine shows up as spread instead of as a verdict: every cell (connections × wrk
 * threads) runs several rounds, each round runs proxy and bare back to back (which goes first
 * alternates), and the ratio is taken per round, so both sides of a ratio saw the same moment. A
 * third server, bare but reading method, URL and headers as any checking server must, shows how
 * much of the gap is the runtime's cost of looking at a request at all.
 * @module
 */
import { median } from "./stats.ts";
import { runWrk, type WrkResult } from "./wrk.ts";

/** One cell of the warm table. */
export interface WarmCell {
  connections: number;
  threads: number;
}

/** The cells the targets name: 1, 16 and 64 connections with one and two wrk threads. */
export const WARM_CELLS: WarmCell[] = [
  { connections: 1, threads: 1 },
  { connections: 16, threads: 1 },
  { connections: 16, threads: 2 },
  { connections: 64, threads: 1 },
  { connections: 64, threads: 2 },
];

/** A ratio's median and its range over the rounds. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** One round of a cell: the proxy, the bare server, and the bare server that reads requests. */
export interface WarmRound {
  proxy: WrkResult;
  bare: WrkResult;
  reads: WrkResult;
}

/** One cell's result: medians of each side and per-round ratios. */
export interface WarmRow extends WarmCell {
  rounds: WarmRound[];
  proxyRps: number;
  bareRps: number;
  proxyP50Ms: number;
  proxyP99Ms: number;
  bareP50Ms: number;
  bareP99Ms: number;
  /** proxy req/s ÷ bare req/s, per round. */
  rpsRatio: Spread;
  /** proxy p99 ÷ bare p99, per round. */
  p99Ratio: Spread;
  /** The bare server that reads method, URL and headers ÷ bare req/s: the floor of any checker. */
  readsRatio: Spread;
}

function spread(values: number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/**
 * Runs every cell: a short warm-up of each server, then `rounds` rounds of proxy, bare and the
 * reading bare back to back (the order rotates each round).
 */
export async function measureWarm(
  proxyUrl: string,
  bareUrl: string,
  readsUrl: string,
  headers: Record<string, string>,
  settings: { secondsPerRun: number; rounds: number },
  scratch: string,
  progress: (line: string) => void = () => {},
): Promise<WarmRow[]> {
  const rows: WarmRow[] = [];
  const servers = [["proxy", proxyUrl], ["bare", bareUrl], ["reads", readsUrl]] as const;
  for (const cell of WARM_CELLS) {
    const run = (url: string, seconds: number) =>
      runWrk(url, cell.connections, seconds, headers, scratch, cell.threads);
    for (const [, url] of servers) await run(url, 1);
    const rounds: WarmRound[] = [];
    for (let round = 0; round < settings.rounds; round++) {
      const got: Partial<WarmRound> = {};
      for (let k = 0; k < servers.length; k++) {
        const [name, url] = servers[(round + k) % servers.length];
        got[name] = await run(url, settings.secondsPerRun);
      }
      const r = got as WarmRound;
      if (r.proxy.errors || r.bare.errors || r.reads.errors) {
        throw new Error(
          `wrk saw errors at ${cell.connections} connections, ${cell.threads} thread(s): ` +
            `proxy ${r.proxy.errors}, bare ${r.bare.errors}, reading bare ${r.reads.errors}`,
        );
      }
      rounds.push(r);
    }
    const pick = (f: (r: WarmRound) => number) => median(rounds.map(f));
    const row: WarmRow = {
      ...cell,
      rounds,
      proxyRps: pick((r) => r.proxy.requestsPerSecond),
      bareRps: pick((r) => r.bare.requestsPerSecond),
      proxyP50Ms: pick((r) => r.proxy.p50Ms),
      proxyP99Ms: pick((r) => r.proxy.p99Ms),
      bareP50Ms: pick((r) => r.bare.p50Ms),
      bareP99Ms: pick((r) => r.bare.p99Ms),
      rpsRatio: spread(rounds.map((r) => r.proxy.requestsPerSecond / r.bare.requestsPerSecond)),
      p99Ratio: spread(rounds.map((r) => r.proxy.p99Ms / r.bare.p99Ms)),
      readsRatio: spread(rounds.map((r) => r.reads.requestsPerSecond / r.bare.requestsPerSecond)),
    };
    rows.push(row);
    progress(
      `bench: warm c=${cell.connections} t=${cell.threads}: proxy ${row.proxyRps.toFixed(0)} ` +
        `req/s, bare ${row.bareRps.toFixed(0)} req/s, ratio ${row.rpsRatio.median.toFixed(2)} ` +
        `(${row.rpsRatio.min.toFixed(2)}–${row.rpsRatio.max.toFixed(2)}), reading bare ` +
        `${row.readsRatio.median.toFixed(2)}`,
    );
  }
  return rows;
}
