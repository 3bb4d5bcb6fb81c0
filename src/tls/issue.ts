/**
 * Issuing material: keys, the CA, server and client certificates and the signed revocation list,
 * each to the profile in profile.ts. Pure (no files); the clock comes in as `now`.
 * @module
 */
import {
  CA_SUBJECT,
  CA_VALIDITY_DAYS,
  CLIENT_NAME_URI_PREFIX,
  CLOCK_SKEW_MS,
  DEFAULT_CLIENT_CN,
  EC_ALGORITHM,
  LEAF_VALIDITY_DAYS,
  SERVER_SUBJECT,
  x509,
} from "./profile.ts";
import { toPem } from "./pem.ts";

const DAY_MS = 86_400_000;

/** A certificate with the private key that goes with it. */
export interface Issued {
  cert: x509.X509Certificate;
  certPem: string;
  keys: CryptoKeyPair;
  keyPem: string;
}

/** The CA a leaf is issued from. */
export interface Issuer {
  cert: x509.X509Certificate;
  privateKey: CryptoKey;
}

/** 16 random bytes, top bit cleared and first byte non-zero (a minimal, positive DER INTEGER). */
export function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] & 0x7f) || 1;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A fresh extractable ECDSA P-256 key pair. */
export async function newKeys(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(EC_ALGORITHM, true, ["sign", "verify"]);
}

/** PKCS#8 PEM (`BEGIN PRIVATE KEY`) of a private key. */
export async function privateKeyPem(key: CryptoKey): Promise<string> {
  return toPem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", key));
}

/** Imports a PKCS#8 ECDSA P-256 private key (extractable, so its public half can be compared). */
export async function importPrivateKey(der: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  return await crypto.subtle.importKey("pkcs8", der, EC_ALGORITHM, true, ["sign"]);
}

function validity(now: Date, days: number, cap?: Date): { notBefore: Date; notAfter: Date } {
  const notAfter = new Date(now.getTime() + days * DAY_MS);
  return {
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: cap && cap < notAfter ? cap : notAfter,
  };
}

async function finish(cert: x509.X509Certificate, keys: CryptoKeyPair): Promise<Issued> {
  return {
    cert,
    certPem: toPem("CERTIFICATE", cert.rawData),
    keys,
    keyPem: await privateKeyPem(keys.privateKey),
  };
}

/** A self-signed CA: BasicConstraints critical CA=true pathLen=0, KeyUsage keyCertSign|cRLSign. */
export async function issueCa(now: Date, days = CA_VALIDITY_DAYS): Promise<Issued> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: CA_SUBJECT,
    ...validity(now, days),
    keys,
    signingAlgorithm: EC_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
    ],
  });
  return await finish(cert, keys);
}

/** What a leaf certificate carries beyond the profile defaults (tests use the overrides). */
export interface LeafOptions {
  subject: string;
  /** EKU OIDs (critical). */
  usages: string[];
  /** SANs as `DNS:x`, `IP:x` or `URI:x`. */
  sans?: readonly string[];
  days?: number;
  notBefore?: Date;
  notAfter?: Date;
}

/** A leaf signed by `issuer`; its validity never outlasts the issuer's. */
export async function issueLeaf(issuer: Issuer, now: Date, options: LeafOptions): Promise<Issued> {
  const keys = await newKeys();
  const span = validity(now, options.days ?? LEAF_VALIDITY_DAYS, issuer.cert.notAfter);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.ExtendedKeyUsageExtension(options.usages, true),
  ];
  if (options.sans?.length) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(options.sans.map(toGeneralName), false),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: options.subject,
    issuer: issuer.cert.subject,
    notBefore: options.notBefore ?? span.notBefore,
    notAfter: options.notAfter ?? span.notAfter,
    publicKey: keys.publicKey,
    signingKey: issuer.privateKey,
    signingAlgorithm: EC_ALGORITHM,
    extensions,
  });
  return await finish(cert, keys);
}

function toGeneralName(san: string): x509.JsonGeneralName {
  const at = san.indexOf(":");
  const [kind, value] = [san.slice(0, at), san.slice(at + 1)];
  if (kind === "DNS") return { type: "dns", value };
  if (kind === "IP") return { type: "ip", value };
  if (kind === "URI") return { type: "url", value };
  throw new Error(`unsupported SAN ${san}`);
}

/** The gate's server certificate: serverAuth only, upstream's SANs plus `extraSans`. */
export async function issueServer(issuer: Issuer, now: Date, sans: readonly string[]) {
  return await issueLeaf(issuer, now, {
    subject: SERVER_SUBJECT,
    usages: ["1.3.6.1.5.5.7.3.1"],
    sans,
  });
}

/**
 * A client certificate: clientAuth only. Without a name it is upstream's shared client
 * (`CN=gcp-authcalator client`, no SAN); with one, `CN=<name>` plus `URI:urn:authcalator:client:<name>`.
 */
export async function issueClient(issuer: Issuer, now: Date, name?: string): Promise<Issued> {
  return await issueLeaf(issuer, now, {
    subject: name === undefined ? `CN=${DEFAULT_CLIENT_CN}` : `CN=${name}`,
    usages: ["1.3.6.1.5.5.7.3.2"],
    sans: name === undefined ? [] : [`URI:${CLIENT_NAME_URI_PREFIX}${name}`],
  });
}

/** One revoked serial. */
export interface RevokedEntry {
  serial: string;
  revokedAt: Date;
}

/** A CRL signed by the CA listing `entries`, valid until the CA expires; PEM label `X509 CRL`. */
export async function issueCrl(
  issuer: Issuer,
  now: Date,
  entries: RevokedEntry[],
): Promise<string> {
  const crl = await x509.X509CrlGenerator.create({
    issuer: issuer.cert.subject,
    thisUpdate: now,
    nextUpdate: issuer.cert.notAfter,
    entries: entries.map((e) => ({ serialNumber: e.serial, revocationDate: e.revokedAt })),
    signingKey: issuer.privateKey,
    signingAlgorithm: EC_ALGORITHM,
  });
  return toPem("X509 CRL", crl.rawData);
}
