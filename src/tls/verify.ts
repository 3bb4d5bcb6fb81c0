/**
 * Checking certificates against the profiles: time validity, the CA's constraints, a leaf's
 * chain, role (EKU), name and SANs, and that a private key belongs to a certificate. Every failure
 * is an InvalidTlsMaterialError naming the file and what is wrong.
 * @module
 */
import { InvalidTlsMaterialError } from "./errors.ts";
import { importPrivateKey } from "./issue.ts";
import { parsePem } from "./pem.ts";
import {
  CLIENT_NAME_URI_PREFIX,
  clientNameProblem,
  DEFAULT_CLIENT_CN,
  DEFAULT_CLIENT_NAME,
  OID_CLIENT_AUTH,
  OID_SERVER_AUTH,
  SERVER_SUBJECT,
  x509,
} from "./profile.ts";

/** Parses the single CERTIFICATE block of `pem`. */
export function parseCertificate(pem: string, what: string): x509.X509Certificate {
  const blocks = parsePem(pem, what);
  if (blocks.length !== 1 || blocks[0].label !== "CERTIFICATE") {
    throw new InvalidTlsMaterialError(`${what}: expected exactly one CERTIFICATE block`);
  }
  return parseCertificateDer(blocks[0].der, what);
}

/** Parses a DER certificate, turning library errors into a clear one. */
export function parseCertificateDer(der: Uint8Array<ArrayBuffer>, what: string) {
  try {
    return new x509.X509Certificate(der);
  } catch {
    throw new InvalidTlsMaterialError(`${what}: not a parsable X.509 certificate`);
  }
}

/** Parses the single PRIVATE KEY (PKCS#8, ECDSA P-256) block of `pem`. */
export async function parsePrivateKey(pem: string, what: string): Promise<CryptoKey> {
  const blocks = parsePem(pem, what);
  if (blocks.length !== 1 || blocks[0].label !== "PRIVATE KEY") {
    throw new InvalidTlsMaterialError(`${what}: expected exactly one PRIVATE KEY (PKCS#8) block`);
  }
  return await importKey(blocks[0].der, what);
}

/** Imports PKCS#8 DER as an ECDSA P-256 key. */
export async function importKey(der: Uint8Array<ArrayBuffer>, what: string): Promise<CryptoKey> {
  try {
    return await importPrivateKey(der);
  } catch {
    throw new InvalidTlsMaterialError(`${what}: not a PKCS#8 ECDSA P-256 private key`);
  }
}

/** Throws unless notBefore ≤ now < notAfter. */
export function checkTimeValid(cert: x509.X509Certificate, now: Date, what: string): void {
  if (now < cert.notBefore) {
    throw new InvalidTlsMaterialError(
      `${what} is not valid yet (from ${cert.notBefore.toISOString()}); check the clock`,
    );
  }
  if (now >= cert.notAfter) {
    throw new InvalidTlsMaterialError(`${what} expired at ${cert.notAfter.toISOString()}`);
  }
}

/** Throws unless `cert` is a time-valid, self-signed CA allowed to sign certificates. */
export async function checkCa(cert: x509.X509Certificate, now: Date, what: string) {
  checkTimeValid(cert, now, what);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca) throw new InvalidTlsMaterialError(`${what} is not a CA (BasicConstraints CA=false)`);
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  if (!ku || !(ku.usages & x509.KeyUsageFlags.keyCertSign)) {
    throw new InvalidTlsMaterialError(`${what} may not sign certificates (no keyCertSign)`);
  }
  if (cert.subject !== cert.issuer || !(await verifySignature(cert, cert))) {
    throw new InvalidTlsMaterialError(`${what} is not a valid self-signed certificate`);
  }
}

async function verifySignature(cert: x509.X509Certificate, issuer: x509.X509Certificate) {
  try {
    return await cert.verify({ publicKey: issuer.publicKey, signatureOnly: true });
  } catch {
    return false;
  }
}

/** The role a leaf is checked for. */
export type LeafRole = "server" | "client";

/**
 * Throws unless `cert` is a time-valid leaf issued and signed by `ca`, CA=false, carrying its
 * role's EKU and not the other's. Server: exact subject and the localhost/127.0.0.1 SANs.
 * Client: a name (see clientNameOf).
 */
