/**
 * Fetches the default service account's access token from the metadata server kube-token points
 * at. Built on Deno built-ins only, so kube-token starts as fast as `deno run` allows.
 * @module
 */
import {
  type HttpAnswer,
  HttpDeadlineError,
  httpGet,
  HttpProtocolError,
} from "../http/raw_http.ts";

/** The metadata host kube-token uses when `GCE_METADATA_HOST` is unset or empty. */
export const DEFAULT_METADATA_HOST = "127.0.0.1:8173";
/** The token route of the GCE metadata server. */
export const TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token";
/** Deadline for the whole exchange (connect, headers and body). */
export const TOKEN_TIMEOUT_MS = 5000;

/** A failure kube-token reports as `kube-token: <message>` (exit 1). */
export class KubeTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KubeTokenError";
  }
}

const HOST_PORT =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/;

/** The token URL for `host` (`GCE_METADATA_HOST`: host or host:port, no scheme or path). */
export function tokenUrl(host: string): string {
  const m = HOST_PORT.exec(host);
  if (!m || (m[1] !== undefined && Number(m[1]) > 65535)) {
    throw new KubeTokenError(
      `GCE_METADATA_HOST must be host or host:port (e.g. ${DEFAULT_METADATA_HOST}), got ${
        JSON.stringify(host)
      }`,
    );
  }
  return `http://${host}${TOKEN_PATH}`;
}

/** Extracts the access token from the metadata server's answer, or explains what was wrong. */
export function tokenFromResponse(host: string, status: number, text: string): string {
  if (status !== 200) {
    throw new KubeTokenError(
      `the metadata server at ${host} answered HTTP ${status}${detailOf(text)}`,
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new KubeTokenError(
      `the metadata server at ${host} answered with a body that is not JSON`,
    );
  }
  const token = typeof body === "object" && body !== null
    ? (body as Record<string, unknown>).access_token
    : undefined;
  if (typeof token !== "string" || token === "") {
    throw new KubeTokenError(
      `the metadata server at ${host} answered without an access_token`,
    );
  }
  return token;
}

/** The `error` field of a JSON error body, short and on one line; never the raw body. */
function detailOf(text: string): string {
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    const error = body?.error;
    const message = typeof error === "string"
      ? error
      : typeof (error as Record<string, unknown>)?.message === "string"
      ? (error as Record<string, string>).message
      : undefined;
    if (message) return `: ${message.replace(/\s+/g, " ").slice(0, 200)}`;
  } catch { /* not JSON: say nothing about the body */ }
  return "";
}

/** The HTTP GET kube-token uses; tests pass fakes with the same shape. */
export type HttpGet = typeof httpGet;

/** Options for {@link fetchMetadataToken}. */
export interface FetchTokenOptions {
  get?: HttpGet;
  timeoutMs?: number;
}

/** GETs the token from `host` with `Metadata-Flavor: Google`, all within one deadline. */
export async function fetchMetadataToken(
  host: string,
  options: FetchTokenOptions = {},
): Promise<string> {
  tokenUrl(host);
  const get = options.get ?? httpGet;
  const timeoutMs = options.timeoutMs ?? TOKEN_TIMEOUT_MS;
  let res: HttpAnswer;
  try {
    res = await get(
      host,
      TOKEN_PATH,
      { "Metadata-Flavor": "Google", Accept: "application/json" },
      timeoutMs,
      `waiting for a token from the metadata server at ${host}`,
    );
  } catch (err) {
    throw new KubeTokenError(unreachableMessage(host, err));
  }
  return tokenFromResponse(host, res.status, res.body);
}

function unreachableMessage(host: string, err: unknown): string {
  if (err instanceof HttpDeadlineError) return err.message;
  if (err instanceof Deno.errors.NotCapable) {
    return `not permitted to reach ${host}: kube-token may reach a metadata proxy on loopback ` +
      "(127.0.0.1, localhost or [::1], any port) only; run `authcalator metadata-proxy` " +
      "in this container and point GCE_METADATA_HOST at it";
  }
  const why = err instanceof HttpProtocolError
    ? `it did not answer in HTTP: ${err.message}`
    : err instanceof Deno.errors.ConnectionRefused
    ? "connection refused"
    : err instanceof Error && /lookup|resolve|name or service/i.test(err.message)
    ? "host name not found"
    : err instanceof Error
    ? err.message
    : String(err);
  return `cannot reach the metadata server at ${host} (${why}); ` +
    "is `authcalator metadata-proxy` running, and is GCE_METADATA_HOST right?";
}
