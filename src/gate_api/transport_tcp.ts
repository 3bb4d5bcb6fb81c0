/**
 * The gate over TCP + TLS (`gate_url`), for workspaces that cannot mount the gate's Unix socket:
 * a remote devcontainer (mTLS with an `init-tls` client bundle) or a Kubernetes pod (a bearer
 * token read from its file on every request, so a rotated token is used without a restart). One
 * Deno HTTP client per transport keeps connections alive, so a token request costs no new TLS
 * handshake. The server's certificate must chain to the bundle's CA (or `tls_dir/ca.pem`, or the
 * system's roots for a bearer-only client) and name the host of `gate_url`.
 * @module
 */
import type { ClientBundle } from "../tls/bundle.ts";
import type { RemoteGate } from "./remote_config.ts";
import { readBearerToken, TokenFileError } from "./token_file.ts";
import {
  connectFailureReason,
  type GateRequest,
  type GateTransport,
  GateUnreachableError,
} from "./transport.ts";

/** Options for {@link TcpTransport}. */
export interface TcpTransportOptions {
  /** Injected fetch for tests (the TLS client is still created and passed). */
  fetchFn?: typeof fetch;
}

/** The hint when the remote gate cannot be reached. */
export function remoteHint(gate: { baseUrl: string; bundle?: ClientBundle; tokenFile?: string }) {
  const auth = gate.bundle
    ? "the client bundle is from its CA"
    : "gate_token_file holds a token it accepts";
  return `is the gate's TCP listener running and reachable at ${gate.baseUrl} (gate_url), and ${auth}?`;
}

/**
 * Why a connection to a remote gate failed, in words naming the fix, from the error text in the
 * cause chain (rustls's for TLS, the resolver's, fetch's port rule); undefined for a plain
 * socket error, which {@link connectFailureReason} words.
 */
export function tcpFailureReason(err: unknown, host: string): string | undefined {
  const texts: string[] = [];
  for (let e: unknown = err; e instanceof Error; e = e.cause) texts.push(e.message);
  const text = texts.join(" | ");
  const blocked = /Requests to port (\d+) are blocked/.exec(text);
  if (blocked) {
    return `port ${blocked[1]} is one fetch refuses to use (the Fetch standard's bad ports); ` +
      "serve the gate on another gate_tls_port";
  }
  if (/dns error|failed to lookup address|Name or service not known/i.test(text)) {
    return `the host name ${host} does not resolve here (check gate_url)`;
  }
  if (/NotValidForName|not valid for name/i.test(text)) {
    return `its certificate does not name ${host}; use a name it carries in gate_url, or ` +
      `re-issue it with 'authcalator init-tls --san ${host}' on the gate's host`;
  }
  if (/UnknownIssuer|BadSignature|unknown ?issuer/i.test(text)) {
    return "its certificate is not signed by the CA this client trusts (a bundle from another gate, or a rotated CA?)";
  }
  if (/\bExpired\b|NotValidYet/i.test(text)) {
    return "its certificate is expired or not yet valid (check both clocks; re-run init-tls on the gate's host)";
  }
  if (
    /CertificateRequired|BadCertificate|UnknownCA|CertificateRevoked|CertificateExpired|AccessDenied|DecryptError|received fatal alert/i
      .test(text)
  ) {
    return "it refused this client's certificate (revoked, expired, or issued by another CA?)";
  }
  // TLS 1.3 sends the client certificate after the server's Finished: a server refusing it
  // closes the connection instead of answering, which is all the client sees.
  if (/close_notify|unexpected-eof|handshake eof/i.test(text)) {
    return "it closed the connection during TLS (did it refuse this client's certificate: revoked, expired, or issued by another CA?)";
  }
  if (
    /InvalidContentType|CorruptMessage|peer is incompatible|peer sent no certificates|InvalidMessage/i
      .test(text)
  ) {
    return "it did not answer with TLS (is gate_url's port the gate's TLS port?)";
  }
  return undefined;
}

/** A remote gate reached over HTTPS, with a client certificate, a bearer token or both. */
export class TcpTransport implements GateTransport {
  readonly where: string;
  readonly hint: string;
  readonly #baseUrl: string;
  readonly #host: string;
  readonly #tokenFile?: string;
  readonly #client: Deno.HttpClient;
  readonly #fetch: typeof fetch;

  constructor(gate: RemoteGate, options: TcpTransportOptions = {}) {
    this.#baseUrl = gate.baseUrl;
    this.#host = new URL(gate.baseUrl).hostname;
    this.#tokenFile = gate.tokenFile;
    this.where = `the gate at ${gate.baseUrl}`;
    this.hint = remoteHint(gate);
    this.#client = Deno.createHttpClient({
      ...(gate.caPems.length ? { caCerts: gate.caPems } : {}),
      ...(gate.bundle ? { cert: gate.bundle.certPem, key: gate.bundle.keyPem } : {}),
    });
    this.#fetch = options.fetchFn ?? fetch;
  }

  async send(request: GateRequest): Promise<Response> {
    const headers: Record<string, string> = { ...request.headers };
    if (this.#tokenFile !== undefined) {
      try {
        headers.authorization = `Bearer ${await readBearerToken(this.#tokenFile, request.signal)}`;
      } catch (err) {
        if (request.signal.aborted) throw err;
        if (err instanceof TokenFileError) throw new GateUnreachableError(err.message);
        throw err;
      }
    }
    const init: RequestInit & { client: Deno.HttpClient } = {
      method: request.method,
      headers,
      body: request.body,
      signal: request.signal,
      client: this.#client,
      // A redirect is the gate's (or a routed upstream's) answer to pass on, never one to follow.
      redirect: "manual",
    };
    try {
      return await this.#fetch(`${this.#baseUrl}${request.path}`, init);
    } catch (err) {
      if (request.signal.aborted) throw err;
      const reason = tcpFailureReason(err, this.#host) ?? connectFailureReason(err);
      throw new GateUnreachableError(reason, { cause: err });
    }
  }

  close(): void {
    this.#client.close();
  }
}
