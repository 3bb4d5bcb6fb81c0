/**
 * The real-process world of the prod e2e tests: the emulator, the gate under its pinned role
 * permissions (off a TTY, no DISPLAY, so confirmations land in the pending queue), and helpers to
 * run with-prod, approve and deny as the operator would.
 */
import assert from "node:assert/strict";
import { type Chain, PROJECT, startChain } from "../../src/testing/chain.ts";
import { runCli, type RunningProcess, startCli } from "../helpers/cli.ts";

export { PROJECT, SERVICE_ACCOUNT } from "../../src/testing/chain.ts";
export const TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token";

export interface ProdStack extends AsyncDisposable {
  dir: string;
  socketPath: string;
  adminPath: string;
  gate: RunningProcess;
  /** Starts `authcalator with-prod … -- argv` (stdin null, output collected). */
  withProd(argv: string[], extraArgs?: string[]): RunningProcess;
  /** The id of the next request the gate queues (from its stderr). */
  nextPendingId(): Promise<string>;
  approve(id: string): Promise<{ decidedAt: number }>;
  deny(id: string): Promise<void>;
  auditLines(): Promise<Record<string, unknown>[]>;
}

/** Pins Deno's cache for processes whose HOME the tests change. */
export function denoDirEnv(): Record<string, string> {
  const explicit = Deno.env.get("DENO_DIR");
  if (explicit) return { DENO_DIR: explicit };
  const cache = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`;
  return { DENO_DIR: `${cache}/deno` };
}

/** Options of {@link startProdStack}. */
export interface ProdStackOptions {
  /** Extra environment of the gate (DISPLAY, a PATH with fake dialogs). */
  gateEnv?: Record<string, string>;
}

export async function startProdStack(options: ProdStackOptions = {}): Promise<ProdStack> {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-prod-e2e-" });
  await Deno.chmod(dir, 0o700);
  await Deno.mkdir(`${dir}/adm`, { mode: 0o700 });
  await Deno.mkdir(`${dir}/wp`, { mode: 0o700 });
  const socketPath = `${dir}/g.sock`;
  const adminPath = `${dir}/adm/admin.sock`;
  let chain: Chain;
  try {
    // The shared launcher: emulator, then the gate under its pinned role permissions.
    chain = await startChain({
      dir,
      runDir: dir,
      socketPath,
      adminSocketPath: adminPath,
      proxyPort: false,
      gateEnv: options.gateEnv,
    });
  } catch (err) {
    await Deno.remove(dir, { recursive: true });
    throw err;
  }
  const gate = chain.gate;
  const started: RunningProcess[] = [];
  const stopAll = async () => {
    for (const p of started.reverse()) await p.stop("SIGTERM");
    await chain.stop();
  };
  try {
    let seen = 0;
    const stack: ProdStack = {
      dir,
      socketPath,
      adminPath,
      gate,
      withProd(argv, extraArgs = []) {
        const p = startCli([
          "with-prod",
          "--socket-path",
          socketPath,
          "--project-id",
          PROJECT,
          ...extraArgs,
          "--",
          ...argv,
        ], {
          env: {
            XDG_RUNTIME_DIR: `${dir}/wp`,
            HOME: dir,
            ...denoDirEnv(),
            GOOGLE_APPLICATION_CREDENTIALS: "/should/be/stripped.json",
            CLOUDSDK_AUTH_ACCESS_TOKEN: "ya29.should-be-stripped",
            GOOGLE_CLOUD_PROJECT: "leaked-parent-project",
          },
        });
        started.push(p);
        return p;
      },
      async nextPendingId() {
        const pattern = /gate: pending approval ([0-9a-f]{32})/g;
        for (let i = 0; i < 600; i++) {
          const ids = [...gate.output().matchAll(pattern)].map((m) => m[1]);
          if (ids.length > seen) return ids[seen++];
          await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error(`no request was queued:\n${gate.output()}`);
      },
      async approve(id) {
        const p = startCli(["approve", id, "--yes", "--admin-socket-path", adminPath]);
        // The decision is when the gate records it (its log line), not when the CLI exits.
        await gate.waitFor(new RegExp(`gate: pending request ${id} approved`), 30_000);
        const decidedAt = Date.now();
        const status = await p.child.status;
        await p.stop();
        assert.equal(status.code, 0, p.output());
        assert.match(p.output(), new RegExp(`Approved request ${id}\\.`));
        return { decidedAt };
      },
      async deny(id) {
        const r = await runCli(["deny", id, "--admin-socket-path", adminPath]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `Denied request ${id}.\n`);
      },
      async auditLines() {
        const text = await Deno.readTextFile(`${dir}/audit.log`).catch(() => "");
        return text.split("\n").filter((l) => l).map((l) => JSON.parse(l));
      },
      async [Symbol.asyncDispose]() {
        await stopAll();
        await Deno.remove(dir, { recursive: true });
      },
    };
    return stack;
  } catch (err) {
    await stopAll();
    await Deno.remove(dir, { recursive: true });
    throw err;
  }
}

/** A raw HTTP GET in bash to the `host:port` in `$H` (so the caller is its own process). */
export function bashGet(path: string): string {
  return `exec 3<>/dev/tcp/\${H%:*}/\${H#*:}; printf 'GET ${path} HTTP/1.1\\r\\nHost: %s\\r\\nMetadata-Flavor: Google\\r\\nConnection: close\\r\\n\\r\\n' "$H" >&3; cat <&3`;
}

/** Waits until `path` exists (bounded). */
export async function waitForFile(path: string, timeoutMs = 30_000): Promise<string> {
  for (let i = 0; i < timeoutMs / 25; i++) {
    try {
      return await Deno.readTextFile(path);
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${path} never appeared`);
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}
