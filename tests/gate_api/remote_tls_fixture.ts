/**
 * TLS material for remote-client tests, issued with the openssl CLI in upstream's profiles (CA,
 * server with SANs, client with clientAuth), and a node:https stand-in gate that requires (or not)
 * a client certificate and records what each request carried. openssl is in .ci/run's packages.
 */
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";

async function openssl(dir: string, args: string[], stdin?: string): Promise<string> {
  const cmd = new Deno.Command("openssl", {
    args,
    cwd: dir,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
  const child = cmd.spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  if (!out.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

async function newKey(dir: string, name: string): Promise<string> {
  const ec = await openssl(dir, ["ecparam", "-name", "prime256v1", "-genkey", "-noout"]);
  await openssl(dir, ["pkcs8", "-topk8", "-nocrypt", "-out", name], ec);
  return await Deno.readTextFile(`${dir}/${name}`);
}

/** One CA's material, PEM strings, written in `dir` too. */
export interface TlsMaterial {
  dir: string;
  caPem: string;
  caKeyPem: string;
  serverPem: string;
  serverKeyPem: string;
  clientPem: string;
  clientKeyPem: string;
  /** CA, client cert, client key: init-tls's client-bundle.pem. */
  bundle: string;
}

let serial = 0x1000;

async function leaf(
  dir: string,
  name: string,
  cn: string,
  ext: string,
  days: number,
): Promise<{ pem: string; keyPem: string }> {
  const keyPem = await newKey(dir, `${name}-key.pem`);
  await openssl(dir, [
    "req",
    "-new",
    "-key",
    `${name}-key.pem`,
    "-subj",
    `/CN=${cn}`,
    "-out",
    `${name}.csr`,
  ]);
  await Deno.writeTextFile(`${dir}/${name}.ext`, ext);
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca-key.pem",
    "-set_serial",
    String(serial++),
    "-days",
    String(days),
    "-extfile",
    `${name}.ext`,
    "-out",
    `${name}.pem`,
  ]);
  return { pem: await Deno.readTextFile(`${dir}/${name}.pem`), keyPem };
}

/**
 * A CA with a server certificate for `sans` (default localhost and 127.0.0.1) and a client
 * certificate named `clientName`, in a new directory under `parent`.
 */
export async function issueTlsMaterial(
  parent: string,
  options: { sans?: string; clientName?: string } = {},
): Promise<TlsMaterial> {
  const dir = await Deno.makeTempDir({ dir: parent });
  const caKeyPem = await newKey(dir, "ca-key.pem");
  await openssl(dir, [
    "req",
    "-x509",
    "-new",
    "-key",
    "ca-key.pem",
    "-subj",
    "/CN=authcalator test CA",
    "-days",
    "30",
    "-addext",
    "basicConstraints=critical,CA:TRUE,pathlen:0",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-out",
    "ca.pem",
  ]);
  const caPem = await Deno.readTextFile(`${dir}/ca.pem`);
  const server = await leaf(
    dir,
    "server",
    "gcp-authcalator server",
    "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=critical,serverAuth\n" +
      `subjectAltName=${options.sans ?? "DNS:localhost,IP:127.0.0.1"}\n`,
    10,
  );
  const client = await leaf(
    dir,
    "client",
    options.clientName ?? "gcp-authcalator client",
    "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=critical,clientAuth\n",
    10,
  );
  const bundle = [caPem, client.pem, client.keyPem].map((s) => s.trimEnd()).join("\n") + "\n";
  return {
    dir,
    caPem,
    caKeyPem,
    serverPem: server.pem,
    serverKeyPem: server.keyPem,
    clientPem: client.pem,
    clientKeyPem: client.keyPem,
    bundle,
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
  options: { requireClientCert?: boolean } = {},
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
  server.on("secureConnection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    seen,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
