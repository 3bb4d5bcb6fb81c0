/**
 * The daemons load only what their path uses (issue 9: idle memory). Deno evaluates the static
 * imports of every module it runs, so a role's resident code is the static closure of src/main.ts
 * plus the modules main.ts imports dynamically for it (the config loader and the command module).
 * The metadata-proxy's closure must not reach the dependencies the bench measures as heavy and
 * the proxy never uses: google-auth-library (~20 MiB), yaml (~12 MiB), the TOML parser (~3 MiB;
 * loaded only when a config file is named), any `node:` module (starting Deno's Node
 * compatibility layer costs ~7 MiB), the emulator, the gate's Google clients, TLS tooling. The
 * gate's must not reach its TCP listener's X.509 and TLS modules unless that listener is
 * configured. Figures: `deno task bench`, table (e).
 */
import assert from "node:assert/strict";

const SRC = new URL("../src/", import.meta.url);
/** The modules a role starts from: main.ts, the config loader and its command module. */
const rootsOf = (command: string) =>
  ["main.ts", "cli/config.ts", `commands/${command}.ts`].map((p) => new URL(p, SRC).href);
const ROOTS = rootsOf("metadata_proxy");

interface InfoDependency {
  code?: { specifier?: string };
  isDynamic?: boolean;
}
interface InfoModule {
  specifier: string;
  dependencies?: InfoDependency[];
}

/** The module graph of src/main.ts as `deno info --json` reports it (bounded wait). */
async function moduleGraph(): Promise<Map<string, InfoModule>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL("main.ts", SRC).pathname],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: InfoModule[] };
  return new Map(info.modules.map((m) => [m.specifier, m]));
}

/**
 * Every module reached from `roots` through static (evaluated at load) imports of code, each
 * mapped to the module that first imported it (roots to themselves).
 */
function staticClosure(graph: Map<string, InfoModule>, roots: string[]): Map<string, string> {
  const importer = new Map<string, string>();
  const queue = roots.map((r) => [r, r]);
  while (queue.length) {
    const [specifier, from] = queue.shift()!;
    if (importer.has(specifier)) continue;
    importer.set(specifier, from);
    for (const dep of graph.get(specifier)?.dependencies ?? []) {
      if (dep.isDynamic || !dep.code?.specifier) continue;
      queue.push([dep.code.specifier, specifier]);
    }
  }
  return importer;
}

/** The import chain from a root to `specifier`, short names joined by arrows. */
function chainTo(importer: Map<string, string>, specifier: string): string {
  const chain = [specifier];
  for (let s = specifier; importer.get(s) !== s;) chain.unshift(s = importer.get(s)!);
  return chain.map((s) => s.replace(SRC.href, "src/")).join(" → ");
}

/** What the proxy must not load, each with the reason shown when it does. */
const FORBIDDEN: [RegExp, string][] = [
  [/^npm:\/?google-auth-library/, "google-auth-library is the gate's alone"],
  [/^npm:\/?yaml/, "yaml is kube-setup's alone"],
  [/^npm:\/?smol-toml/, "the TOML parser is loaded only when a config file is named"],
  [/\/src\/cli\/config_file\.ts$/, "the TOML parser is loaded only when a config file is named"],
  [
    /^node:/,
    "a node: module starts Deno's Node compatibility layer (~7 MiB); if only a remote-gate " +
    "setting needs it, import that module dynamically where the setting is used",
  ],
  [/\/src\/emulator\//, "the emulator is for tests and the demo"],
  [/\/src\/google\//, "the Google clients are the gate's"],
  [/\/src\/tls\//, "certificate tooling is init-tls's"],
];

Deno.test("the metadata-proxy's static imports reach none of the heavy dependencies it does not use", async () => {
  const graph = await moduleGraph();
  for (const root of ROOTS) assert.ok(graph.has(root), `${root} is in src/main.ts's graph`);
  const importer = staticClosure(graph, ROOTS);
  const loaded = [...importer.keys()];
  // The closure is the proxy's real path: its command module and its Hono app are in it.
  assert.ok(loaded.some((s) => s.endsWith("/src/metadata/app.ts")));
  const offences = loaded.flatMap((specifier) =>
    FORBIDDEN.filter(([pattern]) => pattern.test(specifier)).map(([, why]) =>
      `${chainTo(importer, specifier)}: ${why}`
    )
  );
  assert.deepEqual(offences, []);
});

/** What the gate loads only when its TCP listener is configured. */
const GATE_FORBIDDEN: [RegExp, string][] = [
  [/^npm:\/?@peculiar\//, "X.509 parsing is for the TCP listener and init-tls"],
  [/^node:(tls|net)$/, "the TCP listener's modules load only when gate_tls_port is set"],
  [/\/src\/gate\/tcp_(setup|listener)\.ts$/, "the TCP listener loads only when configured"],
  [/^npm:\/?yaml/, "yaml is kube-setup's alone"],
  [/^npm:\/?smol-toml/, "the TOML parser is loaded only when a config file is named"],
  [/\/src\/emulator\//, "the emulator is for tests and the demo"],
];

Deno.test("the gate's static imports reach its TCP listener's X.509 and TLS modules only when configured", async () => {
  const graph = await moduleGraph();
  const roots = rootsOf("gate");
  for (const root of roots) assert.ok(graph.has(root), `${root} is in src/main.ts's graph`);
  const importer = staticClosure(graph, roots);
  const loaded = [...importer.keys()];
  assert.ok(loaded.some((s) => s.endsWith("/src/gate/app.ts")));
  const offences = loaded.flatMap((specifier) =>
    GATE_FORBIDDEN.filter(([pattern]) => pattern.test(specifier)).map(([, why]) =>
      `${chainTo(importer, specifier)}: ${why}`
    )
  );
  assert.deepEqual(offences, []);
  // ...and it does load them, dynamically, from the gate command.
  const gate = graph.get(new URL("commands/gate.ts", SRC).href)!;
  const dynamic = (gate.dependencies ?? []).filter((d) => d.isDynamic).map((d) =>
    d.code?.specifier ?? ""
  );
  assert.ok(dynamic.some((s) => s.endsWith("/src/gate/tcp_setup.ts")), dynamic.join(", "));
});

Deno.test("the TOML parser is only a dynamic import of src/main.ts", async () => {
  const graph = await moduleGraph();
  const main = graph.get(new URL("main.ts", SRC).href)!;
  const edges = (main.dependencies ?? []).filter((d) =>
    d.code?.specifier?.endsWith("/src/cli/config_file.ts")
  );
  assert.ok(edges.length > 0, "src/main.ts imports the config file reader");
  assert.ok(edges.every((d) => d.isDynamic), "and only dynamically");
});