export async function checkLeaf(
  cert: x509.X509Certificate,
  ca: x509.X509Certificate,
  role: LeafRole,
  now: Date,
  what: string,
): Promise<void> {
  if (cert.issuer !== ca.subject || !(await verifySignature(cert, ca))) {
    throw new InvalidTlsMaterialError(`${what} was not issued by this CA (${ca.subject})`);
  }
  checkTimeValid(cert, now, what);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (!bc || bc.ca) {
    throw new InvalidTlsMaterialError(`${what} must carry BasicConstraints CA=false`);
  }
  const usages = (cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? []).map(String);
  const [own, other] = role === "server"
    ? [OID_SERVER_AUTH, OID_CLIENT_AUTH]
    : [OID_CLIENT_AUTH, OID_SERVER_AUTH];
  if (!usages.includes(own) || usages.includes(other)) {
    throw new InvalidTlsMaterialError(
      `${what} has the wrong extended key usage: it must allow ${role} authentication only`,
    );
  }
  if (role === "server") {
    if (cert.subject !== SERVER_SUBJECT) {
      throw new InvalidTlsMaterialError(
        `${what} has subject ${cert.subject}, not ${SERVER_SUBJECT}`,
      );
    }
    const sans = sansOf(cert);
    for (const need of ["DNS:localhost", "IP:127.0.0.1"]) {
      if (!sans.includes(need)) throw new InvalidTlsMaterialError(`${what} lacks the SAN ${need}`);
    }
  } else if (clientNameOf(cert) === undefined) {
    throw new InvalidTlsMaterialError(
      `${what} carries no client name (CN=${DEFAULT_CLIENT_CN}, or CN=<name> with the SAN ` +
        `URI:${CLIENT_NAME_URI_PREFIX}<name>)`,
    );
  }
}

/** The SANs of `cert` as `DNS:x`, `IP:x`, `URI:x`. */
export function sansOf(cert: x509.X509Certificate): string[] {
  const ext = cert.getExtension(x509.SubjectAlternativeNameExtension);
  if (!ext) return [];
  const kinds: Record<string, string> = { dns: "DNS", ip: "IP", url: "URI" };
  return ext.names.toJSON().map((n) => `${kinds[n.type] ?? n.type}:${n.value}`);
}

/**
 * The client name a certificate proves: `default` for upstream's shared client, `<name>` for a
 * named client whose CN and URI SAN agree, otherwise undefined (unnamed: refuse it).
 */
export function clientNameOf(cert: x509.X509Certificate): string | undefined {
  const cn = commonName(cert.subject);
  const uris = sansOf(cert).filter((s) => s.startsWith("URI:")).map((s) => s.slice(4));
  return clientNameFrom(cn, uris);
}

/**
 * The same decision from what node:tls reports for a peer (`getPeerCertificate()`): its
 * `subject.CN` and `subjectaltname` string (`URI:…, DNS:…`).
 */
export function clientNameOfPeer(
  peer: { subject?: { CN?: string | string[] }; subjectaltname?: string },
): string | undefined {
  const cn = Array.isArray(peer.subject?.CN) ? undefined : peer.subject?.CN;
  const uris = (peer.subjectaltname ?? "").split(/,\s*/).filter((s) => s.startsWith("URI:"))
    .map((s) => s.slice(4));
  return clientNameFrom(cn, uris);
}

function clientNameFrom(cn: string | undefined, uris: string[]): string | undefined {
  const named = uris.filter((u) => u.startsWith(CLIENT_NAME_URI_PREFIX));
  if (named.length === 0) {
    return cn === DEFAULT_CLIENT_CN && uris.length === 0 ? DEFAULT_CLIENT_NAME : undefined;
  }
  if (named.length !== 1) return undefined;
  const name = named[0].slice(CLIENT_NAME_URI_PREFIX.length);
  return name === cn && clientNameProblem(name) === undefined ? name : undefined;
}

function commonName(subject: string): string | undefined {
  const parts = subject.split(/,\s*/);
  if (parts.length !== 1 || !parts[0].startsWith("CN=")) return undefined;
  return parts[0].slice(3);
}

/** Throws unless `privateKey` is the private half of `cert`'s public key. */
export async function checkKeyMatches(
  cert: x509.X509Certificate,
  privateKey: CryptoKey,
  what: string,
): Promise<void> {
  const priv = await crypto.subtle.exportKey("jwk", privateKey);
  let pub: JsonWebKey;
  try {
    pub = await crypto.subtle.exportKey("jwk", await cert.publicKey.export(crypto));
  } catch {
    throw new InvalidTlsMaterialError(`${what}: the certificate's key is not ECDSA P-256`);
  }
  if (priv.crv !== pub.crv || priv.x !== pub.x || priv.y !== pub.y) {
    throw new InvalidTlsMaterialError(`${what}: the private key does not match the certificate`);
  }
}
