/**
 * The reliability suite's world: the Google emulator embedded in the test process (so tests can
 * switch its faults), and the gate and the metadata proxy as REAL processes under their pinned
 * role permissions. It keeps every line every process printed, across gate restarts, for the
 * secret scan.
 * @module
 */
import { type Emulator, startEmulator } from "../../src/emulator/mod.ts";
import {
  freePort,
  gateArgsFor,
  PROJECT,
  READY,
  roleEnv,
  type RunningProcess,
  SERVICE_ACCOUNT,
  startRole,
} from "../../src/testing/chain.ts";
import type { Target } from "./raw_exchange.ts";
import { describeFindings, findHostDetails, findSecrets, redactSecrets } from "./secret_scan.ts";

export { PROJECT, SERVICE_ACCOUNT };
export const TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token";

/** One process's output, labelled. */
export interface ProcessOutput {
  name: string;
  text: string;
}

/** A running emulator (in-process) → gate (process) → proxy (process) chain. */
export interface World extends AsyncDisposable {
  dir: string;
  emulator: Emulator;
  adcPath: string;
  socketPath: string;
  adminSocketPath: string;
  auditLogPath: string;
  proxyPort: number;
  readonly gate: RunningProcess;
  proxy: RunningProcess;
  gateTarget: Target;
  adminTarget: Target;
  proxyTarget: Target;
  /** Starts the gate again on the same sockets (after it was stopped or killed). */
  restartGate(): Promise<RunningProcess>;
  /** Rewrites the ADC file with a new mtime, so the gate rebuilds its source client. */
  touchAdc(): Promise<void>;
  /** Everything every process of this world printed so far (every gate run included). */
  outputs(): ProcessOutput[];
  /** The audit log's text ("" when absent). */
  auditText(): Promise<string>;
  /** Remembers a container-facing answer body for the host-detail scan, and its credentials. */
  noteBody(source: string, text: string): void;
  /** Secrets the world knows (the engineer's refresh token and client secret, tokens seen). */
  knownSecrets(): string[];
  /** Host paths and internal URLs that must never reach the container. */
  hostOnlyDetails(): string[];
  /** Fails when any process printed a crash: an uncaught error, a panic, a stack trace. */
  assertNoCrashes(): void;
  /**
   * The secret scan: no credential in any process output or audit line, no host detail or
   * credential of another kind in container-facing bodies. Throws with redacted findings.
   */
  assertNoLeaks(): Promise<void>;
}

/**
 * Credentials an answer may legitimately carry (access and ID tokens; a session id, to with-prod):
 * remembered so the output scan also looks for each exactly.
 */
const CREDENTIAL_IN_BODY =
  /ya29\.[A-Za-z0-9_\-.]+|eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+|(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])/g;

/** What a crash looks like in a Deno process's output. */
const CRASH = /.*(error: Uncaught|panicked at|Unhandled|\n\s+at (?:file|ext|async|new) ).*/;

