/**
 * The bench's routes section (issue 11): a loopback HTTPS upstream with a throwaway CA (built
 * here, not from the tests: scripts never import tests), a gate whose `[routes.bench]` trusts that
 * CA, and a metadata-proxy with its routes_port. Same-run comparisons of the route against the
 * upstream reached directly: time to the first byte of a streamed (server-sent events) answer,
 * a 50 MB download's throughput, and 64 concurrent streams that must all complete.
 * @module
 */
import { issueCa, issueServer } from "../../src/tls/issue.ts";
import {
  type Chain,
  freePort,
  proxyArgsFor,
  roleEnv,
  startChain,
  startRole,
} from "../../src/testing/chain.ts";
import { median, percentile } from "./stats.ts";
import { ROUTE_HEADERS, routeGatePath } from "../../src/gate_api/routes_wire.ts";

/** What the routes section measured. */
export interface RoutesResult {
  ttfb: { samples: number; directP50Ms: number; routeP50Ms: number; addedP50Ms: number };
  download: {
    bytes: number;
    rounds: number;
    directMBps: number;
    routeMBps: number;
    /** The gate's socket alone (no container proxy): where the route's cost lies. */
    gateMBps: number;
    /** Median of per-round route ÷ direct throughput, with its range. */
    ratio: { median: number; min: number; max: number };
  };
  concurrent: { streams: number; events: number; failures: number; wallMs: number };
}

export interface RoutesSettings {
  ttfbSamples: number;
  downloadBytes: number;
  downloadRounds: number;
  streams: number;
}

export const FULL_ROUTES: RoutesSettings = {
  ttfbSamples: 200,
  downloadBytes: 50 * 1024 * 1024,
  downloadRounds: 3,
  streams: 64,
};

const CHUNK = 64 * 1024;
/** Events per stream in the concurrency run. */
const STREAM_EVENTS = 20;
const TOKEN = `bench-${crypto.randomUUID()}`;

/** The upstream: `/sse` (an event at once, then STREAM_EVENTS more), `/bytes/<n>`. */
function serveUpstream(cert: string, key: string) {
  const block = new Uint8Array(CHUNK).fill(0x61);
  const encoder = new TextEncoder();
  return Deno.serve({ hostname: "127.0.0.1", port: 0, cert, key, onListen: () => {} }, (req) => {
    if (req.headers.get("authorization") !== `Bearer ${TOKEN}`) {
      return new Response("no credential\n", { status: 401 });
    }
    const url = new URL(req.url);
    if (url.pathname === "/sse") {
      let sent = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent > STREAM_EVENTS) return controller.close();
            controller.enqueue(encoder.encode(`data: {"n":${sent++}}\n\n`));
          },
        }, { highWaterMark: 0 }),
        { headers: { "content-type": "text/event-stream" } },
      );
    }
    const m = url.pathname.match(/^\/bytes\/(\d+)$/);
    if (m) {
      const total = Number(m[1]);
      let sent = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent >= total) return controller.close();
            const size = Math.min(CHUNK, total - sent);
            controller.enqueue(size === CHUNK ? block.slice() : block.slice(0, size));
            sent += size;
          },
        }),
        { headers: { "content-length": String(total) } },
      );
    }
    return new Response("not found\n", { status: 404 });
  });
}

/** Time from sending the request to the first body byte. */
async function ttfb(url: string, init: RequestInit): Promise<number> {
  const start = performance.now();
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const reader = res.body!.getReader();
  const first = await reader.read();
  const elapsed = performance.now() - start;
  if (res.status !== 200 || first.done) throw new Error(`TTFB request answered ${res.status}`);
  await reader.cancel();
  return elapsed;
}

/** Reads the whole body; returns MB/s (10^6 bytes). */
async function download(url: string, init: RequestInit, bytes: number): Promise<number> {
  const start = performance.now();
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(120_000) });
  let got = 0;
  for await (const chunk of res.body!) got += chunk.length;
  const seconds = (performance.now() - start) / 1000;
  if (res.status !== 200 || got !== bytes) {
    throw new Error(`download answered ${res.status} with ${got} of ${bytes} bytes`);
  }
  return bytes / 1e6 / seconds;
}

