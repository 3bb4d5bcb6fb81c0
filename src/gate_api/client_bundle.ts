/**
 * The client side of a remote gate's mTLS: the bundle `init-tls` writes (CA certificate, client
 * certificate, client key, in that order; gcp-authcalator's `client-bundle.pem` format, or its
 * base64) parsed and checked before the first connection, so a wrong file is named with its fix
 * at start-up instead of surfacing as an opaque TLS alert on the first token request. The gate
 * checks the same things again at the handshake; this module is for clear errors, not trust.
 * @module
 */
import { createPrivateKey, X509Certificate } from "node:crypto";

/** A parsed, checked client bundle: PEM strings ready for `Deno.createHttpClient`. */
export interface ClientBundle {
  /** The CA certificate the gate's server certificate must chain to. */
  caPem: string;
  /** This workspace's client certificate. */
  certPem: string;
  /** Its private key (PKCS#8 PEM). Never printed. */
  keyPem: string;
  /** The client certificate's subject CN (gcp-authcalator's fixed name, or an init-tls --client name). */
  clientName: string;
  /** When the client certificate stops being valid (epoch ms). */
  notAfter: number;
}

/** A bundle that cannot be used; the message names the file and the fix, never key material. */
export class ClientBundleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ClientBundleError";
  }
}

/** What to do about a bad bundle, appended to every message. */
export const BUNDLE_FIX =
  "re-create it on the gate's host with 'authcalator init-tls' (or 'init-tls --client NAME') and copy client-bundle.pem here";

/** Largest bundle read: three PEM blocks are about 2 KiB. */
export const MAX_BUNDLE_BYTES = 64 * 1024;

interface PemBlock {
  label: string;
  pem: string;
}

/** The PEM blocks of `text`, in order; anything between blocks is ignored as PEM allows. */
function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END \1-----/g;
  for (const m of text.matchAll(re)) blocks.push({ label: m[1], pem: m[0] });
  return blocks;
}

/** The PEM text of a bundle given as PEM or as the base64 of PEM (gcp-authcalator's env form). */
export function bundleText(raw: string, label: string): string {
  if (raw.includes("-----BEGIN ")) return raw;
  const compact = raw.replace(/\s+/g, "");
  if (compact === "") throw new ClientBundleError(`${label} is empty: ${BUNDLE_FIX}`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) {
    throw new ClientBundleError(`${label} is neither PEM nor base64: ${BUNDLE_FIX}`);
  }
  let decoded: string;
  try {
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(compact), (c) => c.charCodeAt(0)),
    );
  } catch {
    throw new ClientBundleError(`${label} is neither PEM nor base64: ${BUNDLE_FIX}`);
  }
  if (!decoded.includes("-----BEGIN ")) {
    throw new ClientBundleError(`${label} is base64 but does not hold PEM: ${BUNDLE_FIX}`);
  }
  return decoded;
}

function parseCert(pem: string, what: string, label: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new ClientBundleError(`${label}: the ${what} certificate does not parse: ${BUNDLE_FIX}`);
  }
}

/**
 * Parses and checks a bundle: exactly two CERTIFICATE blocks (CA first, then the client) and one
 * PRIVATE KEY block, nothing else; both certificates valid at `now`; the CA a CA, the client not;
 * the client issued and signed by that CA; the key the client certificate's. `label` names the
 * source in messages (`the tls_bundle file /x`, `GCP_AUTHCALATOR_TLS_BUNDLE_B64`).
 */
export function parseClientBundle(raw: string, label: string, now = Date.now()): ClientBundle {
  const text = bundleText(raw, label);
  const blocks = pemBlocks(text);
  const other = blocks.find((b) => b.label !== "CERTIFICATE" && b.label !== "PRIVATE KEY");
  if (other) {
    throw new ClientBundleError(
      `${label} holds a ${other.label} block; a client bundle holds only CERTIFICATE and PRIVATE KEY blocks: ${BUNDLE_FIX}`,
    );
  }
  const certs = blocks.filter((b) => b.label === "CERTIFICATE");
  const keys = blocks.filter((b) => b.label === "PRIVATE KEY");
  if (certs.length !== 2 || keys.length !== 1) {
    throw new ClientBundleError(
      `${label} holds ${certs.length} certificate(s) and ${keys.length} private key(s); ` +
        `a client bundle holds exactly 2 (the CA, then the client) and 1: ${BUNDLE_FIX}`,
    );
  }
  const ca = parseCert(certs[0].pem, "CA (first)", label);
  const client = parseCert(certs[1].pem, "client (second)", label);
  for (const [cert, what] of [[ca, "CA"], [client, "client"]] as const) {
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    if (!(from <= now)) {
      throw new ClientBundleError(
        `${label}: the ${what} certificate is not valid before ${cert.validFrom} (check this machine's clock)`,
      );
    }
    if (!(now < to)) {
      throw new ClientBundleError(
        `${label}: the ${what} certificate expired on ${cert.validTo}: ${BUNDLE_FIX}`,
      );
    }
  }
  if (!ca.ca) {
    throw new ClientBundleError(
      `${label}: the first certificate is not a CA (a bundle starts with ca.pem): ${BUNDLE_FIX}`,
    );
  }
  if (client.ca) {
    throw new ClientBundleError(
      `${label}: the second certificate is a CA, not a client certificate: ${BUNDLE_FIX}`,
    );
  }
  if (!client.checkIssued(ca) || !client.verify(ca.publicKey)) {
    throw new ClientBundleError(
      `${label}: the client certificate was not issued by the bundle's CA: ${BUNDLE_FIX}`,
    );
  }
  let keyMatches = false;
  try {
    keyMatches = client.checkPrivateKey(createPrivateKey(keys[0].pem));
  } catch {
    throw new ClientBundleError(`${label}: the private key does not parse: ${BUNDLE_FIX}`);
  }
  if (!keyMatches) {
    throw new ClientBundleError(
      `${label}: the private key does not belong to the client certificate: ${BUNDLE_FIX}`,
    );
  }
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(client.subject)?.[1] ?? "";
  return {
    caPem: certs[0].pem,
    certPem: certs[1].pem,
    keyPem: keys[0].pem,
    clientName: cn,
    notAfter: Date.parse(client.validTo),
  };
}
