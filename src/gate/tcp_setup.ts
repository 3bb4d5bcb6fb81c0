/**
 * Starting the gate's TCP listener from its configuration: the TLS material of `tls_dir` (loaded
 * and validated by src/tls/material.ts, which refuses unsafe files), the client authentication the
 * keys choose (client certificates by default; `gate_bearer_tokens_file`; or Kubernetes TokenReview
 * with `gate_token_review_audience`), the bind address (loopback unless `gate_bind` says otherwise)
 * and the banner lines saying all of it. Everything that can be wrong is found here, before the
 * listener accepts a connection, and refuses the start with the fix.
 * @module
 */
import type tls from "node:tls";
import { HttpError } from "../errors.ts";
import { defaultTlsDir } from "../tls/files.ts";
import { loadTlsMaterial } from "../tls/material.ts";
import { describeExpiring, expiringMaterial } from "../tls/expiry.ts";
import { identifyClient } from "../tls/client_identity.ts";
import { IN_CLUSTER_DIR, inClusterApiUrl } from "../kube/in_cluster.ts";
import { TokenReviewer } from "../kube/token_review.ts";
import { BearerTokensFile } from "./bearer_auth.ts";
import { type GateConfig, isLoopback, tcpClientAuth } from "./gate_config.ts";
import type { PeerEnv } from "./peer.ts";
import { type ClientAuthentication, serveTcp, type TcpServer } from "./tcp_listener.ts";

/** What {@link startTcpListener} needs. */
export interface TcpSetupInput {
  config: GateConfig;
  env: Record<string, string | undefined>;
  /** The TCP listener's app (dev, prod and session routes; never admin). */
  handler: (request: Request, env: PeerEnv) => Response | Promise<Response>;
  /** The gate's log (warn level). */
  log: (message: string) => void;
  now?: Date;
}

/** A started TCP listener with what the banner says about it. */
export interface TcpSetup {
  server: TcpServer;
  /** `host:port` as bound (`[v6]:port`). */
  address: string;
  /** Banner facts, in order. */
  facts: [string, string][];
  /** Things to warn about at start (expiring material, a non-loopback bind). */
  warnings: string[];
  close(): Promise<void>;
}

const CLIENTS: Record<ReturnType<typeof tcpClientAuth>, string> = {
  certificate: "client certificates from the gate's CA (init-tls --client NAME)",
  bearer_file: "bearer tokens listed by SHA-256",
  token_review: "Kubernetes service-account tokens (TokenReview)",
};

/** Reads a file the TokenReview verifier needs at start, or says which key to set. */
async function readStartFile(path: string, what: string, key: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new Error(
      `${what} ${path} cannot be read (${(err as Error).message}); outside a cluster set ${key}`,
    );
  }
  if (!text.trim()) throw new Error(`${what} ${path} is empty`);
  return text;
}

/** Loads, checks and binds; throws (with the fix) on anything unsafe or missing. */
export async function startTcpListener(input: TcpSetupInput): Promise<TcpSetup> {
  const { config, env, log } = input;
  const now = input.now ?? new Date();
  const dir = config.tls_dir ?? defaultTlsDir(env);
  const material = await loadTlsMaterial(dir, now);
  const expiring = (await expiringMaterial(dir, now)).map(describeExpiring);
  const warnings = [...material.warnings, ...expiring];

  const mode = tcpClientAuth(config);
  let auth: ClientAuthentication;
  let reviewer: TokenReviewer | undefined;
  let clients = CLIENTS[mode];
  if (mode === "certificate") {
    auth = {
      kind: "certificate",
      async identify(peer: tls.PeerCertificate) {
        const who = await identifyClient(peer, material.revocation);
        // Fail closed, and say it is the gate's fault: nobody gets in until the list is fixed.
        const problem = material.revocation.problem;
        if (problem) {
          throw new HttpError(
            503,
            "the gate's revocation list is unusable, so no client certificate is accepted; its " +
              "operator must fix it (see the gate's log)",
            "revocation_list_unusable",
            { logDetail: problem },
          );
        }
        return who;
      },
    };
  } else if (mode === "bearer_file") {
    const list = await BearerTokensFile.open(config.gate_bearer_tokens_file!, log);
    auth = { kind: "bearer", verifier: list };
    clients += ` (${list.path})`;
  } else {
    const apiUrl = config.gate_kube_api_url ?? inClusterApiUrl(env);
    if (!apiUrl) {
      throw new Error(
        "TokenReview needs the Kubernetes API: set gate_kube_api_url (KUBERNETES_SERVICE_HOST " +
          "is not set, so this is not a pod)",
      );
    }
    const caFile = config.gate_kube_ca_file ?? `${IN_CLUSTER_DIR}/ca.crt`;
    const tokenFile = config.gate_kube_token_file ?? `${IN_CLUSTER_DIR}/token`;
    const caPem = await readStartFile(caFile, "the Kubernetes API's CA", "gate_kube_ca_file");
    await readStartFile(tokenFile, "the gate's service-account token", "gate_kube_token_file");
    reviewer = new TokenReviewer({
      apiUrl,
      caPem,
      reviewerTokenFile: tokenFile,
      audience: config.gate_token_review_audience!,
      allowed: config.gate_allowed_service_accounts ?? [],
      log,
    });
    auth = { kind: "bearer", verifier: reviewer };
    clients += ` at ${apiUrl}, audience ${config.gate_token_review_audience}, for ` +
      (config.gate_allowed_service_accounts ?? []).join(", ");
  }

  const hostname = config.gate_bind ?? "127.0.0.1";
  if (!isLoopback(hostname)) {
    warnings.push(
      `the TCP listener binds ${hostname}, beyond this machine: every client must still ` +
        "authenticate, and the server certificate must name the address clients use (init-tls --san)",
    );
  }
  let server: TcpServer;
  try {
    server = await serveTcp({
      hostname,
      port: config.gate_tls_port!,
      cert: material.certPem,
      key: material.keyPem,
      ca: material.caPem,
      auth,
      handler: input.handler,
      log,
    });
  } catch (err) {
    reviewer?.close();
    const code = (err as { code?: string }).code;
    if (code === "EADDRINUSE") {
      throw new Error(
        `${hostname}:${config.gate_tls_port} is in use: stop what holds it or pick another port ` +
          "with --gate-tls-port (GCP_AUTHCALATOR_GATE_TLS_PORT, gate_tls_port in the TOML config)",
      );
    }
    if (code === "EADDRNOTAVAIL") {
      throw new Error(`gate_bind ${hostname} is not an address of this machine`);
    }
    throw err;
  }
  const shown = hostname.includes(":") ? `[${hostname}]` : hostname;
  return {
    server,
    address: `${shown}:${server.port}`,
    facts: [
      ["tcp listener", `${shown}:${server.port}, TLS 1.2+, clients: ${clients}`],
      ["TLS material", `${dir} (server names ${material.serverSans.join(", ")})`],
      ...expiring.map((line): [string, string] => ["TLS EXPIRY", line]),
    ],
    warnings,
    async close() {
      await server.close();
      reviewer?.close();
    },
  };
}
