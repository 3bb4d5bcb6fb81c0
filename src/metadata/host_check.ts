/**
 * The `Host` allowlist that defeats DNS rebinding: a web page whose name re-resolves to
 * 127.0.0.1 still sends its own name as `Host`, so only names a metadata client uses get in.
 * @module
 */

/** Names clients address the metadata server by, with or without a port. */
export const METADATA_NAMES: readonly string[] = [
  "169.254.169.254",
  "metadata.google.internal",
  "metadata.google.internal.",
  "metadata",
];

const WILDCARD = new Set(["0.0.0.0", "::", "[::]"]);

/** `::1` → `[::1]`: the way an IPv6 address appears in a `Host` header. */
export function hostForUrl(address: string): string {
  return address.includes(":") && !address.startsWith("[") ? `[${address}]` : address;
}

/** Whether `address` is a loopback address (or `localhost`). */
export function isLoopback(address: string): boolean {
  const a = address.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return a === "localhost" || a === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

function isIpLiteral(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || /^\[[0-9a-f:.]+\]$/i.test(host);
}

function splitHostPort(value: string): [string, string | undefined] {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(value);
  return m ? [m[1], m[2]] : [value, undefined];
}

/**
 * Whether a request's `Host` header is one the proxy serves: the bind address, `localhost` or
 * `127.0.0.1` on the bound port, or a metadata name (port-less, `:80`, or the bound port). A
 * wildcard bind accepts any IP literal on the bound port, since rebinding needs a DNS name.
 */
export function hostAllowed(host: string | null, bind: string, port: number): boolean {
  if (host === null) return false;
  const [name, hostPort] = splitHostPort(host.trim().toLowerCase());
  const samePort = hostPort === String(port);
  if (METADATA_NAMES.includes(name)) {
    return hostPort === undefined || hostPort === "80" || samePort;
  }
  if (!samePort) return false;
  const bound = hostForUrl(bind.toLowerCase());
  if (name === bound || name === "localhost") return true;
  if (isLoopback(bind) && name === "127.0.0.1") return true;
  return WILDCARD.has(bind) && isIpLiteral(name);
}

/**
 * `check` with the last Host it allowed remembered, so the warm path's steady stream of one Host
 * costs a string comparison. Only for a pure `check` (its answer depends on the Host alone); one
 * remembered value, so nothing grows.
 */
export function rememberLastAllowed(
  check: (host: string | null) => boolean,
): (host: string | null) => boolean {
  let allowed: string | undefined;
  return (host) => {
    if (host !== null && host === allowed) return true;
    const ok = check(host);
    if (ok && host !== null) allowed = host;
    return ok;
  };
}
