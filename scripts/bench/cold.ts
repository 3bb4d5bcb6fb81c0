/**
 * Cold token latency: a token for scopes nobody asked for yet misses the proxy's and the gate's
 * caches, so the gate calls the emulator's generateAccessToken. Each such request is paired with
 * the same call made straight to the emulator, whose time is subtracted.
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

/** Measures `runs` cold tokens through the proxy, each paired with a direct emulator call. */
export async function measureCold(
  proxyUrl: string,
  emulatorUrl: string,
  adcPath: string,
  serviceAccount: string,
  runs: number,
  warmup = 3,
): Promise<ColdResult> {
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
  const overhead = chain.map((c, i) => c - emulator[i]);
  return {
    runs,
    chainP50Ms: median(chain),
    chainP99Ms: percentile(chain, 99),
    emulatorP50Ms: median(emulator),
    emulatorP99Ms: percentile(emulator, 99),
    overheadP50Ms: median(overhead),
    overheadP99Ms: percentile(overhead, 99),
  };
}
