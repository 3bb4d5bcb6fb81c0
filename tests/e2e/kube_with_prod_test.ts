/**
 * Why kube-token exists: `authcalator with-prod -- kubectl …` gets kubectl the PROD token, while
 * plain kubectl gets the dev token. The chain (emulator → gate → metadata-proxy) comes from the
 * shared launcher; kube-setup is the installed `authcalator`; kubectl is real; the API-server fake
 * asks the emulator's tokeninfo whose token it holds (the engineer's own = prod, `offline`; the
 * impersonated dev service account = dev, `online`) and accepts only the kind a test expects.
 * Reproduces issue 8's "with-prod -- kubectl fails: not permitted to reach 127.0.0.1:<random>".
 */
import assert from "node:assert/strict";
import { type Chain, startChain } from "../../src/testing/chain.ts";
import { baseEnv, watchProcess } from "../helpers/cli.ts";
import { installAuthcalator, stableTempDir } from "../helpers/install.ts";
import { gkeKubeconfig, KUBECTL, makeCert, startApiServer } from "../kube/api_server.ts";
import { denoDir, runExact } from "../kube/pinned.ts";

type Kind = "prod" | "dev" | "invalid";

/** Which kind of token this is, as Google's tokeninfo (the emulator's) tells. */
async function kindOf(chain: Chain, token: string): Promise<Kind> {
  const res = await fetch(
    `${chain.emulatorUrl}/tokeninfo?access_token=${encodeURIComponent(token)}`,
    { signal: AbortSignal.timeout(10_000) },
  );
  const info = await res.json();
  if (!res.ok) return "invalid";
  return info.access_type === "offline" ? "prod" : "dev";
}

interface World {
  chain: Chain;
  authcalator: string;
  home: string;
  env: Record<string, string>;
  api: ReturnType<typeof startApiServer>;
  /** The kind of token the API server accepts now. */
  accept: { kind: Kind };
  kinds: Kind[];
}

async function withWorld(fn: (w: World) => Promise<void>) {
  const home = await stableTempDir("kube-with-prod-");
  let chain: Chain | undefined;
  let api: ReturnType<typeof startApiServer> | undefined;
  try {
    const authcalator = await installAuthcalator(`${home}/.deno`, await denoDir());
    chain = await startChain({ dir: home });
    const tls = await makeCert(home);
    const accept = { kind: "dev" as Kind };
    const kinds: Kind[] = [];
    const c = chain;
    api = startApiServer(tls, async (token) => {
      const kind = await kindOf(c, token);
      kinds.push(kind);
      return kind === accept.kind;
    });
    await Deno.mkdir(`${home}/.kube`);
    await Deno.writeTextFile(
      `${home}/.kube/config`,
      gkeKubeconfig(api.url, tls.cert, "client.authentication.k8s.io/v1beta1"),
    );
    await Deno.mkdir(`${home}/wp`, { mode: 0o700 });
    const env = {
      ...baseEnv(),
      DENO_DIR: await denoDir(),
      HOME: home,
      XDG_RUNTIME_DIR: `${home}/wp`,
      GCE_METADATA_HOST: chain.metadataHost!,
    };
    const setup = await runExact(authcalator, ["kube-setup"], env);
    assert.equal(setup.code, 0, setup.stderr);
    assert.match(setup.stdout, new RegExp(`now runs ${authcalator} kube-token`));
    await fn({ chain, authcalator, home, env, api, accept, kinds });
  } finally {
    await api?.close();
    await chain?.stop();
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test("outside with-prod kubectl gets the dev token; a prod-only API server refuses it", async () => {
  await withWorld(async ({ env, accept, kinds }) => {
    const dev = await runExact(KUBECTL, ["get", "--raw", "/version"], env);
    assert.equal(dev.code, 0, dev.stderr);
    assert.equal(JSON.parse(dev.stdout).gitVersion, "v1.32.0-authcalator-fake");
    assert.deepEqual([...new Set(kinds)], ["dev"]);
    accept.kind = "prod";
    const refused = await runExact(KUBECTL, ["get", "--raw", "/version"], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /Unauthorized/);
  });
});

Deno.test("with-prod -- kubectl gets the prod token through with-prod's temporary proxy", async () => {
  await withWorld(async ({ chain, authcalator, env, api, accept, kinds }) => {
    accept.kind = "prod";
    const child = new Deno.Command(authcalator, {
      args: [
        "with-prod",
        "--socket-path",
        chain.socketPath,
        "--project-id",
        "demo-project",
        "--",
        KUBECTL,
        "get",
        "--raw",
        "/version",
      ],
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const wp = watchProcess(child);
    try {
      const [, id] = await chain.gate.waitFor(/gate: pending approval ([0-9a-f]{32})/, 60_000);
      const approve = await runExact(
        authcalator,
        ["approve", id, "--yes", "--admin-socket-path", chain.adminSocketPath],
        env,
      );
      assert.equal(approve.code, 0, approve.stderr);
      const status = await wp.exited(60_000);
      assert.equal(status.code, 0, wp.output());
      assert.match(wp.output(), /"gitVersion":"v1\.32\.0-authcalator-fake"/);
      assert.ok(kinds.length >= 1);
      assert.deepEqual([...new Set(kinds)], ["prod"], api.seen.join(","));
    } finally {
      await wp.stop("SIGKILL");
    }
  });
});