/** Starts upstream, chain and proxy under `dir`, measures, stops everything. */
export async function measureRoutes(dir: string, settings: RoutesSettings): Promise<RoutesResult> {
  const now = new Date();
  const ca = await issueCa(now, 1);
  const server = await issueServer(
    { cert: ca.cert, privateKey: ca.keys.privateKey },
    now,
    ["IP:127.0.0.1"],
  );
  await Deno.mkdir(`${dir}/routes`, { recursive: true, mode: 0o700 });
  const caFile = `${dir}/routes/ca.pem`;
  await Deno.writeTextFile(caFile, ca.certPem);
  await Deno.writeTextFile(`${dir}/routes/token`, `${TOKEN}\n`, { mode: 0o600 });
  const upstream = serveUpstream(server.certPem, server.keyPem);
  const origin = `https://127.0.0.1:${upstream.addr.port}`;
  const config = `${dir}/routes/gate.toml`;
  await Deno.writeTextFile(
    config,
    [
      "[routes.bench]",
      `upstream = ${JSON.stringify(origin)}`,
      `credential_file = ${JSON.stringify(`${dir}/routes/token`)}`,
      'auth = "bearer"',
      `ca_file = ${JSON.stringify(caFile)}`,
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  const client = Deno.createHttpClient({ caCerts: [ca.certPem] });
  const direct: RequestInit & { client?: Deno.HttpClient } = {
    client,
    headers: { authorization: `Bearer ${TOKEN}` },
  };
  let chain: Chain | undefined;
  try {
    chain = await startChain({
      dir: `${dir}/routes`,
      proxyPort: false,
      gateArgs: ["--config", config],
    });
    const routesPort = freePort();
    const proxy = await startRole(
      "metadata-proxy",
      proxyArgsFor(["--socket-path", chain.socketPath], freePort(), [
        "--routes-port",
        String(routesPort),
      ]),
      {
        env: roleEnv(`${dir}/routes`, { XDG_RUNTIME_DIR: chain.runDir }),
        ready: /metadata-proxy listening on/,
      },
    );
    chain.adopt(proxy.proc);
    const route = `http://127.0.0.1:${routesPort}/bench`;
    await waitForRoute(`${route}/bytes/1`);

    // TTFB: alternate direct and route so drift hits both.
    const directTtfb: number[] = [];
    const routeTtfb: number[] = [];
    for (let i = 0; i < settings.ttfbSamples; i++) {
      directTtfb.push(await ttfb(`${origin}/sse`, direct));
      routeTtfb.push(await ttfb(`${route}/sse`, {}));
    }
    const directP50 = percentile(directTtfb, 50);
    const routeP50 = percentile(routeTtfb, 50);

    const ratios: number[] = [];
    const directRates: number[] = [];
    const routeRates: number[] = [];
    const gateRates: number[] = [];
    const gateClient = Deno.createHttpClient({
      proxy: { transport: "unix", path: chain.socketPath },
    });
    for (let i = 0; i < settings.downloadRounds; i++) {
      const d = await download(
        `${origin}/bytes/${settings.downloadBytes}`,
        direct,
        settings.downloadBytes,
      );
      const r = await download(
        `${route}/bytes/${settings.downloadBytes}`,
        {},
        settings.downloadBytes,
      );
      directRates.push(d);
      routeRates.push(r);
      ratios.push(r / d);
      const onGate: RequestInit & { client: Deno.HttpClient } = {
        client: gateClient,
        headers: { [ROUTE_HEADERS.target]: `/bytes/${settings.downloadBytes}` },
      };
      gateRates.push(
        await download(`http://gate${routeGatePath("bench")}`, onGate, settings.downloadBytes),
      );
    }
    gateClient.close();

    const started = performance.now();
    const outcomes = await Promise.allSettled(
      Array.from({ length: settings.streams }, async () => {
        const res = await fetch(`${route}/sse`, { signal: AbortSignal.timeout(60_000) });
        const text = await res.text();
        const events = text.split("\n\n").filter((e) => e.startsWith("data:")).length;
        if (res.status !== 200 || events !== STREAM_EVENTS + 1) {
          throw new Error(`stream answered ${res.status} with ${events} events`);
        }
      }),
    );
    const wallMs = performance.now() - started;
    const failures = outcomes.filter((o) => o.status === "rejected");
    for (const f of failures.slice(0, 3)) {
      console.error(`bench: stream failed: ${(f as PromiseRejectedResult).reason}`);
    }

    return {
      ttfb: {
        samples: settings.ttfbSamples,
        directP50Ms: directP50,
        routeP50Ms: routeP50,
        addedP50Ms: routeP50 - directP50,
      },
      download: {
        bytes: settings.downloadBytes,
        rounds: settings.downloadRounds,
        directMBps: median(directRates),
        routeMBps: median(routeRates),
        gateMBps: median(gateRates),
        ratio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) },
      },
      concurrent: {
        streams: settings.streams,
        events: STREAM_EVENTS + 1,
        failures: failures.length,
        wallMs,
      },
    };
  } finally {
    await chain?.stop();
    client.close();
    await upstream.shutdown();
  }
}

