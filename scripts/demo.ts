/**
 * `deno task demo`: the whole chain on one machine with no Google account. Starts the embedded
 * Google emulator, the gate and the metadata-proxy (each under its role's pinned permissions),
 * proves the chain with google-auth-library, prints "ready" and what to export, and stops
 * everything cleanly on Ctrl-C, SIGTERM or SIGHUP (temp dir and its ADC file removed). The chain is
 * started by the shared launcher, src/testing/chain.ts.
 */
import { type Chain, roleEnv, startChain } from "../src/testing/chain.ts";

const CLIENT = new URL("./demo_client.ts", import.meta.url).pathname;

const USAGE =
  "usage: deno task demo [--port N]   (N: the metadata-proxy's port, 0 = any free port)";

/** The proxy port from `--port N` / `--port=N` (8173 by default); usage errors exit 2. */
function portFrom(args: string[]): string {
  let port = "8173";
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s, 2);
    if (flag !== "--port") {
      console.error(`demo: unknown argument ${JSON.stringify(args[i])}\n${USAGE}`);
      Deno.exit(2);
    }
    const value = inline ?? args[++i];
    if (value === undefined) {
      console.error(`demo: --port needs a value\n${USAGE}`);
      Deno.exit(2);
    }
    port = value;
  }
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) {
    console.error(`demo: --port must be a port number (0-65535), got ${JSON.stringify(port)}`);
    Deno.exit(2);
  }
  return port;
}

const port = portFrom(Deno.args);

const started = performance.now();
const dir = await Deno.makeTempDir({ prefix: "authcalator-demo-" });
await Deno.chmod(dir, 0o700);
const env = roleEnv(dir);
let chain: Chain | undefined;

/** Stops every role and removes the temp dir (the ADC file included). */
async function stopAll(): Promise<void> {
  await chain?.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

/** The signals that end the demo; each stops the chain and removes the temp dir. */
const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
let stopping: string | undefined;
const stopped = new Promise<string>((resolve) => {
  for (const s of STOP_SIGNALS) {
    Deno.addSignalListener(s, () => {
      stopping ??= s;
      resolve(s);
    });
  }
});

try {
  const starting = startChain({
    dir,
    proxyPort: Number(port),
    onLine: (role, line) => console.log(`[${role}] ${line}`),
  });
  // A stop signal during start-up still cleans up: wait for whichever comes first.
  const first = await Promise.race([starting, stopped]);
  if (typeof first === "string") {
    console.log(`\n${first}: stopping`);
    chain = await starting.catch(() => undefined);
    await stopAll();
    Deno.exit(0);
  }
  chain = first;
  const host = chain.metadataHost!;

  const check = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--allow-net=${host}`,
      "--allow-env",
      "--allow-sys",
      "--allow-read",
      CLIENT,
    ],
    env: { ...env, GCE_METADATA_HOST: host },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const result = new TextDecoder().decode(check.stdout).trim();
  if (check.code !== 0) {
    throw new Error(
      `google-auth-library could not get a token:\n${new TextDecoder().decode(check.stderr)}`,
    );
  }
  console.log(`[client] google-auth-library through the proxy: ${result}`);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`
ready (in ${seconds} s): the chain emulator -> gate -> metadata-proxy works.

In another shell, point any Google client at the proxy:
  export GCE_METADATA_HOST=${host} GCE_METADATA_IP=${host} GCE_METADATA_ROOT=${host}
  curl -s -H 'Metadata-Flavor: Google' http://${host}/computeMetadata/v1/instance/service-accounts/default/token

Ctrl-C stops everything.`);
  const signal = await stopped;
  console.log(`\n${signal}: stopping metadata-proxy, gate and emulator`);
  await stopAll();
  Deno.exit(0);
} catch (err) {
  console.error(`demo: ${(err as Error).message}`);
  await stopAll();
  Deno.exit(stopping ? 0 : 1);
}
