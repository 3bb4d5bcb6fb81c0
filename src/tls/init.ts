/**
 * What `authcalator init-tls` does to a tls_dir, as a library: create the material once, keep the
 * CA on every later run (renewing only leaves that are invalid or close to expiry, and repairing
 * the bundle), rotate the CA only when asked, issue named clients and revoke them.
 * @module
 */
import { formatBundle } from "./bundle.ts";
import { InvalidTlsMaterialError } from "./errors.ts";
import { expiringMaterial, namedClients } from "./expiry.ts";
import { ensurePrivateDir, readPrivateFile, writePrivateFile } from "./files.ts";
import { issueCa, issueClient, type Issued, type Issuer, issueServer } from "./issue.ts";
import {
  clientNameProblem,
  DEFAULT_SERVER_SANS,
  EXPIRY_WARNING_DAYS,
  FILES,
  looksLikeSerial,
  normalizeSerial,
} from "./profile.ts";
import { addRevoked, readRevoked } from "./revocation.ts";
import { toPem } from "./pem.ts";
import {
  checkCa,
  checkKeyMatches,
  checkLeaf,
  type LeafRole,
  parseCertificate,
  parsePrivateKey,
  sansOf,
} from "./verify.ts";

const DAY_MS = 86_400_000;

/** What an init-tls run did, for the command to print. */
export interface InitReport {
  dir: string;
  /** `created` (no CA before), `kept` (existing CA), `rotated` (--rotate-ca). */
  ca: "created" | "kept" | "rotated";
  caNotAfter: Date;
  /** Files written, by name. */
  written: string[];
  /** Why leaves were renewed (e.g. "server: expires within 14 days"). */
  renewed: string[];
  /** Named clients whose bundles stopped working because the CA rotated. */
  invalidatedClients: string[];
  serverSans: string[];
  warnings: string[];
}

/** Options of an init-tls run. */
export interface InitOptions {
  now: Date;
  rotateCa?: boolean;
  /** Extra server SANs (`DNS:x` / `IP:x`, see parseSan); the server certificate is re-issued to add missing ones. */
  sans?: readonly string[];
}

/** Reads the CA and its key; undefined when neither exists; throws when only one does or invalid. */
async function readCa(dir: string, now: Date): Promise<Issuer | undefined> {
  const certPem = await readPrivateFile(`${dir}/${FILES.ca}`);
  const keyPem = await readPrivateFile(`${dir}/${FILES.caKey}`);
  if (certPem === undefined && keyPem === undefined) return undefined;
  const rotate = `; to start over with a new CA (every client bundle must then be re-issued): ` +
    `authcalator init-tls --rotate-ca --tls-dir ${dir}`;
  if (certPem === undefined || keyPem === undefined) {
    const missing = certPem === undefined ? FILES.ca : FILES.caKey;
    throw new InvalidTlsMaterialError(`${dir}/${missing} is missing; restore it${rotate}`);
  }
  try {
    const cert = parseCertificate(certPem, `${dir}/${FILES.ca}`);
    await checkCa(cert, now, `the CA certificate ${dir}/${FILES.ca}`);
    const privateKey = await parsePrivateKey(keyPem, `${dir}/${FILES.caKey}`);
    await checkKeyMatches(cert, privateKey, `${dir}/${FILES.caKey}`);
    return { cert, privateKey };
  } catch (err) {
    if (err instanceof InvalidTlsMaterialError) {
      throw new InvalidTlsMaterialError(`${err.message}; init-tls keeps the CA${rotate}`);
    }
    throw err;
  }
}

/** Why an existing leaf must be re-issued, or undefined when it is fine as it is. */
async function leafProblem(
  dir: string,
  issuer: Issuer,
  role: LeafRole,
  certName: string,
  keyName: string,
  now: Date,
  wantedSans: readonly string[] = [],
): Promise<string | undefined> {
  const certPem = await readPrivateFile(`${dir}/${certName}`);
  const keyPem = await readPrivateFile(`${dir}/${keyName}`);
  if (certPem === undefined || keyPem === undefined) return "missing";
  try {
    const cert = parseCertificate(certPem, certName);
    await checkLeaf(cert, issuer.cert, role, now, certName);
    await checkKeyMatches(cert, await parsePrivateKey(keyPem, keyName), keyName);
    if (cert.notAfter.getTime() - now.getTime() < EXPIRY_WARNING_DAYS * DAY_MS) {
      return `expires within ${EXPIRY_WARNING_DAYS} days`;
    }
    const have = sansOf(cert);
    const lacking = wantedSans.filter((s) => !have.includes(s));
    if (lacking.length) return `adding SAN ${lacking.join(", ")}`;
    return undefined;
  } catch (err) {
    if (err instanceof InvalidTlsMaterialError) return err.message;
    throw err;
  }
}

