/**
 * Cold token latency: a token for scopes nobody asked for yet misses the proxy's and the gate's
 * caches, so the gate calls the emulator's generateAccessToken. Each such request is paired with
 * the same call made straight to the emulator, whose time is subtracted. The same figure is also
 * taken through remote gates (TCP + mTLS, TCP + bearer) beside the Unix socket's, as ratios.
 * @module
 */
import { median, percentile } from "./stats.ts";

/** Latencies in ms. */
export interface ColdResult {
  runs: number;
  chainP50Ms: number;
  chainP99Ms: number;
  emulatorP50Ms: number;
  emulatorP99Ms: number;
  /** Median of per-pair differences (chain minus emulator). */
  overheadP50Ms: number;
  overheadP99Ms: number;
}

const TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token";
const CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform";

async function timed(url: string, init: RequestInit): Promise<number> {
  const started = performance.now();
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  const took = performance.now() - started;
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}: ${text.slice(0, 200)}`);
  return took;
}

/** The engineer's access token, from the ADC's refresh token at the emulator. */
async function engineerToken(emulatorUrl: string, adcPath: string): Promise<string> {
  const adc = JSON.parse(await Deno.readTextFile(adcPath));
  const res = await fetch(`${emulatorUrl}/token`, {
    method: "POST",
    body: new URLSearchParams({
      grant_type: "refresh_token",
      client_id: adc.client_id,
      client_secret: adc.client_secret,
      refresh_token: adc.refresh_token,
    }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = await res.json();
  if (!body.access_token) throw new Error(`emulator /token answered ${res.status}`);
  return body.access_token;
}

/** Paired samples: each cold token through the proxy and the same call made to the emulator. */
interface ColdSamples {
  chain: number[];
  emulator: number[];
}

/** Measures `runs` cold tokens through the proxy, each paired with a direct emulator call. */
export async function measureCold(
  proxyUrl: string,
  emulatorUrl: string,
  adcPath: string,
  serviceAccount: string,
  runs: number,
  warmup = 3,
): Promise<ColdResult> {
  return summarize(
    await coldSamples(proxyUrl, emulatorUrl, adcPath, serviceAccount, runs, warmup),
  );
}

async function coldSamples(
  proxyUrl: string,
  emulatorUrl: string,
  adcPath: string,
  serviceAccount: string,
  runs: number,
  warmup: number,
): Promise<ColdSamples> {
  const bearer = await engineerToken(emulatorUrl, adcPath);
  const tag = crypto.randomUUID().slice(0, 8);
  const chain: number[] = [];
  const emulator: number[] = [];
  for (let i = 0; i < warmup + runs; i++) {
    const scopes = [CLOUD_PLATFORM, `https://www.googleapis.com/auth/bench.${tag}.${i}`];
    const viaProxy = await timed(`${proxyUrl}${TOKEN_PATH}?scopes=${scopes.join(",")}`, {
      headers: { "Metadata-Flavor": "Google" },
    });
    const direct = await timed(
      `${emulatorUrl}/v1/projects/-/serviceAccounts/${serviceAccount}:generateAccessToken`,
      {
        method: "POST",
        headers: { Authorization: `Bearer ${bearer}`, "Content-Type": "application/json" },
        body: JSON.stringify({
          scope: [CLOUD_PLATFORM, `https://www.googleapis.com/auth/bench.${tag}.direct.${i}`],
          lifetime: "3600s",
        }),
      },
    );
    if (i >= warmup) {
      chain.push(viaProxy);
      emulator.push(direct);
    }
  }
  return { chain, emulator };
}

function summarize({ chain, emulator }: ColdSamples): ColdResult {
  const overhead = chain.map((c, i) => c - emulator[i]);
  return {
    runs: chain.length,
    chainP50Ms: median(chain),
    chainP99Ms: percentile(chain, 99),
    emulatorP50Ms: median(emulator),
    emulatorP99Ms: percentile(emulator, 99),
    overheadP50Ms: median(overhead),
    overheadP99Ms: percentile(overhead, 99),
  };
}

/** A proxy → gate → emulator path: the Unix socket's, or a remote gate's over TCP. */
export interface TransportPath {
  label: string;
  proxyUrl: string;
  emulatorUrl: string;
  adcPath: string;
}

/** One transport's cold figures and their ratios to the first (Unix-socket) path's. */
export interface TransportColdRow extends ColdResult {
  transport: string;
  /** Median through proxy and gate ÷ the Unix socket's. */
  chainRatio: number;
  /** authcalator's share (pairwise difference) at the median ÷ the Unix socket's. */
  overheadRatio: number;
}

/**
 * Cold tokens through each path in the same run, `runs` per path, in `rounds` alternating rounds
 * (so a slow moment of the machine falls on every path alike); ratios are to `paths[0]`.
 */
export async function measureColdByTransport(
  paths: TransportPath[],
  serviceAccount: string,
  runs: number,
  rounds = 3,
): Promise<TransportColdRow[]> {
  const samples = paths.map((): ColdSamples => ({ chain: [], emulator: [] }));
  const perRound = Math.max(1, Math.ceil(runs / rounds));
  for (let round = 0; round < rounds; round++) {
    for (const [i, path] of paths.entries()) {
      const got = await coldSamples(
        path.proxyUrl,
        path.emulatorUrl,
        path.adcPath,
        serviceAccount,
        perRound,
        round === 0 ? 3 : 0,
      );
      samples[i].chain.push(...got.chain);
      samples[i].emulator.push(...got.emulator);
    }
  }
  const results = samples.map(summarize);
  const base = results[0];
  return results.map((r, i) => ({
    transport: paths[i].label,
    ...r,
    chainRatio: r.chainP50Ms / base.chainP50Ms,
    overheadRatio: r.overheadP50Ms / base.overheadP50Ms,
  }));
}
