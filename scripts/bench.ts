/**
 * `deno task bench`: measures, on loopback, (a) warm token throughput and latency through the
 * metadata-proxy against a bare Deno.serve answering the same bytes, (b) cold token latency through
 * proxy → gate → emulator minus the emulator's own time, (c) kube-token wall time against
 * `deno run` on an empty script, (d) idle RSS of gate and proxy against a bare Deno.serve.
 * Writes bench-results/bench.md and bench-results/bench.json and prints the markdown.
 * `--quick` runs shorter loops (a smoke test of the harness, not figures to publish).
 * @module
 */
import { denoFlags, sampleContext } from "../src/permissions.ts";
import {
  type Chain,
  installAuthcalator,
  MAIN,
  roleEnv,
  SERVICE_ACCOUNT,
  startChain,
} from "./bench/chain.ts";
import { measureCold } from "./bench/cold.ts";
import { type BenchResults, type Machine, renderMarkdown, type WarmRow } from "./bench/report.ts";
import { idleRssMiB } from "./bench/rss.ts";
import { median } from "./bench/stats.ts";
import { timeStartups } from "./bench/startup.ts";
import { runWrk, type WrkResult, wrkVersion } from "./bench/wrk.ts";
import { type RunningProcess, watchProcess } from "../tests/helpers/cli.ts";

const TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token";
const FLAVOR = { "Metadata-Flavor": "Google" };
const ROOT = new URL("../", import.meta.url).pathname;
const BARE = new URL("./bench/bare_server.ts", import.meta.url).pathname;

const quick = Deno.args.includes("--quick");
const settings = quick
  ? { secondsPerRun: 2, rounds: 1, coldRuns: 10, startupRuns: 10 }
  : { secondsPerRun: 4, rounds: 3, coldRuns: 40, startupRuns: 40 };
const CONNECTIONS = [1, 16, 64];

async function machine(): Promise<Machine> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  return {
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1].trim() ?? Deno.build.arch,
    cores: navigator.hardwareConcurrency,
    memoryGiB: Number(/^MemTotal:\s+(\d+) kB/m.exec(meminfo)?.[1] ?? 0) / 1024 / 1024,
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    loadGenerator: await wrkVersion(),
    loadAverageAtStart: Deno.loadavg(),
  };
}

/** The proxy's warm token answer: body and headers (less those Deno.serve sets itself). */
async function tokenAnswer(
  proxyUrl: string,
): Promise<{ body: string; headers: [string, string][] }> {
  const res = await fetch(`${proxyUrl}${TOKEN_PATH}`, {
    headers: FLAVOR,
    signal: AbortSignal.timeout(10_000),
  });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`metadata-proxy token answered ${res.status}: ${body}`);
  const headers = [...res.headers].filter(([k]) => !["content-length", "date"].includes(k));
  return { body, headers };
}

async function startBare(
  answer: { body: string; headers: [string, string][] },
  env: Record<string, string>,
) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-config",
      "--no-prompt",
      "--allow-net=127.0.0.1",
      BARE,
      JSON.stringify(answer),
    ],
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const proc = watchProcess(child);
  const m = await proc.waitFor(/bare listening on (http:\/\/127\.0\.0\.1:\d+)/, 30_000);
  return { proc, pid: child.pid, url: m[1] };
}

function medianWrk(results: WrkResult[]): WrkResult {
  const pick = (f: (r: WrkResult) => number) => median(results.map(f));
  return {
    connections: results[0].connections,
    requests: pick((r) => r.requests),
    seconds: pick((r) => r.seconds),
    requestsPerSecond: pick((r) => r.requestsPerSecond),
    errors: results.reduce((n, r) => n + r.errors, 0),
    p50Ms: pick((r) => r.p50Ms),
    p99Ms: pick((r) => r.p99Ms),
  };
}

async function warm(proxyUrl: string, bareUrl: string, scratch: string): Promise<WarmRow[]> {
  const rows: WarmRow[] = [];
  for (const c of CONNECTIONS) {
    const proxyRuns: WrkResult[] = [];
    const bareRuns: WrkResult[] = [];
    await runWrk(`${proxyUrl}${TOKEN_PATH}`, c, 1, FLAVOR, scratch);
    await runWrk(`${bareUrl}${TOKEN_PATH}`, c, 1, FLAVOR, scratch);
    for (let round = 0; round < settings.rounds; round++) {
      proxyRuns.push(
        await runWrk(`${proxyUrl}${TOKEN_PATH}`, c, settings.secondsPerRun, FLAVOR, scratch),
      );
      bareRuns.push(
        await runWrk(`${bareUrl}${TOKEN_PATH}`, c, settings.secondsPerRun, FLAVOR, scratch),
      );
    }
    const proxy = medianWrk(proxyRuns);
    const bare = medianWrk(bareRuns);
    if (proxy.errors || bare.errors) {
      throw new Error(
        `wrk saw errors at ${c} connections: proxy ${proxy.errors}, bare ${bare.errors}`,
      );
    }
    rows.push({
      connections: c,
      proxy,
      bare,
      ratio: proxy.requestsPerSecond / bare.requestsPerSecond,
    });
    console.error(
      `bench: warm c=${c}: proxy ${proxy.requestsPerSecond.toFixed(0)} req/s, bare ${
        bare.requestsPerSecond.toFixed(0)
      } req/s`,
    );
  }
  return rows;
}

