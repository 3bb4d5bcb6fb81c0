/**
 * A minimal self-signed X.509 certificate writer (DER by hand), because Google's
 * `/oauth2/v1/certs` serves certificates rather than bare public keys and clients parse them.
 * @module
 */
import { pemEncode, RS256 } from "./jwt.ts";

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function tlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = concat(content);
  const n = body.length;
  let len: number[];
  if (n < 0x80) len = [n];
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = [0x80 | bytes.length, ...bytes];
  }
  return concat([new Uint8Array([tag, ...len]), body]);
}

const seq = (...c: Uint8Array[]) => tlv(0x30, ...c);
const set = (...c: Uint8Array[]) => tlv(0x31, ...c);
const NULL = new Uint8Array([0x05, 0x00]);

function oid(dotted: string): Uint8Array {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const bytes = [40 * a + b];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) {
      chunk.unshift(0x80 | (v & 0x7f));
    }
    bytes.push(...chunk);
  }
  return tlv(0x06, new Uint8Array(bytes));
}

function positiveInteger(bytes: Uint8Array): Uint8Array {
  const b = bytes[0] & 0x80 ? concat([new Uint8Array([0]), bytes]) : bytes;
  return tlv(0x02, b);
}

function utcTime(ms: number): Uint8Array {
  const iso = new Date(ms).toISOString(); // 2026-01-01T00:00:00.000Z
  const text = iso.slice(2, 4) + iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) +
    iso.slice(14, 16) + iso.slice(17, 19) + "Z";
  return tlv(0x17, new TextEncoder().encode(text));
}

function name(commonName: string): Uint8Array {
  return seq(set(seq(oid("2.5.4.3"), tlv(0x0c, new TextEncoder().encode(commonName)))));
}

/** A self-signed sha256WithRSAEncryption certificate for `keys`, as PEM. */
export async function selfSignedCertificatePem(
  keys: CryptoKeyPair,
  commonName: string,
  notBefore: number,
  notAfter: number,
): Promise<string> {
  const algorithm = seq(oid("1.2.840.113549.1.1.11"), NULL);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] &= 0x7f;
  const tbs = seq(
    tlv(0xa0, positiveInteger(new Uint8Array([2]))),
    positiveInteger(serial),
    algorithm,
    name(commonName),
    seq(utcTime(notBefore), utcTime(notAfter)),
    name(commonName),
    spki,
  );
  const signature = new Uint8Array(
    await crypto.subtle.sign(RS256, keys.privateKey, tbs as Uint8Array<ArrayBuffer>),
  );
  const der = seq(tbs, algorithm, tlv(0x03, new Uint8Array([0]), signature));
  return pemEncode("CERTIFICATE", der);
}
