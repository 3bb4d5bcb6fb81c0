/**
 * `deno task demo`: the whole chain on one machine with no Google account. Starts the embedded
 * Google emulator, the gate and the metadata-proxy (each under its role's pinned permissions),
 * proves the chain with google-auth-library, prints "ready" and what to export, and stops
 * everything cleanly on Ctrl-C.
 */
import { pinnedFlags } from "../src/commands/permissions.ts";

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
const CLIENT = new URL("./demo_client.ts", import.meta.url).pathname;
const PROJECT = "demo-project";
const SERVICE_ACCOUNT = "dev-runner@demo-project.iam.gserviceaccount.com";

const portArg = Deno.args.indexOf("--port");
const port = portArg >= 0 ? Deno.args[portArg + 1] : "8173";
if (!/^\d+$/.test(port) || Number(port) > 65535) {
  console.error(`demo: --port must be a port number, got ${JSON.stringify(port)}`);
  Deno.exit(2);
}

const started = performance.now();
const dir = await Deno.makeTempDir({ prefix: "authcalator-demo-" });
const runDir = `${dir}/run`;
await Deno.mkdir(runDir, { mode: 0o700 });
const adc = `${dir}/application_default_credentials.json`;
const env: Record<string, string> = {
  PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
  HOME: dir,
  XDG_RUNTIME_DIR: runDir,
  RUST_BACKTRACE: "0",
  NO_COLOR: "1",
  DENO_NO_UPDATE_CHECK: "1",
};
const denoDir = Deno.env.get("DENO_DIR");
if (denoDir) env.DENO_DIR = denoDir;

interface Proc {
  name: string;
  child: Deno.ChildProcess;
  output: string;
}
const procs: Proc[] = [];

/** Starts `authcalator <command> <args>` under the pinned flags of its role. */
function start(command: string, args: string[], extraEnv: Record<string, string> = {}): Proc {
  const roleEnv = { ...env, ...extraEnv };
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...pinnedFlags(command, args, roleEnv), MAIN, command, ...args],
    env: roleEnv,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const proc: Proc = { name: command, child, output: "" };
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      proc.output += chunk;
      for (const line of chunk.split("\n").filter(Boolean)) console.log(`[${command}] ${line}`);
    }
  };
  pump(child.stdout);
  pump(child.stderr);
  procs.push(proc);
  return proc;
}

async function waitFor(proc: Proc, pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  proc.child.status.then(() => (exited = true));
  while (Date.now() < deadline) {
    const m = proc.output.match(pattern);
    if (m) return m;
    if (exited) throw new Error(`${proc.name} exited before it was ready`);
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${proc.name} was not ready within ${timeoutMs / 1000} s`);
}

async function stopAll(): Promise<void> {
  for (const proc of [...procs].reverse()) {
    try {
      proc.child.kill("SIGTERM");
    } catch { /* already gone */ }
    await proc.child.status;
  }
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

try {
  const emulator = start("emulator", ["--port", "0", "--write-adc", adc]);
  const [, base] = await waitFor(emulator, /emulator listening on (http:\/\/127\.0\.0\.1:\d+)/);
  await waitFor(emulator, new RegExp(adc.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  const gate = start(
    "gate",
    ["--project-id", PROJECT, "--service-account", SERVICE_ACCOUNT, "--google-api-base", base],
    { GOOGLE_APPLICATION_CREDENTIALS: adc },
  );
  await waitFor(gate, /gate listening on unix:/);
  const proxy = start("metadata-proxy", [
    "--project-id",
    PROJECT,
    "--service-account",
    SERVICE_ACCOUNT,
    "--port",
    port,
  ]);
  const [, proxyUrl] = await waitFor(proxy, /metadata-proxy listening on (http:\/\/[\d.]+:\d+)/);
  const host = new URL(proxyUrl).host;

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
    env: {
      PATH: env.PATH,
      HOME: dir,
      GCE_METADATA_HOST: host,
      RUST_BACKTRACE: "0",
      ...(denoDir ? { DENO_DIR: denoDir } : {}),
    },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
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
  const signal = await new Promise<string>((resolve) => {
    for (const s of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(s, () => resolve(s));
  });
  console.log(`\n${signal}: stopping metadata-proxy, gate and emulator`);
  await stopAll();
  Deno.exit(0);
} catch (err) {
  console.error(`demo: ${(err as Error).message}`);
  await stopAll();
  Deno.exit(1);
}