async function startup(chain: Chain, dir: string) {
  const host = new URL(chain.proxyUrl).host;
  const empty = `${dir}/empty.ts`;
  await Deno.writeTextFile(empty, "");
  const kubeTokenFlags = denoFlags("kube-token", { ...sampleContext(), metadataHost: host });
  const executable = await Deno.realPath(Deno.execPath());
  // What kube-setup writes: the installed `authcalator` (deno task install) with kube-token.
  const written = { command: await installAuthcalator(`${dir}/install`), args: ["kube-token"] };
  const env = {
    ...roleEnv(dir),
    GCE_METADATA_HOST: host,
    KUBERNETES_EXEC_INFO: JSON.stringify({
      kind: "ExecCredential",
      apiVersion: "client.authentication.k8s.io/v1beta1",
      spec: { interactive: false },
    }),
  };
  const results = await timeStartups(
    [
      {
        label: "floor: `deno run --no-config empty.ts`",
        command: executable,
        args: ["run", "--no-config", empty],
      },
      {
        label: "kube-token as kube-setup writes it (installed `authcalator kube-token`)",
        command: written.command,
        args: written.args,
      },
      {
        label: "`deno run <pinned> src/main.ts kube-token`",
        command: executable,
        args: ["run", ...kubeTokenFlags, MAIN, "kube-token"],
      },
    ],
    env,
    dir,
    settings.startupRuns,
  );
  const floor = results[0].medianMs;
  return { rows: results.map((r) => ({ ...r, ratio: r.medianMs / floor })) };
}

async function main(): Promise<number> {
  const info = await machine();
  const dir = await Deno.makeTempDir({ prefix: "authcalator-bench-" });
  let chain: Chain | undefined;
  let bare: { proc: RunningProcess; pid: number; url: string } | undefined;
  try {
    console.error("bench: starting emulator, gate and metadata-proxy");
    chain = await startChain(dir);
    const answer = await tokenAnswer(chain.proxyUrl);
    bare = await startBare(answer, roleEnv(dir));
    await fetch(`${bare.url}${TOKEN_PATH}`, { headers: FLAVOR }).then((r) => r.text());
    // Let start-up work settle before reading idle memory.
    await new Promise((r) => setTimeout(r, 1000));
    const bareRss = await idleRssMiB(bare.pid);
    const rss = [
      { process: "bare Deno.serve", rssMiB: bareRss, ratio: 1 },
      { process: "gate", rssMiB: await idleRssMiB(chain.gate.pid), ratio: 0 },
      { process: "metadata-proxy", rssMiB: await idleRssMiB(chain.proxy.pid), ratio: 0 },
    ].map((row) => ({ ...row, ratio: row.rssMiB / bareRss }));

    console.error("bench: (a) warm tokens");
    const warmRows = await warm(chain.proxyUrl, bare.url, dir);
    console.error("bench: (b) cold tokens");
    const cold = await measureCold(
      chain.proxyUrl,
      chain.emulatorUrl,
      chain.adcPath,
      SERVICE_ACCOUNT,
      settings.coldRuns,
    );
    console.error("bench: (c) kube-token start-up");
    const starts = await startup(chain, dir);

    const at64 = warmRows.find((w) => w.connections === 64)!;
    const entry = starts.rows[1];
    const results: BenchResults = {
      date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
      machine: info,
      settings,
      warm: warmRows,
      cold,
      startup: starts,
      rss,
      targets: [
        {
          name: "(a) proxy ÷ bare req/s at 64 connections",
          goal: "≥ 0.85",
          measured: at64.ratio.toFixed(2),
          met: at64.ratio >= 0.85,
        },
        {
          name: "(a) proxy p99 at 64 connections",
          goal: "≤ 2 ms",
          measured: `${at64.proxy.p99Ms.toFixed(2)} ms`,
          met: at64.proxy.p99Ms <= 2,
        },
        {
          name: "(c) kube-token (as written by kube-setup) ÷ floor",
          goal: "≤ 1.3",
          measured: entry.ratio.toFixed(2),
          met: entry.ratio <= 1.3,
        },
        ...rss.slice(1).map((row) => ({
          name: `(d) ${row.process} idle RSS ÷ bare`,
          goal: "≤ 1.5",
          measured: row.ratio.toFixed(2),
          met: row.ratio <= 1.5,
        })),
      ],
    };
    const markdown = renderMarkdown(results);
    await Deno.mkdir(`${ROOT}bench-results`, { recursive: true });
    await Deno.writeTextFile(`${ROOT}bench-results/bench.md`, markdown);
    await Deno.writeTextFile(
      `${ROOT}bench-results/bench.json`,
      JSON.stringify(results, null, 2) + "\n",
    );
    console.log(markdown);
    return 0;
  } finally {
    await bare?.proc.stop();
    await chain?.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (err) {
    console.error(`bench: ${err instanceof Error ? err.message : err}`);
    Deno.exit(1);
  }
}
