/**
 * Who may ask at all: the one home of the refusal rules every metadata request passes before
 * routing (Host allowlist, proxied requests, method, `Metadata-Flavor`). The Hono middleware and
 * the warm-token fast path both call {@link admissionCheck}, so a rule added here holds on both
 * paths and cannot drift between them.
 * @module
 */
import { errorPage } from "./responses.ts";

/**
 * Headers a forwarding proxy adds. Their presence means the request came through something that
 * relays for others (a web page's fetch via a proxy, an SSRF hop), so it is refused as the real
 * metadata server refuses `X-Forwarded-For`.
 */
export const PROXY_HEADERS: readonly string[] = ["X-Forwarded-For", "Forwarded", "X-Real-IP"];

/** The 403 detail when `Metadata-Flavor: Google` is absent. */
export const FLAVOR_MISSING = "Missing Metadata-Flavor:Google header.";

/**
 * The request's URL, even when its `Host` makes the whole URL unparsable (`a:b:c`, `[::1`): the
 * runtime builds `request.url` from the Host header, so a hostile Host must not turn parsing into
 * a 500 before the Host rule gets to refuse it. The path and query are kept; the host is not.
 */
export function requestUrl(url: string): URL {
  try {
    return new URL(url);
  } catch {
    const start = url.indexOf("/", url.indexOf("//") + 2);
    return new URL(start < 0 ? "/" : url.slice(start), "http://unparsable-host.invalid");
  }
}

/** Decides a request's admission: a refusal page, or undefined to let it through. */
export type AdmissionCheck = (
  method: string,
  headers: Headers,
  path: string,
  hasQuery: boolean,
) => Response | undefined;

/**
 * The admission rules for one app. `hostAllowed` accepts or refuses the `Host` header (DNS
 * rebinding); absent, any Host is accepted. Rules apply in order: Host, proxy headers, method,
 * then the flavor header, which the bare root without a query does not need (Go's and Java's
 * detection probes send none; `/?recursive=true` would show the whole tree, so it needs it).
 */
export function admissionCheck(hostAllowed?: (host: string | null) => boolean): AdmissionCheck {
  return (method, headers, path, hasQuery) => {
    if (hostAllowed && !hostAllowed(headers.get("host"))) {
      return errorPage(403, path, "Requests for this Host are not allowed.");
    }
    for (const name of PROXY_HEADERS) {
      if (headers.has(name)) {
        return errorPage(403, path, `Proxied requests (${name}) are not allowed.`);
      }
    }
    if (method !== "GET") return errorPage(405, path, method);
    const probe = path === "/" && !hasQuery;
    if (!probe && headers.get("metadata-flavor") !== "Google") {
      return errorPage(403, path, FLAVOR_MISSING);
    }
    return undefined;
  };
}
