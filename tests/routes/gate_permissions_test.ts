/**
 * The gate's network (and file, run) permission grows a derived part from `[routes.<name>]`: a
 * configured upstream is reachable under the pinned flags, an unconfigured host is not.
 */
import assert from "node:assert/strict";
import { baseEnv } from "../helpers/cli.ts";
import { denoFlags, grantsFor, sampleContext } from "../../src/permissions.ts";
import { parseRoutes } from "../../src/routes/route_config.ts";

const PROBE = new URL("../fixtures/probe.ts", import.meta.url).pathname;

async function probe(flags: string[], ...args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...flags, PROBE, ...args],
    env: baseEnv(),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

function withProbeRead(flags: string[]): string[] {
  const extra = [PROBE, new URL("../../src/", import.meta.url).pathname];
  return flags.map((f) => (f.startsWith("--allow-read=") ? `${f},${extra.join(",")}` : f));
}

Deno.test("routes add their upstreams, proxies, files and commands to the gate's grants", () => {
  const errors: string[] = [];
  const ctx = sampleContext();
  ctx.config.routes = parseRoutes({
    npm: { preset: "npm", credential_file: "~/.npm-token" },
    gh: { preset: "github", credential_command: ["gh", "auth", "token"], ca_file: "/etc/ca.pem" },
    local: { upstream: "http://127.0.0.1:8080", credential_env: "T", auth: "bearer" },
  }, errors);
  assert.deepEqual(errors, []);
  ctx.proxyEnv = { HTTPS_PROXY: "http://scanner.corp:3128", NO_PROXY: "registry.npmjs.org" };
  const g = grantsFor("gate", ctx) as Record<string, string[]>;
  for (const host of ["registry.npmjs.org:443", "api.github.com:443", "127.0.0.1:8080"]) {
    assert.ok(g.net.includes(host), host);
  }
  assert.ok(g.net.includes("scanner.corp:3128"), "the proxy the environment names");
  assert.ok(g.read.includes("/home/user/.npm-token"));
  assert.ok(g.read.includes("/etc/ca.pem"));
  assert.deepEqual(g.run, ["zenity", "osascript", "gh"]);
  // Without routes, nothing of the sort.
  const bare = grantsFor("gate", sampleContext()) as Record<string, string[]>;
  assert.ok(!bare.net.some((h) => h.includes("npmjs") || h.includes("github")));
});

Deno.test("under the pinned flags a configured upstream is reachable and an unconfigured host is not", async () => {
  const open = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const other = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = [open, other].map(async (l) => {
    for await (const c of l) c.close();
  });
  const dir = await Deno.makeTempDir();
  try {
    const ctx = sampleContext();
    ctx.home = `${dir}/home`;
    ctx.runtimeDir = `${dir}/run`;
    ctx.config.socket_path = `${dir}/run/g.sock`;
    ctx.config.admin_socket_path = `${dir}/run/a/admin.sock`;
    const errors: string[] = [];
    ctx.config.routes = parseRoutes({
      up: {
        upstream: `http://127.0.0.1:${(open.addr as Deno.NetAddr).port}`,
        credential_env: "T",
        auth: "bearer",
      },
    }, errors);
    assert.deepEqual(errors, []);
    const flags = withProbeRead(denoFlags("gate", ctx));
    assert.equal(await probe(flags, "net", `127.0.0.1:${(open.addr as Deno.NetAddr).port}`), "OK");
    assert.equal(
      await probe(flags, "net", `127.0.0.1:${(other.addr as Deno.NetAddr).port}`),
      "NotCapable",
    );
    assert.equal(await probe(flags, "net", "example.com:443"), "NotCapable");
  } finally {
    open.close();
    other.close();
    await Promise.allSettled(accepting);
    await Deno.remove(dir, { recursive: true });
  }
});
