/**
 * `deno task bench`: measures, on loopback, (a) warm token throughput and latency through the
 * metadata-proxy against a bare Deno.serve answering the same bytes (1, 16, 64 connections, one
 * and two wrk threads, alternating rounds), (b) cold token latency through proxy → gate →
 * emulator minus the emulator's own time (also over TCP + mTLS and TCP + bearer, as ratios), (c) kube-token wall time against `deno run` on an empty
 * script, (d) idle memory of gate and proxy after the first token against a bare Deno.serve,
 * (e) what each import costs in RSS, (f) a soak of 100k requests over 10k scope sets, (g) routes
 * (issue 11): TTFB of a streamed answer, a 50 MB download and 64 concurrent streams through
 * proxy + gate against the upstream direct.
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
import { measureCold, measureColdByTransport } from "./bench/cold.ts";
import { importCosts } from "./bench/import_cost.ts";
import { type BenchResults, type Machine, renderMarkdown, type Target } from "./bench/report.ts";
import { startRemoteChains } from "./bench/remote_chains.ts";
import { idleMemory } from "./bench/rss.ts";
import { FULL_ROUTES, measureRoutes, QUICK_ROUTES, routesTargets } from "./bench/routes.ts";
import { FULL_SOAK, soak } from "./bench/soak.ts";
import { timeStartups } from "./bench/startup.ts";
import { measureWarm, type WarmRow } from "./bench/warm.ts";
import { wrkVersion } from "./bench/wrk.ts";
import { type RunningProcess, watchProcess } from "../src/testing/process.ts";

const TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token";
const FLAVOR = { "Metadata-Flavor": "Google" };
const ROOT = new URL("../", import.meta.url).pathname;
const BARE = new URL("./bench/bare_server.ts", import.meta.url).pathname;

const quick = Deno.args.includes("--quick");
const settings = quick
  ? { secondsPerRun: 1, rounds: 1, coldRuns: 10, startupRuns: 10 }
  : { secondsPerRun: 3, rounds: 5, coldRuns: 40, startupRuns: 40 };
const soakSettings = quick
  ? { ...FULL_SOAK, requests: 10_000, scopeSets: 1_000, checkpointAfter: 1_000 }
  : FULL_SOAK;

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
  mode: "answer" | "reads" = "answer",
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
      mode,
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

/**
 * Issue 9's warm targets, per cell: proxy ≥ 0.90 × bare req/s and proxy p99 ≤ 1.25 × bare p99,
 * judged on the median of the per-round ratios (the range is printed beside it).
 */
function warmTargets(rows: WarmRow[]): Target[] {
  return rows.flatMap((w) => {
    const cell = `${w.connections} conn, ${w.threads} thread${w.threads > 1 ? "s" : ""}`;
    return [
      {
        name: `(a) proxy ÷ bare req/s, ${cell}`,
        goal: "≥ 0.90",
        measured: `${w.rpsRatio.median.toFixed(2)} (${w.rpsRatio.min.toFixed(2)}–${
          w.rpsRatio.max.toFixed(2)
        })`,
        met: w.rpsRatio.median >= 0.9,
      },
      {
        name: `(a) proxy ÷ bare p99, ${cell}`,
        goal: "≤ 1.25",
        measured: `${w.p99Ratio.median.toFixed(2)} (${w.p99Ratio.min.toFixed(2)}–${
          w.p99Ratio.max.toFixed(2)
        })`,
        met: w.p99Ratio.median <= 1.25,
      },
    ];
  });
}

async function startup(chain: Chain, dir: string) {
  const host = new URL(chain.proxyUrl).host;
  const empty = `${dir}/empty.ts`;
  await Deno.writeTextFile(empty, "");
  // Issue 8's floor: a plain `deno run` that makes the one fetch kube-token makes.
  const oneFetch = `${dir}/one_fetch.ts`;
  await Deno.writeTextFile(
    oneFetch,
    'const r = await fetch(`http://${Deno.env.get("GCE_METADATA_HOST")}/computeMetadata/v1/' +
      'instance/service-accounts/default/token`, { headers: { "Metadata-Flavor": "Google" } });\n' +
      "if (!r.ok) throw new Error(`status ${r.status}`);\nconsole.log((await r.json()).expires_in);\n",
  );
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
        label: "one fetch: `deno run --no-config one_fetch.ts` (the token from the proxy)",
        command: executable,
        args: [
          "run",
          "--no-config",
          `--allow-net=${host}`,
          "--allow-env=GCE_METADATA_HOST",
          oneFetch,
        ],
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
  const fetchFloor = results[1].medianMs;
  return {
    rows: results.map((r) => ({
      ...r,
      ratio: r.medianMs / floor,
      ratioToOneFetch: r.medianMs / fetchFloor,
    })),
  };
}

