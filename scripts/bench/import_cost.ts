/**
 * What each import costs in idle RSS: a probe process imports one module (or nothing, the
 * baseline), listens and answers a request like the bare server, then its RSS is read at rest.
 * Tells which dependency a role's memory goes to (issue 9: the proxy must not load what it does
 * not use on its path).
 * @module
 */
import { watchProcess } from "../../src/testing/process.ts";
import { idleRssMiB } from "./rss.ts";
import { median } from "./stats.ts";

const PROBE = new URL("./import_probe.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const SRC = new URL("../../src/", import.meta.url).href;

/** One module's cost over the baseline probe. */
export interface ImportCost {
  module: string;
  rssMiB: number;
  costMiB: number;
}

/** Modules whose cost the bench records: the proxy's own path, then what it must not load. */
export const IMPORT_PROBES: { module: string; specifiers: string[] }[] = [
  { module: "(baseline: Deno.serve only)", specifiers: [] },
  { module: "hono", specifiers: ["hono"] },
  { module: "smol-toml (config file)", specifiers: ["smol-toml"] },
  { module: "src/metadata/app.ts", specifiers: [`${SRC}metadata/app.ts`] },
  { module: "src/metadata/gate_client.ts", specifiers: [`${SRC}metadata/gate_client.ts`] },
  { module: "src/cli/config.ts", specifiers: [`${SRC}cli/config.ts`] },
  {
    module: "src/commands/metadata_proxy.ts (the proxy's whole graph)",
    specifiers: [`${SRC}commands/metadata_proxy.ts`],
  },
  { module: "src/main.ts (the CLI entry, no command run)", specifiers: [`${SRC}main.ts`] },
  { module: "google-auth-library (gate only)", specifiers: ["google-auth-library"] },
  { module: "yaml (kube-setup only)", specifiers: ["yaml"] },
  { module: "src/emulator/mod.ts (tests and demo only)", specifiers: [`${SRC}emulator/mod.ts`] },
  { module: "node:http (node compat)", specifiers: ["node:http"] },
  {
    module: "node:crypto (any node: module starts the Node compat layer)",
    specifiers: ["node:crypto"],
  },
];

async function probeRss(specifiers: string[], env: Record<string, string>): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-all", "--config", CONFIG, PROBE, ...specifiers],
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const proc = watchProcess(child);
  try {
    await proc.waitFor(/probe ready on \d+/, 60_000);
    await new Promise((r) => setTimeout(r, 500));
    return await idleRssMiB(child.pid);
  } finally {
    await proc.stop("SIGKILL");
  }
}

/** Each probe's idle RSS (median of `runs`) and its cost over the baseline. */
export async function importCosts(env: Record<string, string>, runs = 2): Promise<ImportCost[]> {
  const rss: number[] = [];
  for (const probe of IMPORT_PROBES) {
    const values: number[] = [];
    for (let i = 0; i < runs; i++) values.push(await probeRss(probe.specifiers, env));
    rss.push(median(values));
  }
  return IMPORT_PROBES.map((p, i) => ({
    module: p.module,
    rssMiB: rss[i],
    costMiB: rss[i] - rss[0],
  }));
}
