/**
 * The real chain for the routes' end-to-end tests: the fake upstreams (git host, npm registry,
 * model API) on loopback HTTPS with a throwaway CA, the emulator and the gate (src/testing/chain.ts)
 * with a `--config` file holding `[routes.<name>]` tables that trust that CA (`ca_file`) and read
 * each credential from an owner-only file, and the metadata-proxy with its `routes_port`. Every
 * credential is a distinct random string, so {@link RouteChain.leaks} can grep every log, audit
 * line and collected response for them: they may appear only in the fakes' request logs.
 * @module
 */
import {
  type Chain,
  freePort,
  proxyArgsFor,
  roleEnv,
  startChain,
  startRole,
} from "../../../src/testing/chain.ts";
import { issueTestCa, type TestCa } from "./upstream.ts";
import { type FakeGitServer, makeBareRepo, serveGit } from "./git_server.ts";
import { basicAuthorization } from "./encoding.ts";
import { type FakeRegistry, serveRegistry } from "./npm_registry.ts";
import { type FakeModelApi, serveModelApi } from "./sse_server.ts";

/** The credentials, random per run (never a constant a grep could find by accident). */
export interface RouteSecrets {
  git: string;
  npm: string;
  anthropic: string;
  openai: string;
}

export interface RouteChain extends AsyncDisposable {
  dir: string;
  ca: TestCa;
  chain: Chain;
  git: FakeGitServer;
  registry: FakeRegistry;
  api: FakeModelApi;
  secrets: RouteSecrets;
  /** `http://127.0.0.1:<routes_port>` */
  routesUrl: string;
  routesPort: number;
  /** The URL of route `name` (no trailing slash). */
  route(name: string): string;
  /** Text a test saw (client output, response bodies and headers), for the leak grep. */
  seen: string[];
  /**
   * Every place a credential must not be: gate and proxy output, the audit log, `seen`. Returns
   * `"<secret name> in <place>"` for each hit (empty: no leak).
   */
  leaks(): Promise<string[]>;
  /** The gate's audit lines so far, parsed. */
  audit(): Promise<Record<string, unknown>[]>;
  stop(): Promise<void>;
}

export interface RouteChainOptions {
  /** Extra TOML appended to the gate's config (more routes, e.g. for bad-input tests). */
  extraConfig?: (paths: { dir: string; caFile: string; apiOrigin: string }) => string;
  gateEnv?: Record<string, string>;
  /** Leave out the `git-approve` route (one git route per upstream, as git-setup expects). */
  withoutApproveRoute?: boolean;
}

/** Starts fakes, emulator, gate (with routes) and proxy (with routes_port); all or nothing. */
export async function startRouteChain(options: RouteChainOptions = {}): Promise<RouteChain> {
  const dir = await Deno.makeTempDir({ prefix: "routes-e2e-" });
  await Deno.chmod(dir, 0o700);
  const ca = await issueTestCa(dir);
  const secrets: RouteSecrets = {
    git: `ghs_${randomToken()}`,
    npm: `npm_${randomToken()}`,
    anthropic: `sk-ant-${randomToken()}`,
    openai: `sk-${randomToken()}`,
  };
  const secretDir = `${dir}/secrets`;
  await Deno.mkdir(secretDir, { mode: 0o700 });
  for (const [name, value] of Object.entries(secrets)) {
    await Deno.writeTextFile(`${secretDir}/${name}`, `${value}\n`, { mode: 0o600 });
  }
  await Deno.mkdir(`${dir}/repos`);
  await makeBareRepo(`${dir}/repos`, "project", "first version\n");
  const closers: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => {});
  };
  try {
    const git = serveGit(ca, {
      projectRoot: `${dir}/repos`,
      authorization: basicAuthorization("x-access-token", secrets.git),
    });
    closers.push(() => git.close());
    let routesUrl = "";
    const registry = await serveRegistry(ca, secrets.npm, () => `${routesUrl}/npm/`);
    closers.push(() => registry.close());
    const api = serveModelApi(ca, { anthropicKey: secrets.anthropic, openaiKey: secrets.openai });
    closers.push(async () => {
      api.release();
      await api.close();
    });

    const route = (name: string, upstream: string, lines: string[]) =>
      [
        `[routes.${name}]`,
        `upstream = ${JSON.stringify(upstream)}`,
        `credential_file = ${JSON.stringify(`${secretDir}/${name.replace(/-.*/, "")}`)}`,
        `ca_file = ${JSON.stringify(ca.caFile)}`,
        ...lines,
        "",
      ].join("\n");
    const config = [
      route("git", git.origin, ['auth = "basic"', 'auth_user = "x-access-token"']),
      options.withoutApproveRoute ? "" : route("git-approve", git.origin, [
        'auth = "basic"',
        'auth_user = "x-access-token"',
        'push = "approve"',
      ]),
      route("npm", registry.origin, ['auth = "bearer"']),
      route("anthropic", api.origin, ['preset = "anthropic"']),
      route("openai", `${api.origin}/v1`, ['preset = "openai"']),
      options.extraConfig?.({ dir, caFile: ca.caFile, apiOrigin: api.origin }) ?? "",
    ].join("\n");
    const configPath = `${dir}/gate-config.toml`;
    await Deno.writeTextFile(configPath, config, { mode: 0o600 });

    const chain = await startChain({
      dir,
      proxyPort: false,
      gateArgs: ["--config", configPath],
      gateEnv: options.gateEnv,
    });
    closers.push(() => chain.stop());
    const metadataPort = freePort();
    const routesPort = freePort();
    const proxy = await startRole(
      "metadata-proxy",
      proxyArgsFor(["--socket-path", chain.socketPath], metadataPort, [
        "--routes-port",
        String(routesPort),
      ]),
      {
        env: roleEnv(dir, { XDG_RUNTIME_DIR: chain.runDir }),
        ready: /metadata-proxy listening on/,
      },
    );
    chain.adopt(proxy.proc);
    routesUrl = `http://127.0.0.1:${routesPort}`;
    await waitForPort(routesPort, 15_000);

    const seen: string[] = [];
    const leaks = async () => {
      const places: [string, string][] = [
        ["gate output", chain.gate.output()],
        ["proxy output", proxy.proc.output()],
        ["audit log", await Deno.readTextFile(chain.auditLogPath).catch(() => "")],
        ["client output and responses", seen.join("\n")],
      ];
      const hits: string[] = [];
      for (const [name, value] of Object.entries(secrets)) {
        for (const [place, text] of places) {
          if (text.includes(value)) hits.push(`${name} in ${place}`);
        }
      }
      return hits;
    };
    return {
      dir,
      ca,
      chain,
      git,
      registry,
      api,
      secrets,
      routesUrl,
      routesPort,
      route: (name) => `${routesUrl}/${name}`,
      seen,
      leaks,
      audit: async () =>
        (await Deno.readTextFile(chain.auditLogPath).catch(() => "")).split("\n")
          .filter((line) => line.trim() !== "").map((line) => JSON.parse(line)),
      stop: async () => {
        await stop();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      },
      [Symbol.asyncDispose]: async () => {
        await stop();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      },
    };
  } catch (error) {
    await stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}

function randomToken(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(18)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/** Connects to the port until it accepts (bounded). */
async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(`routes port ${port} not listening within ${timeoutMs} ms: ${error}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
