/**
 * Nested with-prod: a with-prod started inside another one's wrapped command reuses the parent's
 * proxy instead of asking the human again, but only when the sentinel names a literal loopback
 * address and the parent proves, without minting anything, that its gate session is alive.
 * @module
 */
import { fetchWithDeadline } from "../http/deadline_fetch.ts";
import { PROD_SESSION_VAR } from "./child_env.ts";

/** Each probe's deadline. */
export const PROBE_MS = 2_000;

/** The parent session found. */
export interface ParentSession {
  metadataHost: string;
  email: string;
  projectId: string;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** The sentinel's host if it is a literal loopback `host:port`, else undefined. */
export function loopbackSentinel(value: string | undefined): string | undefined {
  if (!value) return undefined;
  let url: URL;
  try {
    url = new URL(`http://${value}`);
  } catch {
    return undefined;
  }
  if (url.username || url.password || url.pathname !== "/" || url.search || url.hash) {
    return undefined;
  }
  if (!LOOPBACK.has(url.hostname.toLowerCase())) return undefined;
  return url.host;
}

/**
 * Looks for a live parent session. Any failure means "not nested" (a fresh session is started);
 * `warn` is told when the sentinel is present but not a loopback address.
 */
export async function detectParentSession(
  env: Record<string, string | undefined>,
  warn: (line: string) => void,
  fetchFn: typeof fetch = fetch,
): Promise<ParentSession | undefined> {
  const raw = env[PROD_SESSION_VAR];
  if (!raw) return undefined;
  const host = loopbackSentinel(raw);
  if (!host) {
    warn(`with-prod: ignoring ${PROD_SESSION_VAR}: not a loopback host:port`);
    return undefined;
  }
  const get = (path: string) =>
    fetchWithDeadline(`http://${host}${path}`, {
      timeoutMs: PROBE_MS,
      what: "probing the parent with-prod proxy",
      headers: { "Metadata-Flavor": "Google" },
      fetchFn,
    });
  try {
    const root = await get("/");
    if (!root.ok || root.headers.get("metadata-flavor") !== "Google") return undefined;
    const health = await get("/session-health");
    if (health.status === 404) {
      // A parent without /session-health: fall back to a token that must still be valid.
      const token = await get("/computeMetadata/v1/instance/service-accounts/default/token");
      if (!token.ok || !(Number(JSON.parse(token.text).expires_in) > 0)) return undefined;
    } else if (!health.ok) {
      return undefined;
    }
    const email = await get("/computeMetadata/v1/instance/service-accounts/default/email");
    const project = await get("/computeMetadata/v1/project/project-id");
    if (!email.ok || !project.ok) return undefined;
    const e = email.text.trim();
    const p = project.text.trim();
    if (!e || !p) return undefined;
    return { metadataHost: host, email: e, projectId: p };
  } catch {
    return undefined;
  }
}
