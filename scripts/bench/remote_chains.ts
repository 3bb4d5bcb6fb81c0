/**
 * The bench's remote gates: beside the Unix-socket chain, one gate whose TCP listener takes
 * client certificates (init-tls material, a named client bundle) and one whose listener takes
 * bearer tokens (a SHA-256 hashes file; the proxy reads its token file on every request), each
 * with a metadata-proxy reaching it at `gate_url`. Each is started by the shared launcher
 * (src/testing/chain.ts) with its own emulator, so the cold figures pair each proxy with the
 * emulator behind it.
 * @module
 */
import { freePort, type RunningProcess } from "../../src/testing/process.ts";
import {
  type Chain,
  proxyArgsFor,
  roleEnv,
  startChain,
  startRole,
} from "../../src/testing/chain.ts";
import { sha256Hex } from "../../src/gate/bearer_auth.ts";
import { initTls, issueNamedClient } from "../../src/tls/init.ts";

const PROXY_READY = /metadata-proxy listening on (http:\/\/127\.0\.0\.1:\d+)/;

/** A proxy → gate → emulator path to measure. */
export interface TransportChain {
  label: string;
  proxyUrl: string;
  emulatorUrl: string;
  adcPath: string;
}

/** The started remote chains; `stop()` stops all of them. */
export interface RemoteChains {
  chains: TransportChain[];
  stop(): Promise<void>;
}

async function privateDir(path: string): Promise<string> {
  await Deno.mkdir(path, { recursive: true, mode: 0o700 });
  await Deno.chmod(path, 0o700);
  return path;
}

/** Starts the TCP + mTLS and the TCP + bearer chains under `dir`. */
export async function startRemoteChains(dir: string): Promise<RemoteChains> {
  const started: Chain[] = [];
  const proxies: RunningProcess[] = [];
  const stop = async () => {
    for (const p of proxies.splice(0)) await p.stop("SIGTERM");
    for (const c of started.splice(0).reverse()) await c.stop();
  };
  const proxy = async (home: string, remote: string[]) => {
    const { proc, match } = await startRole("metadata-proxy", proxyArgsFor(remote, 0), {
      env: roleEnv(home),
      ready: PROXY_READY,
    });
    proxies.push(proc);
    return match[1];
  };
  try {
    const tlsDir = `${await privateDir(`${dir}/remote-tls`)}/tls`;
    await initTls(tlsDir, { now: new Date() });
    const client = await issueNamedClient(tlsDir, "bench", new Date());
    const bundle = `${dir}/remote-tls/bench-bundle.pem`;
    await Deno.writeTextFile(bundle, await Deno.readTextFile(client.bundlePath), { mode: 0o600 });

    const mtlsHome = await privateDir(`${dir}/remote-mtls`);
    const mtlsPort = freePort();
    const mtls = await startChain({
      dir: mtlsHome,
      proxyPort: false,
      gateArgs: ["--gate-tls-port", String(mtlsPort), "--tls-dir", tlsDir],
    });
    started.push(mtls);
    const mtlsProxy = await proxy(mtlsHome, [
      "--gate-url",
      `https://localhost:${mtlsPort}`,
      "--tls-bundle",
      bundle,
    ]);

    const bearerHome = await privateDir(`${dir}/remote-bearer`);
    const token = Array.from(
      crypto.getRandomValues(new Uint8Array(32)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    const hashes = `${bearerHome}/bearer-hashes`;
    await Deno.writeTextFile(hashes, `${await sha256Hex(token)} bench\n`, { mode: 0o600 });
    const tokenFile = `${bearerHome}/token`;
    await Deno.writeTextFile(tokenFile, token, { mode: 0o600 });
    const wsDir = await privateDir(`${bearerHome}/ws-tls`);
    await Deno.copyFile(`${tlsDir}/ca.pem`, `${wsDir}/ca.pem`);
    const bearerPort = freePort();
    const gateToml = `${bearerHome}/gate.toml`;
    await Deno.writeTextFile(
      gateToml,
      `gate_tls_port = ${bearerPort}\ntls_dir = ${JSON.stringify(tlsDir)}\n` +
        `gate_bearer_tokens_file = ${JSON.stringify(hashes)}\n`,
    );
    const bearer = await startChain({
      dir: bearerHome,
      proxyPort: false,
      gateArgs: ["--config", gateToml],
    });
    started.push(bearer);
    const bearerProxy = await proxy(bearerHome, [
      "--gate-url",
      `https://localhost:${bearerPort}`,
      "--tls-dir",
      wsDir,
      "--gate-token-file",
      tokenFile,
    ]);
    return {
      chains: [
        {
          label: "TCP + mTLS (client certificate)",
          proxyUrl: mtlsProxy,
          emulatorUrl: mtls.emulatorUrl,
          adcPath: mtls.adcPath,
        },
        {
          label: "TCP + bearer token file (hashes list)",
          proxyUrl: bearerProxy,
          emulatorUrl: bearer.emulatorUrl,
          adcPath: bearer.adcPath,
        },
      ],
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