/** Polls the route until it answers 200 (bounded: the proxy's routes port may bind after ready). */
async function waitForRoute(url: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (true) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      await res.body?.cancel();
      if (res.status === 200) return;
      throw new Error(`answered ${res.status}`);
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`route ${url} not ready: ${error}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** The issue's targets for the routes section. */
export function routesTargets(r: RoutesResult) {
  return [
    {
      name: "(g) route TTFB added at p50 (streamed answer, proxy + gate vs direct)",
      goal: "≤ 2 ms",
      measured: `${r.ttfb.addedP50Ms.toFixed(2)} ms`,
      met: r.ttfb.addedP50Ms <= 2,
    },
    {
      name: `(g) route ÷ direct throughput, ${r.download.bytes / 1024 / 1024} MiB download`,
      goal: "≥ 0.80",
      measured: `${r.download.ratio.median.toFixed(2)} (${r.download.ratio.min.toFixed(2)}–${
        r.download.ratio.max.toFixed(2)
      })`,
      met: r.download.ratio.median >= 0.8,
    },
    {
      name: `(g) ${r.concurrent.streams} concurrent streams through the route, failures`,
      goal: "0",
      measured: String(r.concurrent.failures),
      met: r.concurrent.failures === 0,
    },
  ];
}

/** The section's markdown. */
export function routesMarkdown(r: RoutesResult): string[] {
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  return [
    "### (g) Routes: a streamed answer and a download through proxy + gate vs the upstream direct",
    "",
    "A loopback HTTPS upstream (throwaway CA the gate trusts via `ca_file`), reached directly " +
    "with the credential and through `http://127.0.0.1:<routes_port>/bench/…` (the gate injects " +
    "it). Direct and route alternate within the run.",
    "",
    "| measure | direct | route | route vs direct |",
    "|---|---:|---:|---:|",
    `| TTFB p50 of a server-sent-events answer (${r.ttfb.samples} each) | ${
      ms(r.ttfb.directP50Ms)
    } | ` +
    `${ms(r.ttfb.routeP50Ms)} | +${ms(r.ttfb.addedP50Ms)} |`,
    `| ${r.download.bytes / 1024 / 1024} MiB download, MB/s (median of ${r.download.rounds}) | ` +
    `${r.download.directMBps.toFixed(0)} | ${r.download.routeMBps.toFixed(0)} | ` +
    `${r.download.ratio.median.toFixed(2)}× (${r.download.ratio.min.toFixed(2)}–${
      r.download.ratio.max.toFixed(2)
    }) |`,
    `| the same download on the gate's socket alone (no container proxy), MB/s | | ` +
    `${r.download.gateMBps.toFixed(0)} | ${
      (r.download.gateMBps / r.download.directMBps).toFixed(2)
    }× |`,
    `| ${r.concurrent.streams} concurrent streams of ${r.concurrent.events} events | | ` +
    `${r.concurrent.failures} failed, ${ms(r.concurrent.wallMs)} wall | |`,
    "",
  ];
}

/** The settings of `--quick` (a smoke test of the harness, not figures to publish). */
export const QUICK_ROUTES: RoutesSettings = {
  ttfbSamples: 30,
  downloadBytes: 8 * 1024 * 1024,
  downloadRounds: 1,
  streams: 64,
};

/** `deno run --allow-all scripts/bench/routes.ts [--quick]`: this section alone. */
if (import.meta.main) {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-bench-routes-" });
  try {
    const quick = Deno.args.includes("--quick");
    const result = await measureRoutes(dir, quick ? QUICK_ROUTES : FULL_ROUTES);
    console.log(routesMarkdown(result).join("\n"));
    for (const t of routesTargets(result)) {
      console.log(`${t.met ? "met" : "NOT MET"}: ${t.name}: ${t.measured} (goal ${t.goal})`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
