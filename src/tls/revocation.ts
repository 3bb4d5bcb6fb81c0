/**
 * The revocation list: an X.509 CRL (`revoked.crl.pem`, PEM `X509 CRL`) in tls_dir, signed by the
 * CA, listing revoked client serials. `init-tls --revoke` writes it; the gate's TCP listener holds a
 * RevocationList that re-reads the file when it changes, so a revocation takes effect on the next
 * handshake without a restart. A list that cannot be trusted (unsafe file, bad signature, garbage)
 * fails closed: every certificate counts as revoked until the file is fixed.
 * @module
 */
import { InvalidTlsMaterialError } from "./errors.ts";
import { readPrivateFile } from "./files.ts";
import type { Issuer, RevokedEntry } from "./issue.ts";
import { issueCrl } from "./issue.ts";
import { parsePem } from "./pem.ts";
import { FILES, normalizeSerial, x509 } from "./profile.ts";

/** Parses and verifies a CRL against `ca`; returns its entries. */
export async function parseCrl(
  text: string,
  ca: x509.X509Certificate,
  what: string,
): Promise<RevokedEntry[]> {
  const blocks = parsePem(text, what);
  if (blocks.length !== 1 || blocks[0].label !== "X509 CRL") {
    throw new InvalidTlsMaterialError(`${what}: expected exactly one X509 CRL block`);
  }
  let crl: x509.X509Crl;
  try {
    crl = new x509.X509Crl(blocks[0].der);
  } catch {
    throw new InvalidTlsMaterialError(`${what}: not a parsable CRL`);
  }
  let signed = false;
  try {
    signed = crl.issuer === ca.subject && await crl.verify({ publicKey: ca.publicKey });
  } catch {
    signed = false;
  }
  if (!signed) throw new InvalidTlsMaterialError(`${what} is not signed by this CA`);
  return crl.entries.map((e) => ({
    serial: normalizeSerial(e.serialNumber),
    revokedAt: e.revocationDate,
  }));
}

/** Reads the CRL of `dir` (an empty list when there is none). */
export async function readRevoked(dir: string, ca: x509.X509Certificate) {
  const path = `${dir}/${FILES.crl}`;
  const text = await readPrivateFile(path);
  return text === undefined ? [] : await parseCrl(text, ca, path);
}

/** Adds `serial` to the CRL of `dir` (re-signed by the CA); false when it was already there. */
export async function addRevoked(
  dir: string,
  issuer: Issuer,
  serial: string,
  now: Date,
  write: (path: string, text: string) => Promise<void>,
): Promise<boolean> {
  const entries = await readRevoked(dir, issuer.cert);
  const wanted = normalizeSerial(serial);
  if (entries.some((e) => e.serial === wanted)) return false;
  entries.push({ serial: wanted, revokedAt: now });
  await write(`${dir}/${FILES.crl}`, await issueCrl(issuer, now, entries));
  return true;
}

/** Anything that has a serial: a parsed certificate, node's peer certificate, or the hex itself. */
export type HasSerial = string | { serialNumber: string };

/**
 * The live revocation list of a running gate. `isRevoked` checks the file's identity (inode, size,
 * mode, owner, mtime, ctime) on each call and re-reads it when any changed; call `refresh()` once
 * at start to load it.
 */
export class RevocationList {
  #revoked = new Set<string>();
  #stamp = "";
  #problem: string | undefined;
  #loading: Promise<void> | undefined;

  constructor(readonly dir: string, readonly ca: x509.X509Certificate) {}

  /** Why the list is failing closed, or undefined when it is healthy. */
  get problem(): string | undefined {
    return this.#problem;
  }

  /** The revoked serials, normalised (for /health and tests). */
  get serials(): string[] {
    return [...this.#revoked];
  }

  /** Re-reads the file if it changed since the last read. */
  async refresh(): Promise<void> {
    const stamp = this.#currentStamp();
    if (stamp === this.#stamp && !this.#loading) return;
    this.#loading ??= this.#load(stamp).finally(() => this.#loading = undefined);
    await this.#loading;
  }

  async #load(stamp: string): Promise<void> {
    try {
      const entries = await readRevoked(this.dir, this.ca);
      this.#revoked = new Set(entries.map((e) => e.serial));
      this.#problem = undefined;
    } catch (err) {
      this.#problem = `revocation list ${this.dir}/${FILES.crl} is unusable, refusing every ` +
        `client until it is fixed: ${err instanceof Error ? err.message : String(err)}`;
    }
    this.#stamp = stamp;
  }

  #currentStamp(): string {
    try {
      const info = Deno.lstatSync(`${this.dir}/${FILES.crl}`);
      const times = [info.mtime, info.ctime].map((t) => t?.getTime());
      return `${info.dev}:${info.ino}:${info.size}:${info.mode}:${info.uid}:${times.join(":")}`;
    } catch (err) {
      return err instanceof Deno.errors.NotFound ? "absent" : `error:${err}`;
    }
  }

  /**
   * Whether `cert` may not connect: its serial is listed, or the list is unusable (fail closed).
   * Picks up a changed file before answering.
   */
  async isRevoked(cert: HasSerial): Promise<boolean> {
    await this.refresh();
    if (this.#problem) return true;
    const serial = typeof cert === "string" ? cert : cert.serialNumber;
    return this.#revoked.has(normalizeSerial(serial));
  }
}