async function writeLeaf(dir: string, issued: Issued, certName: string, keyName: string) {
  await writePrivateFile(`${dir}/${certName}`, issued.certPem);
  await writePrivateFile(`${dir}/${keyName}`, issued.keyPem);
}

/**
 * Creates or maintains the material of `dir`. Without `rotateCa` an existing CA is never replaced:
 * an invalid one is an error that says what `--rotate-ca` would break.
 */
export async function initTls(dir: string, options: InitOptions): Promise<InitReport> {
  const { now } = options;
  await ensurePrivateDir(dir);
  const report: InitReport = {
    dir,
    ca: "kept",
    caNotAfter: now,
    written: [],
    renewed: [],
    invalidatedClients: [],
    serverSans: [],
    warnings: [],
  };
  let issuer = options.rotateCa ? undefined : await readCa(dir, now);
  const existingServerSans = await currentServerSans(dir);
  if (!issuer) {
    const hadCa = await Deno.lstat(`${dir}/${FILES.ca}`).then(() => true, () => false);
    report.ca = options.rotateCa && hadCa ? "rotated" : "created";
    if (report.ca === "rotated") report.invalidatedClients = await namedClients(dir);
    const ca = await issueCa(now);
    await writeLeaf(dir, ca, FILES.ca, FILES.caKey);
    report.written.push(FILES.ca, FILES.caKey);
    issuer = { cert: ca.cert, privateKey: ca.keys.privateKey };
    await Deno.remove(`${dir}/${FILES.crl}`).catch(() => {});
    await Deno.remove(`${dir}/${FILES.clientsDir}`, { recursive: true }).catch(() => {});
  }
  report.caNotAfter = issuer.cert.notAfter;
  const wantedSans = unique([
    ...DEFAULT_SERVER_SANS,
    ...existingServerSans,
    ...(options.sans ?? []),
  ]);
  const fresh = report.ca !== "kept";
  const serverWhy = fresh
    ? "new CA"
    : await leafProblem(dir, issuer, "server", FILES.server, FILES.serverKey, now, wantedSans);
  if (serverWhy) {
    await writeLeaf(dir, await issueServer(issuer, now, wantedSans), FILES.server, FILES.serverKey);
    report.written.push(FILES.server, FILES.serverKey);
    if (!fresh) report.renewed.push(`server: ${serverWhy}`);
  }
  report.serverSans = sansOf(parseCertificate(
    (await readPrivateFile(`${dir}/${FILES.server}`))!,
    FILES.server,
  ));
  const clientWhy = fresh
    ? "new CA"
    : await leafProblem(dir, issuer, "client", FILES.client, FILES.clientKey, now);
  if (clientWhy) {
    await writeLeaf(dir, await issueClient(issuer, now), FILES.client, FILES.clientKey);
    report.written.push(FILES.client, FILES.clientKey);
    if (!fresh) report.renewed.push(`client default: ${clientWhy}`);
  }
  const bundle = formatBundle(
    (await readPrivateFile(`${dir}/${FILES.ca}`))!,
    (await readPrivateFile(`${dir}/${FILES.client}`))!,
    (await readPrivateFile(`${dir}/${FILES.clientKey}`))!,
  );
  const stored = await readPrivateFile(`${dir}/${FILES.bundle}`);
  if (stored !== bundle) {
    await writePrivateFile(`${dir}/${FILES.bundle}`, bundle);
    report.written.push(FILES.bundle);
  }
  if (issuer.cert.notAfter.getTime() - now.getTime() < 30 * DAY_MS) {
    report.warnings.push(
      `the CA expires at ${issuer.cert.notAfter.toISOString()}; rotate it (--rotate-ca) and ` +
        `re-issue every client before then`,
    );
  }
  for (const item of await expiringMaterial(dir, now)) {
    if (item.what.startsWith("client ") && item.what !== "client default") {
      report.warnings.push(`${item.what} expires at ${item.notAfter.toISOString()}`);
    }
  }
  return report;
}