async function main(): Promise<number> {
  const info = await machine();
  const dir = await Deno.makeTempDir({ prefix: "authcalator-bench-" });
  let chain: Chain | undefined;
  let bare: { proc: RunningProcess; pid: number; url: string } | undefined;
  let reading: { proc: RunningProcess; pid: number; url: string } | undefined;
  try {
    console.error("bench: starting emulator, gate and metadata-proxy");
    chain = await startChain(dir);
    const answer = await tokenAnswer(chain.proxyUrl);
    bare = await startBare(answer, roleEnv(dir));
    reading = await startBare(answer, roleEnv(dir), "reads");
    await fetch(`${bare.url}${TOKEN_PATH}`, { headers: FLAVOR }).then((r) => r.text());
    // Let start-up work settle before reading idle memory.
    await new Promise((r) => setTimeout(r, 1000));
    const bareMem = await idleMemory(bare.pid);
    const rss = [
      { process: "bare Deno.serve", ...bareMem },
      { process: "gate", ...await idleMemory(chain.gate.pid) },
      { process: "metadata-proxy", ...await idleMemory(chain.proxy.pid) },
    ].map((row) => ({
      ...row,
      ratio: row.rssMiB / bareMem.rssMiB,
      anonRatio: row.anonMiB / bareMem.anonMiB,
    }));

    console.error("bench: (a) warm tokens");
    const warmRows = await measureWarm(
      `${chain.proxyUrl}${TOKEN_PATH}`,
      `${bare.url}${TOKEN_PATH}`,
      `${reading.url}${TOKEN_PATH}`,
      FLAVOR,
      settings,
      dir,
      (line) => console.error(line),
    );
    console.error("bench: (b) cold tokens");
    const cold = await measureCold(
      chain.proxyUrl,
      chain.emulatorUrl,
      chain.adcPath,
      SERVICE_ACCOUNT,
      settings.coldRuns,
    );
    console.error("bench: (b) cold tokens over TCP (mTLS, bearer) beside the Unix socket");
    const remote = await startRemoteChains(dir);
    let coldByTransport;
    try {
      coldByTransport = await measureColdByTransport(
        [
          {
            label: "Unix socket",
            proxyUrl: chain.proxyUrl,
            emulatorUrl: chain.emulatorUrl,
            adcPath: chain.adcPath,
          },
          ...remote.chains,
        ],
        SERVICE_ACCOUNT,
        settings.coldRuns,
      );
    } finally {
      await remote.stop();
    }
    console.error("bench: (c) kube-token start-up");
    const starts = await startup(chain, dir);
    console.error("bench: (e) import costs");
    const imports = await importCosts(roleEnv(dir), quick ? 1 : 2);
    console.error("bench: (f) soak");
    const soaked = await soak(
      chain.proxyUrl,
      [
        { name: "metadata-proxy", pid: chain.proxy.pid },
        { name: "gate", pid: chain.gate.pid },
      ],
      soakSettings,
      (line) => console.error(`bench: ${line}`),
    );
    console.error("bench: (g) routes (TTFB, download, concurrent streams)");
    const routes = await measureRoutes(dir, quick ? QUICK_ROUTES : FULL_ROUTES);
    info.loadAverageAtEnd = Deno.loadavg();

    const entry = starts.rows[2];
    const results: BenchResults = {
      date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
      machine: info,
      settings,
      warm: warmRows,
      cold,
      coldByTransport,
      startup: starts,
      rss,
      imports,
      soak: soaked,
      routes,
      targets: [
        ...warmTargets(warmRows),
        {
          name: "(c) kube-token (as written by kube-setup) ÷ a one-fetch `deno run`",
          goal: "≤ 1.3",
          measured: entry.ratioToOneFetch.toFixed(2),
          met: entry.ratioToOneFetch <= 1.3,
        },
        ...rss.slice(1).map((row) => {
          const goal = row.process === "gate" ? 1.5 : 1.3;
          return {
            name: `(d) ${row.process} idle RSS after the first token ÷ bare`,
            goal: `≤ ${goal}`,
            measured: row.ratio.toFixed(2),
            met: row.ratio <= goal,
          };
        }),
        ...soaked.rows.map((row) => ({
          name: `(f) ${row.process} RSS growth over the soak (at rest)`,
          goal: `≤ ${soaked.settings.allowedGrowthMiB} MiB, no failed request`,
          measured: `${row.growthMiB.toFixed(1)} MiB, ${soaked.errors} failed`,
          met: row.withinBound && soaked.errors === 0,
        })),
        ...routesTargets(routes),
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
    await reading?.proc.stop();
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
