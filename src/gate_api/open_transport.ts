/**
 * The one place a client role (metadata-proxy, with-prod) turns its configuration into a
 * {@link GateTransport}: the Unix socket by default, or the remote gate at `gate_url` over TCP +
 * TLS with the client bundle and/or bearer token file, checked before the first request so a
 * wrong setting is named at start-up.
 * @module
 */
import type { Config } from "../cli/config.ts";
import { type GateTransport, UnixSocketTransport } from "./transport.ts";

/** The settings {@link openGateTransport} reads. */
export type TransportConfig = Pick<
  Config,
  "socket_path" | "gate_url" | "tls_bundle" | "tls_dir" | "gate_token_file" | "tls_bundle_from_flag"
>;

/**
 * The transport `config` selects; `warn` receives start-up warnings (a bundle carried in the
 * environment). Throws RemoteGateConfigError for an unusable remote setting.
 */
export async function openGateTransport(
  config: TransportConfig,
  env: Record<string, string | undefined>,
  warn: (line: string) => void,
): Promise<GateTransport> {
  if (config.gate_url === undefined) {
    const remoteOnly = (["gate_token_file", "tls_bundle"] as const).filter((k) => config[k]);
    if (remoteOnly.length) {
      warn(
        `${remoteOnly.join(" and ")} ${remoteOnly.length > 1 ? "are" : "is"} set but gate_url ` +
          `is not, so the gate's Unix socket ${config.socket_path} is used; set gate_url to ` +
          "reach a remote gate",
      );
    }
    return new UnixSocketTransport(config.socket_path);
  }
  // The remote path (certificate checks through node:crypto, TLS files) is loaded only when a
  // remote gate is configured: on the Unix socket the proxy does not carry it (issue 9, memory).
  const { loadRemoteGate } = await import("./remote_config.ts");
  const { TcpTransport } = await import("./transport_tcp.ts");
  const remote = await loadRemoteGate({
    gate_url: config.gate_url,
    tls_bundle: config.tls_bundle_from_flag ? undefined : config.tls_bundle,
    cliTlsBundle: config.tls_bundle_from_flag ? config.tls_bundle : undefined,
    tls_dir: config.tls_dir,
    gate_token_file: config.gate_token_file,
    env,
  });
  for (const line of remote.warnings) warn(line);
  return new TcpTransport(remote);
}
