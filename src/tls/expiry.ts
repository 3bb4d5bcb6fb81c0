/**
 * Which TLS material expires soon: the CA, the server certificate, the shared client and every
 * named client not revoked. The gate prints these at start and reports them in /health; init-tls
 * renews leaves that show up here.
 * @module
 */
import { checkPrivateDir, readPrivateFile } from "./files.ts";
import { EXPIRY_WARNING_DAYS, FILES, normalizeSerial, type x509 } from "./profile.ts";
import { readRevoked } from "./revocation.ts";
import { parseCertificate } from "./verify.ts";

const DAY_MS = 86_400_000;

/** One certificate that expires within the window (or already has). */
export interface ExpiringItem {
  /** `CA`, `server`, or `client <name>`. */
  what: string;
  path: string;
  notAfter: Date;
  /** Whole days left, 0 when expired or expiring today. */
  daysLeft: number;
  expired: boolean;
}

/** A one-line warning for a banner or log. */
export function describeExpiring(item: ExpiringItem): string {
  const when = item.expired
    ? `expired at ${item.notAfter.toISOString()}`
    : `expires in ${item.daysLeft} day(s), at ${item.notAfter.toISOString()}`;
  return `TLS ${item.what} certificate ${when} (${item.path}); renew with: ${renewCommand(item)}`;
}

/**
 * The same warning for a gate client (`/health`): what expires and when, and that the fix is made
 * on the gate's host. No file path: what the container sees never names the host's paths.
 */
export function describeExpiringForClients(item: ExpiringItem): string {
  const when = item.expired
    ? `expired at ${item.notAfter.toISOString()}`
    : `expires in ${item.daysLeft} day(s), at ${item.notAfter.toISOString()}`;
  return `the gate's TLS ${item.what} certificate ${when}; renew it on the gate's host ` +
    "(authcalator init-tls)";
}

function renewCommand(item: ExpiringItem): string {
  if (item.what === "CA") return "authcalator init-tls --rotate-ca (re-issue every client after)";
  const named = /^client (.+)$/.exec(item.what);
  if (named && named[1] !== "default") {
    return `authcalator init-tls --revoke ${named[1]} && authcalator init-tls --client ${named[1]}`;
  }
  return "authcalator init-tls";
}

/**
 * The certificates of `dir` whose notAfter falls before `now + days`. Missing files are skipped;
 * unsafe ones throw (the gate refuses such material anyway).
 */
export async function expiringMaterial(
  dir: string,
  now: Date,
  days = EXPIRY_WARNING_DAYS,
): Promise<ExpiringItem[]> {
  const limit = now.getTime() + days * DAY_MS;
  const found: { what: string; path: string; cert: x509.X509Certificate }[] = [];
  const add = async (what: string, path: string) => {
    const text = await readPrivateFile(path);
    if (text !== undefined) found.push({ what, path, cert: parseCertificate(text, path) });
  };
  await add("CA", `${dir}/${FILES.ca}`);
  await add("server", `${dir}/${FILES.server}`);
  await add("client default", `${dir}/${FILES.client}`);
  const ca = found.find((f) => f.what === "CA")?.cert;
  const revoked = new Set(
    ca ? (await readRevoked(dir, ca).catch(() => [])).map((e) => e.serial) : [],
  );
  for (const name of await namedClients(dir)) {
    await add(`client ${name}`, `${dir}/${FILES.clientsDir}/${name}.pem`);
  }
  return found
    .filter((f) => f.cert.notAfter.getTime() < limit)
    .filter((f) => !revoked.has(normalizeSerial(f.cert.serialNumber)))
    .map((f) => ({
      what: f.what,
      path: f.path,
      notAfter: f.cert.notAfter,
      daysLeft: Math.max(0, Math.floor((f.cert.notAfter.getTime() - now.getTime()) / DAY_MS)),
      expired: f.cert.notAfter.getTime() <= now.getTime(),
    }));
}

/** Names of the clients issued with `init-tls --client`, sorted. */
export async function namedClients(dir: string): Promise<string[]> {
  const names: string[] = [];
  const clients = `${dir}/${FILES.clientsDir}`;
  try {
    await Deno.lstat(clients);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return names;
    throw err;
  }
  await checkPrivateDir(clients);
  try {
    for await (const entry of Deno.readDir(clients)) {
      const m = /^([a-z0-9-]+)\.pem$/.exec(entry.name);
      if (m && entry.isFile) names.push(m[1]);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return names.sort();
}
