/**
 * What the gate's TCP listener loads at start: the CA, its server certificate and key, and the
 * live revocation list, from a tls_dir it refuses unless safe (0700 directory, 0600 regular files,
 * ours, no symlinks) and valid (CA constraints, server profile, chain, key, time). The CA key is
 * never read by the gate.
 * @module
 */
import { InvalidTlsMaterialError } from "./errors.ts";
import { checkPrivateDir, readPrivateFile } from "./files.ts";
import { FILES, x509 } from "./profile.ts";
import { RevocationList } from "./revocation.ts";
import {
  checkCa,
  checkKeyMatches,
  checkLeaf,
  parseCertificate,
  parsePrivateKey,
  sansOf,
} from "./verify.ts";

/** The gate's server-side TLS material, validated. */
export interface GateTlsMaterial {
  dir: string;
  /** PEM texts for node:https (`ca`, `cert`, `key`). */
  caPem: string;
  certPem: string;
  keyPem: string;
  ca: x509.X509Certificate;
  server: x509.X509Certificate;
  /** The server certificate's SANs (`DNS:x`, `IP:x`), for the banner. */
  serverSans: string[];
  /** Revoked client serials; re-read on change. Already loaded once. */
  revocation: RevocationList;
  /** Problems that do not stop the gate (printed at start). */
  warnings: string[];
}

/** Reads a required file of the material or says how to create it. */
export async function readMaterialFile(dir: string, name: string): Promise<string> {
  const text = await readPrivateFile(`${dir}/${name}`);
  if (text === undefined) {
    throw new InvalidTlsMaterialError(
      `TLS material not found: ${dir}/${name} is missing; run: authcalator init-tls --tls-dir ${dir}`,
    );
  }
  return text;
}

/**
 * Loads and validates the server material of `dir`. Throws UnsafeTlsFileError for unsafe files and
 * InvalidTlsMaterialError for missing or invalid material; the message says what to run.
 */
export async function loadTlsMaterial(dir: string, now = new Date()): Promise<GateTlsMaterial> {
  await checkPrivateDir(dir);
  const caPem = await readMaterialFile(dir, FILES.ca);
  const certPem = await readMaterialFile(dir, FILES.server);
  const keyPem = await readMaterialFile(dir, FILES.serverKey);
  const ca = parseCertificate(caPem, `${dir}/${FILES.ca}`);
  const server = parseCertificate(certPem, `${dir}/${FILES.server}`);
  const hint = `; run: authcalator init-tls --tls-dir ${dir}`;
  try {
    await checkCa(ca, now, `the CA certificate ${dir}/${FILES.ca}`);
  } catch (err) {
    const message = (err as Error).message;
    if (/not valid yet/.test(message)) throw err;
    throw new InvalidTlsMaterialError(
      `${message}; replace it with: authcalator init-tls --rotate-ca --tls-dir ${dir} ` +
        `(then re-issue every client bundle)`,
    );
  }
  try {
    await checkLeaf(server, ca, "server", now, `the server certificate ${dir}/${FILES.server}`);
    await checkKeyMatches(
      server,
      await parsePrivateKey(keyPem, `${dir}/${FILES.serverKey}`),
      `${dir}/${FILES.serverKey}`,
    );
  } catch (err) {
    throw new InvalidTlsMaterialError(`${(err as Error).message}${hint}`);
  }
  const warnings: string[] = [];
  const serverSans = sansOf(server);
  if (!serverSans.includes("DNS:host.docker.internal")) {
    warnings.push("the server certificate lacks DNS:host.docker.internal (containers use it)");
  }
  const revocation = new RevocationList(dir, ca);
  await revocation.refresh();
  if (revocation.problem) throw new InvalidTlsMaterialError(revocation.problem);
  return { dir, caPem, certPem, keyPem, ca, server, serverSans, revocation, warnings };
}