async function currentServerSans(dir: string): Promise<string[]> {
  const text = await readPrivateFile(`${dir}/${FILES.server}`);
  if (text === undefined) return [];
  try {
    return sansOf(parseCertificate(text, FILES.server)).filter((s) => /^(DNS|IP):/.test(s));
  } catch {
    return [];
  }
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/** A named client just issued. */
export interface IssuedClient {
  name: string;
  serial: string;
  notAfter: Date;
  certPath: string;
  bundlePath: string;
}

/** Issues `clients/<name>.pem` and `clients/<name>.bundle.pem` from the existing CA. */
export async function issueNamedClient(
  dir: string,
  name: string,
  now: Date,
): Promise<IssuedClient> {
  const problem = clientNameProblem(name);
  if (problem) throw new InvalidTlsMaterialError(problem);
  const issuer = await requireCa(dir, now);
  const clients = `${dir}/${FILES.clientsDir}`;
  await ensurePrivateDir(clients);
  const certPath = `${clients}/${name}.pem`;
  const bundlePath = `${clients}/${name}.bundle.pem`;
  const existing = await readPrivateFile(certPath);
  if (existing !== undefined) {
    const cert = parseCertificate(existing, certPath);
    const revoked = (await readRevoked(dir, issuer.cert)).some((e) =>
      e.serial === normalizeSerial(cert.serialNumber)
    );
    const stillTrusted = revoked ? false : cert.issuer === issuer.cert.subject &&
      await cert.verify({ publicKey: issuer.cert.publicKey, signatureOnly: true }).catch(() =>
        false
      );
    if (stillTrusted) {
      throw new InvalidTlsMaterialError(
        `client ${name} is already issued (serial ${cert.serialNumber}, expires ` +
          `${cert.notAfter.toISOString()}); to replace it, revoke it first: ` +
          `authcalator init-tls --revoke ${name}`,
      );
    }
  }
  const issued = await issueClient(issuer, now, name);
  await writePrivateFile(certPath, issued.certPem);
  await writePrivateFile(
    bundlePath,
    formatBundle(toPem("CERTIFICATE", issuer.cert.rawData), issued.certPem, issued.keyPem),
  );
  return {
    name,
    serial: issued.cert.serialNumber,
    notAfter: issued.cert.notAfter,
    certPath,
    bundlePath,
  };
}

async function requireCa(dir: string, now: Date): Promise<Issuer> {
  await ensurePrivateDir(dir);
  const issuer = await readCa(dir, now);
  if (!issuer) {
    throw new InvalidTlsMaterialError(
      `no CA in ${dir}; run first: authcalator init-tls --tls-dir ${dir}`,
    );
  }
  return issuer;
}

/** What --revoke did. */
export interface Revoked {
  serial: string;
  name?: string;
  /** False when the serial was already on the list. */
  added: boolean;
}

/**
 * Puts a client on the revocation list, by name (`default` is the shared client) or by serial
 * (hex). The server certificate and the CA cannot be revoked this way.
 */
export async function revokeClient(dir: string, target: string, now: Date): Promise<Revoked> {
  const issuer = await requireCa(dir, now);
  let serial: string;
  let name: string | undefined;
  const byName = target === "default"
    ? `${dir}/${FILES.client}`
    : clientNameProblem(target) === undefined
    ? `${dir}/${FILES.clientsDir}/${target}.pem`
    : undefined;
  const text = byName ? await readPrivateFile(byName) : undefined;
  if (text !== undefined) {
    serial = parseCertificate(text, byName!).serialNumber;
    name = target;
  } else if (looksLikeSerial(target)) {
    serial = target;
  } else {
    const known = await namedClients(dir);
    throw new InvalidTlsMaterialError(
      `no client named ${JSON.stringify(target)} in ${dir} (known: default${
        known.map((n) => ", " + n).join("")
      }); a serial number (hex) is also accepted`,
    );
  }
  const normalized = normalizeSerial(serial);
  for (const own of [FILES.ca, FILES.server]) {
    const pem = await readPrivateFile(`${dir}/${own}`);
    if (pem && normalizeSerial(parseCertificate(pem, own).serialNumber) === normalized) {
      throw new InvalidTlsMaterialError(`serial ${serial} is the ${own} certificate, not a client`);
    }
  }
  const added = await addRevoked(dir, issuer, normalized, now, writePrivateFile);
  return { serial: normalized, name, added };
}
