/**
 * The memory soak (issue 7, defect 7): many requests over many distinct scope sets through the
 * metadata-proxy and the gate behind it. Scope sets are asked in turn, each `requests ÷ scopeSets`
 * times in a row (one miss in the proxy and the gate, which mints at the emulator, then hits), so
 * every distinct set becomes a cache entry in both processes. With bounded caches the RSS after
 * the whole soak stays close to its level after the first `checkpointAfter` requests; with the
 * old unbounded maps it grows with every new set (about 4 KB in the proxy, 8 KB in the gate).
 * Asking each set once would measure the same thing at ten times the cost (every request a mint).
 * @module
 */
import { rssMiB } from "./rss.ts";

const TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token";
const CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform";

/** The soak's shape. */
export interface SoakSettings {
  requests: number;
  scopeSets: number;
  /** The first RSS reading is taken after this many requests. */
  checkpointAfter: number;
  /** Concurrent clients (keep-alive connections). */
  concurrency: number;
  /** RSS after the whole soak may exceed RSS after the first `scopeSets` requests by this. */
  allowedGrowthMiB: number;
}

/** The full soak the issue asks for: 100k requests over 10k distinct scope sets. */
export const FULL_SOAK: SoakSettings = {
  requests: 100_000,
  scopeSets: 10_000,
  checkpointAfter: 10_000,
  concurrency: 16,
  allowedGrowthMiB: 20,
};

/** RSS of one process at the two checkpoints (at rest), and right after the load. */
export interface SoakRow {
  process: string;
  afterFirstMiB: number;
  afterAllMiB: number;
  /** Right after the last request, before the heap the load grew is returned. */
  underLoadMiB: number;
  growthMiB: number;
  withinBound: boolean;
}

/** What the soak measured. */
export interface SoakResult {
  settings: SoakSettings;
  /** Time spent sending requests (rests excluded). */
  seconds: number;
  errors: number;
  firstError?: string;
  rows: SoakRow[];
}

/** The scope set of request `i`: cloud-platform plus one of `scopeSets` distinct extras. */
export function soakScopes(i: number, settings: SoakSettings): string {
  const set = Math.floor((i * settings.scopeSets) / settings.requests);
  return `${CLOUD_PLATFORM},https://www.googleapis.com/auth/bench.soak-${set}`;
}

/** Sends requests `from`..`to` (exclusive) with `concurrency` workers; counts failures. */
async function drive(
  proxyUrl: string,
  settings: SoakSettings,
  from: number,
  to: number,
  failures: { count: number; first?: string },
): Promise<void> {
  let next = from;
  const worker = async () => {
    while (next < to) {
      const i = next++;
      const url = `${proxyUrl}${TOKEN_PATH}?scopes=${encodeURIComponent(soakScopes(i, settings))}`;
      try {
        const res = await fetch(url, {
          headers: { "Metadata-Flavor": "Google" },
          signal: AbortSignal.timeout(15_000),
        });
        const body = await res.text();
        if (res.status !== 200) {
          failures.count++;
          failures.first ??= `${res.status}: ${body.slice(0, 200)}`;
        }
      } catch (err) {
        failures.count++;
        failures.first ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: settings.concurrency }, worker));
}

/**
 * How long a process rests before its RSS is read. Right after load, RSS still holds the heap the
 * load grew; V8's memory reducer returns it once allocation stops, 10 to 30 s later (measured
 * here). The figure that says whether anything is retained is the lowest reading at rest.
 */
export const REST_MS = 40_000;

/** VmRSS right away (under load) and at rest: the lowest of 1-per-second readings over REST_MS. */
async function rssAtRest(pids: number[]): Promise<{ loaded: number[]; rested: number[] }> {
  const loaded = await Promise.all(pids.map(rssMiB));
  const rested = [...loaded];
  for (let waited = 0; waited < REST_MS; waited += 1000) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = await Promise.all(pids.map(rssMiB));
    now.forEach((v, i) => rested[i] = Math.min(rested[i], v));
  }
  return { loaded, rested };
}

/**
 * Runs the soak against a running proxy (and the gate behind it), reading both processes' RSS
 * after the first `checkpointAfter` requests and after all of them. Loopback only; every request is
 * bounded (15 s) and the loop ends after `requests` requests.
 */
export async function soak(
  proxyUrl: string,
  processes: { name: string; pid: number }[],
  settings: SoakSettings,
  progress: (line: string) => void = () => {},
): Promise<SoakResult> {
  const failures: { count: number; first?: string } = { count: 0 };
  let started = performance.now();
  await drive(proxyUrl, settings, 0, settings.checkpointAfter, failures);
  let loadMs = performance.now() - started;
  const pids = processes.map((p) => p.pid);
  const first = (await rssAtRest(pids)).rested;
  progress(
    `soak: after ${settings.checkpointAfter} requests: ${
      processes.map((p, i) => `${p.name} ${first[i].toFixed(1)} MiB`).join(", ")
    }`,
  );
  started = performance.now();
  const step = settings.checkpointAfter * 2;
  for (let from = settings.checkpointAfter; from < settings.requests; from += step) {
    await drive(proxyUrl, settings, from, Math.min(settings.requests, from + step), failures);
    progress(`soak: ${Math.min(settings.requests, from + step)} requests`);
  }
  loadMs += performance.now() - started;
  const seconds = loadMs / 1000;
  const last = await rssAtRest(pids);
  const rows = processes.map((p, i) => {
    const growthMiB = last.rested[i] - first[i];
    return {
      process: p.name,
      afterFirstMiB: first[i],
      afterAllMiB: last.rested[i],
      underLoadMiB: last.loaded[i],
      growthMiB,
      withinBound: growthMiB <= settings.allowedGrowthMiB,
    };
  });
  return { settings, seconds, errors: failures.count, firstError: failures.first, rows };
}
