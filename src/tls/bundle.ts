/**
 * The client bundle: what a remote metadata-proxy or with-prod presents to the gate. Upstream's
 * format (CA certificate, client certificate, client PKCS#8 key, each PEM, joined by newlines) and
 * its base64 form, parsed strictly and validated before use, from a file, a base64 value or tls_dir.
 * @module
 */
import { InvalidTlsMaterialError } from "./errors.ts";
import { readPrivateFile } from "./files.ts";
import { decodeBase64, parsePem } from "./pem.ts";
import { FILES } from "./profile.ts";
import {
  checkCa,
  checkKeyMatches,
  checkLeaf,
  clientNameOf,
  importKey,
  parseCertificateDer,
} from "./verify.ts";

/** A validated client bundle, ready for a TLS connection (`ca`, `cert`, `key` PEMs). */
export interface ClientBundle {
  caPem: string;
  certPem: string;
  keyPem: string;
  /** The client name the gate will see (`default` for upstream's shared client). */
  name: string;
  serial: string;
  notAfter: Date;
}

/** The bundle text upstream writes: each PEM right-trimmed, joined by `\n`, trailing `\n`. */
export function formatBundle(caPem: string, certPem: string, keyPem: string): string {
  return [caPem, certPem, keyPem].map((p) => p.trimEnd()).join("\n") + "\n";
}

/** PEM text from a bundle value that is PEM, or base64 of PEM (as upstream accepts). */
export function decodeBundleText(raw: string, what: string): string {
  if (raw.includes("-----BEGIN ")) return raw;
  const compact = raw.replace(/\s+/g, "");
  if (compact === "") throw new InvalidTlsMaterialError(`${what} is empty`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(decodeBase64(compact));
  } catch {
    throw new InvalidTlsMaterialError(`${what} is neither PEM nor base64 of PEM`);
  }
  if (!text.includes("-----BEGIN ")) {
    throw new InvalidTlsMaterialError(`${what} is neither PEM nor base64 of PEM`);
  }
  return text;
}

/**
 * Parses and validates a bundle: exactly two CERTIFICATE blocks (CA first, then client) and one
 * PRIVATE KEY, nothing else; the CA valid; the client issued by it, time-valid, clientAuth only,
 * named; the key matching the client certificate.
 */
export async function parseBundle(text: string, now: Date, what = "client bundle") {
  const blocks = parsePem(decodeBundleText(text, what), what);
  const certs = blocks.filter((b) => b.label === "CERTIFICATE");
  const keys = blocks.filter((b) => b.label === "PRIVATE KEY");
  const other = blocks.find((b) => b.label !== "CERTIFICATE" && b.label !== "PRIVATE KEY");
  if (other) throw new InvalidTlsMaterialError(`${what}: unexpected ${other.label} block`);
  if (certs.length !== 2 || keys.length !== 1) {
    throw new InvalidTlsMaterialError(
      `${what}: expected 2 CERTIFICATE blocks (CA, then client) and 1 PRIVATE KEY, found ` +
        `${certs.length} and ${keys.length}`,
    );
  }
  const ca = parseCertificateDer(certs[0].der, `${what} CA certificate`);
  const cert = parseCertificateDer(certs[1].der, `${what} client certificate`);
  await checkCa(ca, now, `${what}: the CA certificate`);
  await checkLeaf(cert, ca, "client", now, `${what}: the client certificate`);
  await checkKeyMatches(cert, await importKey(keys[0].der, `${what} key`), what);
  return {
    caPem: certs[0].pem,
    certPem: certs[1].pem,
    keyPem: keys[0].pem,
    name: clientNameOf(cert)!,
    serial: cert.serialNumber,
    notAfter: cert.notAfter,
  } satisfies ClientBundle;
}

/**
 * Reads and validates a bundle file (`tls_bundle`). The file must be 0600 (no group/other bit)
 * and owned by us or root; a symlink is followed (Kubernetes Secret volumes use them) and its
 * target checked. Missing file: a clear error naming the path.
 */
export async function readBundleFile(path: string, now: Date): Promise<ClientBundle> {
  const text = await readPrivateFile(path, { allowSymlink: true, allowRootOwner: true });
  if (text === undefined) {
    throw new InvalidTlsMaterialError(
      `TLS client bundle ${path} does not exist; copy one made by 'authcalator init-tls'`,
    );
  }
  return await parseBundle(text, now, `TLS client bundle ${path}`);
}

/** The bundle of `tls_dir` (`client-bundle.pem`, or `clients/<name>.bundle.pem` when named). */
export async function readBundleFromDir(dir: string, now: Date, name?: string) {
  const path = name === undefined
    ? `${dir}/${FILES.bundle}`
    : `${dir}/${FILES.clientsDir}/${name}.bundle.pem`;
  return await readBundleFile(path, now);
}
