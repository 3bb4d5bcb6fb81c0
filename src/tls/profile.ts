/**
 * The certificate profiles of the gate's mTLS material, wire-compatible with gcp-authcalator 0.14
 * (subjects, ECDSA P-256 keys, EKUs, default server SANs, file names), plus what upstream lacked:
 * a CA that outlives its leaves, named client identities and the revocation list file.
 * @module
 */
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(crypto);

export { x509 };

/** The signing and key algorithm of every key and signature (upstream's choice). */
export const EC_ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

export const CA_SUBJECT = "CN=gcp-authcalator CA";
export const SERVER_SUBJECT = "CN=gcp-authcalator server";
/** The subject CN of upstream's single shared client, which this gate names `default`. */
export const DEFAULT_CLIENT_CN = "gcp-authcalator client";
export const DEFAULT_CLIENT_NAME = "default";
/** A named client carries `CN=<name>` and this URI SAN prefix followed by the name. */
export const CLIENT_NAME_URI_PREFIX = "urn:authcalator:client:";

/** The CA lives three years; leaves 90 days (upstream gave the CA 90 days too). */
export const CA_VALIDITY_DAYS = 1095;
export const LEAF_VALIDITY_DAYS = 90;
/** notBefore is backdated this much for clock skew between host and container. */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;
/** Material expiring within this many days is renewed by init-tls and warned about by the gate. */
export const EXPIRY_WARNING_DAYS = 14;

/** Server SANs every server certificate carries (upstream's set); `--san` adds to them. */
export const DEFAULT_SERVER_SANS: readonly string[] = [
  "DNS:localhost",
  "DNS:host.docker.internal",
  "IP:127.0.0.1",
];

export const OID_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
export const OID_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

/** File names inside tls_dir; the first seven are upstream's. */
export const FILES = {
  ca: "ca.pem",
  caKey: "ca-key.pem",
  server: "server.pem",
  serverKey: "server-key.pem",
  client: "client.pem",
  clientKey: "client-key.pem",
  bundle: "client-bundle.pem",
  /** X.509 CRL (PEM `X509 CRL`) signed by the CA: the revoked client serials. */
  crl: "revoked.crl.pem",
  /** `clients/<name>.pem` (certificate) and `clients/<name>.bundle.pem` (bundle). */
  clientsDir: "clients",
} as const;

const CLIENT_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Why `name` cannot name a client, or undefined (a DNS label, not the reserved `default`). */
export function clientNameProblem(name: string): string | undefined {
  if (name === DEFAULT_CLIENT_NAME) {
    return `"${DEFAULT_CLIENT_NAME}" is the shared client of client-bundle.pem; choose another name`;
  }
  if (!CLIENT_NAME.test(name)) {
    return `client name ${
      JSON.stringify(name)
    } must be 1-63 of a-z, 0-9 and '-', starting and ending with a letter or digit`;
  }
  return undefined;
}

/** A SAN in `DNS:name` / `IP:addr` form from a `--san` value (a bare value is classified). */
export function parseSan(value: string): string {
  const raw = value.trim();
  const [kind, rest] = /^(DNS|IP):/i.test(raw)
    ? [raw.slice(0, raw.indexOf(":")).toUpperCase(), raw.slice(raw.indexOf(":") + 1)]
    : [isIp(raw) ? "IP" : "DNS", raw];
  if (kind === "IP") {
    if (!isIp(rest)) throw new Error(`--san ${JSON.stringify(value)}: not an IP address`);
    return `IP:${rest.toLowerCase()}`;
  }
  const host = rest.toLowerCase().replace(/\.$/, "");
  const labels = host.split(".");
  const ok = host.length <= 253 &&
    labels.every((l) => /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(l));
  if (!ok) {
    throw new Error(
      `--san ${
        JSON.stringify(value)
      }: not a DNS name (letters, digits, '-' and dots; no wildcards)`,
    );
  }
  return `DNS:${host}`;
}

function isIp(value: string): boolean {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(value)) {
    return value.split(".").every((p) => Number(p) <= 255 && String(Number(p)) === p);
  }
  if (!value.includes(":") || !/^[0-9a-fA-F:.]+$/.test(value)) return false;
  try {
    return new URL(`http://[${value}]/`).hostname.length > 2;
  } catch {
    return false;
  }
}

/** Normalises a certificate serial (hex, any case, optional colons, leading zeros) for lookup. */
export function normalizeSerial(serial: string): string {
  const hex = serial.replace(/:/g, "").toLowerCase().replace(/^0+(?=.)/, "");
  return hex;
}

/** True when `text` looks like a serial number (hex, at least 8 digits). */
export function looksLikeSerial(text: string): boolean {
  return /^[0-9a-fA-F:]{8,}$/.test(text) && /[0-9a-fA-F]{2}/.test(text);
}