/** Starts the world; disposing stops everything and removes its directory. */
export async function startWorld(): Promise<World> {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-rel-" });
  await Deno.chmod(dir, 0o700);
  const runDir = `${dir}/run`;
  await Deno.mkdir(runDir, { mode: 0o700 });
  const socketPath = `${runDir}/gcp-authcalator.sock`;
  const adminSocketPath = `${runDir}/gcp-authcalator-admin/admin.sock`;
  const adcPath = `${dir}/adc.json`;
  const emulator = await startEmulator();
  await Deno.writeTextFile(adcPath, JSON.stringify(emulator.authorizedUserAdc()), { mode: 0o600 });

  const finished: ProcessOutput[] = [];
  const seen = new Set<string>();
  const bodies: { source: string; text: string }[] = [];
  const running: { name: string; process: RunningProcess }[] = [];
  let gateRuns = 0;
  const gateArgs = gateArgsFor({ socketPath, adminSocketPath, googleApiBase: emulator.baseUrl });
  const gateEnv = roleEnv(dir, {
    GOOGLE_APPLICATION_CREDENTIALS: adcPath,
    XDG_RUNTIME_DIR: runDir,
  });
  const launchGate = async () => {
    const { proc } = await startRole("gate", gateArgs, { env: gateEnv, ready: READY.gate });
    running.push({ name: `gate#${++gateRuns}`, process: proc });
    return proc;
  };
  const stopAll = async () => {
    for (const { name, process } of running.reverse()) {
      await process.stop("SIGTERM");
      finished.push({ name, text: process.output() });
    }
    running.length = 0;
    await emulator.stop();
  };

  try {
    let gate = await launchGate();
    const proxyPort = freePort();
    const proxyArgs = [
      "--project-id",
      PROJECT,
      "--service-account",
      SERVICE_ACCOUNT,
      "--socket-path",
      socketPath,
      "--port",
      String(proxyPort),
    ];
    const { proc: proxy } = await startRole("metadata-proxy", proxyArgs, {
      env: roleEnv(dir, { XDG_RUNTIME_DIR: runDir }),
      ready: READY.proxy,
    });
    running.push({ name: "metadata-proxy", process: proxy });
    const world: World = {
      dir,
      emulator,
      adcPath,
      socketPath,
      adminSocketPath,
      auditLogPath: `${runDir}/audit.log`,
      proxyPort,
      get gate() {
        return gate;
      },
      proxy,
      gateTarget: { transport: "unix", path: socketPath },
      adminTarget: { transport: "unix", path: adminSocketPath },
      proxyTarget: { transport: "tcp", port: proxyPort },
      async restartGate() {
        gate = await launchGate();
        return gate;
      },
      async touchAdc() {
        const later = new Date(Date.now() + 1000 * (1 + gateRuns + Math.random()));
        await Deno.writeTextFile(adcPath, JSON.stringify(emulator.authorizedUserAdc()));
        await Deno.utime(adcPath, later, later);
      },
      outputs() {
        return [
          ...finished,
          ...running.map(({ name, process }) => ({ name, text: process.output() })),
        ];
      },
      async auditText() {
        // The live log and every rotated one (audit.log.1, …), oldest first.
        const names: string[] = [];
        for await (const e of Deno.readDir(runDir)) {
          if (/^audit\.log(\.\d+)?$/.test(e.name)) names.push(e.name);
        }
        const order = (n: string) => -Number(n.split(".")[2] ?? 0);
        names.sort((a, b) => order(a) - order(b));
        const texts = await Promise.all(
          names.map((n) => Deno.readTextFile(`${runDir}/${n}`).catch(() => "")),
        );
        return texts.join("");
      },
      noteBody(source, text) {
        for (const m of text.matchAll(CREDENTIAL_IN_BODY)) seen.add(m[0]);
        bodies.push({ source, text });
      },
      knownSecrets() {
        return [
          emulator.options.engineer.refreshToken,
          emulator.options.engineer.clientSecret,
          ...seen,
        ];
      },
      hostOnlyDetails() {
        return [
          // Every host path of this world (HOME, ADC, admin socket, audit log) lives under dir.
          dir,
          emulator.baseUrl,
          `127.0.0.1:${emulator.port}`,
          "googleapis.com/token",
          "oauth2.googleapis.com",
        ];
      },
      assertNoCrashes() {
        const crashed = world.outputs().filter((o) => CRASH.test(o.text));
        if (crashed.length) {
          const lines = crashed.map((o) => `${o.name}: ${o.text.match(CRASH)![0]}`);
          const text = `a process crashed or printed a stack trace:\n${lines.join("\n")}`;
          throw new Error(redactSecrets(text));
        }
      },
      async assertNoLeaks() {
        const known = world.knownSecrets();
        const engineerSecrets = known.slice(0, 2);
        const findings = [
          ...world.outputs().flatMap((o) => findSecrets(o.name, o.text, known)),
          ...findSecrets("audit.log", await world.auditText(), known),
          // The main socket's path is the one host path the container knows (it mounts it).
          ...bodies.flatMap((b) =>
            findHostDetails(
              b.source,
              b.text.replaceAll(socketPath, "<socket>"),
              world.hostOnlyDetails(),
            )
          ),
          // Access and ID tokens are what token answers are for; host secrets never are.
          ...bodies.flatMap((b) =>
            findSecrets(b.source, b.text, engineerSecrets).filter((f) =>
              !["access token", "jwt", "session id"].includes(f.kind)
            )
          ),
        ];
        if (findings.length) {
          throw new Error(
            `secret scan found ${findings.length} leak(s):\n${describeFindings(findings)}`,
          );
        }
      },
      async [Symbol.asyncDispose]() {
        await stopAll();
        await Deno.remove(dir, { recursive: true });
      },
    };
    return world;
  } catch (err) {
    await stopAll();
    await Deno.remove(dir, { recursive: true });
    throw err;
  }
}

/** GETs `path` from the gate's main socket with fetch; bounded by `timeoutMs`. */
export async function gateGet(
  world: World,
  path: string,
  timeoutMs = 10_000,
): Promise<{ status: number; headers: Headers; text: string }> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: world.socketPath } });
  try {
    const res = await fetch(`http://localhost${path}`, {
      client,
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, headers: res.headers, text: await res.text() };
  } finally {
    client.close();
  }
}

/** GETs a metadata path from the proxy with the flavor header; bounded by `timeoutMs`. */
export async function proxyGet(
  world: World,
  path: string,
  timeoutMs = 10_000,
): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(`http://127.0.0.1:${world.proxyPort}${path}`, {
    headers: { "Metadata-Flavor": "Google" },
    signal: AbortSignal.timeout(timeoutMs),
    redirect: "manual",
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}
