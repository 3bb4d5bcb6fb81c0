/**
 * The common base of the routes' fake upstreams: a loopback HTTPS server whose certificate comes
 * from a throwaway test CA (the gate is told to trust that CA, nothing else does), and a log of
 * every request it received, headers included, so a test can prove the credential arrived
 * upstream — and only there. Test-only; never imported by src/ or scripts/ (except the benchmark,
 * which builds its own upstream from the same pieces through this module's exports).
 * @module
 */
import { issueCa, issueServer } from "../../../src/tls/issue.ts";

/** A test CA and the loopback server certificate it issued. */
export interface TestCa {
  /** The CA certificate (PEM): what a client or the gate is told to trust. */
  caPem: string;
  /** Where caPem was written (for git's GIT_SSL_CAINFO, npm's cafile, curl's --cacert). */
  caFile: string;
  serverPem: string;
  serverKeyPem: string;
}

/** A CA valid for a day and a server certificate for localhost and 127.0.0.1, caPem in `dir`. */
export async function issueTestCa(dir: string): Promise<TestCa> {
  const now = new Date();
  const ca = await issueCa(now, 1);
  const server = await issueServer(
    { cert: ca.cert, privateKey: ca.keys.privateKey },
    now,
    ["DNS:localhost", "IP:127.0.0.1"],
  );
  const caFile = `${dir}/test-ca.pem`;
  await Deno.writeTextFile(caFile, ca.certPem);
  return { caPem: ca.certPem, caFile, serverPem: server.certPem, serverKeyPem: server.keyPem };
}

/** One request as the fake upstream received it. */
export interface LoggedRequest {
  method: string;
  /** Path and query as sent. */
  target: string;
  /** Every header, names lower-cased. */
  headers: Record<string, string>;
  /** The answer's status. */
  status: number;
}

/** A running fake upstream. */
export interface FakeUpstream {
  /** `https://127.0.0.1:<port>` */
  origin: string;
  port: number;
  /** Every request received, in order. */
  log: LoggedRequest[];
  close(): Promise<void>;
}

/** What a fake answers; it may read the request, the log entry is made for it. */
export type FakeHandler = (request: Request, url: URL) => Response | Promise<Response>;

/** Serves `handler` on a free loopback port over HTTPS with `ca`'s server certificate. */
export function serveFake(ca: TestCa, handler: FakeHandler): FakeUpstream {
  const log: LoggedRequest[] = [];
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: ca.serverPem,
    key: ca.serverKeyPem,
    onListen: () => {},
    onError: (error) => {
      const message = error instanceof Error ? error.message : String(error);
      return new Response(`fake upstream failed: ${message}\n`, { status: 500 });
    },
  }, async (request) => {
    const url = new URL(request.url);
    const entry: LoggedRequest = {
      method: request.method,
      target: url.pathname + url.search,
      headers: Object.fromEntries(request.headers),
      status: 0,
    };
    log.push(entry);
    const response = await handler(request, url);
    entry.status = response.status;
    return response;
  });
  const port = server.addr.port;
  return {
    origin: `https://127.0.0.1:${port}`,
    port,
    log,
    close: async () => {
      await server.shutdown();
    },
  };
}

/** A plain-text answer. */
export function text(status: number, body: string, headers: Record<string, string> = {}) {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}
