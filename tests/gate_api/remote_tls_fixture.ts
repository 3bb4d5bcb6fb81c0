/**
 * TLS material for remote-client tests, issued in-process by init-tls's own issuers
 * (src/tls/issue.ts: upstream's CA, server and client profiles, named clients), and a node:https
 * stand-in gate that requires (or not) a client certificate and records what each request carried.
 */
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { formatBundle } from "../../src/tls/bundle.ts";
import { issueCa, issueClient, issueServer } from "../../src/tls/issue.ts";

/** One CA's material, PEM strings. */
export interface TlsMaterial {
  caPem: string;
  caKeyPem: string;
  serverPem: string;
  serverKeyPem: string;
  clientPem: string;
  clientKeyPem: string;
  /** CA, client cert, client key: init-tls's client-bundle.pem. */
  bundle: string;
}

/**
 * A CA with a server certificate for `sans` (default localhost and 127.0.0.1) and a client
 * certificate named `clientName` (default: upstream's shared, unnamed client).
 */
export async function issueTlsMaterial(
  options: { sans?: string[]; clientName?: string } = {},
): Promise<TlsMaterial> {
  const now = new Date();
  const ca = await issueCa(now);
  const issuer = { cert: ca.cert, privateKey: ca.keys.privateKey };
  const server = await issueServer(issuer, now, options.sans ?? ["DNS:localhost", "IP:127.0.0.1"]);
  const client = await issueClient(issuer, now, options.clientName);
  return {
    caPem: ca.certPem,
    caKeyPem: ca.keyPem,
    serverPem: server.certPem,
    serverKeyPem: server.keyPem,
    clientPem: client.certPem,
    clientKeyPem: client.keyPem,
    bundle: formatBundle(ca.certPem, client.certPem, client.keyPem),
  };
}

/** What the stand-in gate saw of one request. */
export interface SeenRequest {
  path: string;
  clientName?: string;
  authorization?: string;
}

/** A node:https server standing in for the gate's TCP listener. */
export interface StandInGate {
  port: number;
  seen: SeenRequest[];
  /** TLS connections accepted so far (keep-alive shows as fewer connections than requests). */
  connections(): number;
  close(): Promise<void>;
}

/**
 * Starts a stand-in on 127.0.0.1 that answers `/health` and `/token` as the gate does and echoes
 * any other path as JSON.
 */
export async function startStandInGate(
  material: TlsMaterial,
  options: { requireClientCert?: boolean; port?: number } = {},
): Promise<StandInGate> {
  const seen: SeenRequest[] = [];
  let connections = 0;
  const requireCert = options.requireClientCert ?? true;
  const server = https.createServer({
    cert: material.serverPem,
    key: material.serverKeyPem,
    ca: material.caPem,
    requestCert: requireCert,
    rejectUnauthorized: requireCert,
  }, (req: IncomingMessage, res: ServerResponse) => {
    const peer = (req.socket as TLSSocket).getPeerCertificate?.();
    seen.push({
      path: req.url ?? "",
      clientName: peer?.subject?.CN,
      authorization: req.headers.authorization,
    });
    res.setHeader("content-type", "application/json");
    const path = (req.url ?? "").split("?")[0];
    const body = path === "/health"
      ? { status: "ok" }
      : path === "/token"
      ? { access_token: `ya29.stand-in-${seen.length}`, expires_in: 3600, token_type: "Bearer" }
      : { path: req.url };
    res.end(JSON.stringify(body));
  });
  const sockets = new Set<TLSSocket>();
  server.on("secureConnection", (socket: TLSSocket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve())
  );
  const port = (server.address() as { port: number }).port;
  return {
    port,
    seen,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
