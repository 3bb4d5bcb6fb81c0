/**
 * RS256 JSON Web Tokens with WebCrypto: the emulator signs ID tokens with its own keys and
 * verifies the JWT-bearer assertions that service-account keys sign.
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The WebCrypto algorithm behind RS256. */
export const RS256: RsaHashedImportParams = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };

/** Unpadded base64url of `bytes`. */
export function b64url(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}

/** Bytes of unpadded base64url text; throws SyntaxError on anything else. */
export function fromB64url(text: string): Uint8Array<ArrayBuffer> {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new SyntaxError("not base64url");
  return Uint8Array.fromBase64(text, { alphabet: "base64url", lastChunkHandling: "loose" });
}

/** A fresh 2048-bit RS256 key pair, extractable so it can be written as PEM or JWK. */
export async function generateRsaKeyPair(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(
    { ...RS256, modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
    true,
    ["sign", "verify"],
  ) as CryptoKeyPair;
}

/** PEM armour of DER bytes, 64 columns, as OpenSSL and Google write it. */
export function pemEncode(label: string, der: Uint8Array): string {
  const body = der.toBase64().match(/.{1,64}/g)?.join("\n") ?? "";
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

/** The PKCS#8 PEM (`BEGIN PRIVATE KEY`) of a private key, the form in service-account key files. */
export async function privateKeyPem(key: CryptoKey): Promise<string> {
  return pemEncode("PRIVATE KEY", new Uint8Array(await crypto.subtle.exportKey("pkcs8", key)));
}

/** A key id in Google's style: 40 hex digits derived from the public key. */
export async function keyIdOf(publicKey: CryptoKey): Promise<string> {
  const spki = await crypto.subtle.exportKey("spki", publicKey);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", spki));
  return digest.toHex().slice(0, 40);
}

/** Signs `claims` as a compact RS256 JWT with `header` (alg is forced to RS256). */
export async function signJwt(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  privateKey: CryptoKey,
): Promise<string> {
  const { alg: _ignored, ...rest } = header;
  const head = b64url(encoder.encode(JSON.stringify({ alg: "RS256", ...rest })));
  const body = b64url(encoder.encode(JSON.stringify(claims)));
  const input = `${head}.${body}`;
  const sig = await crypto.subtle.sign(RS256, privateKey, encoder.encode(input));
  return `${input}.${b64url(new Uint8Array(sig))}`;
}

/** A JWT split into its parts, not yet verified. */
export interface DecodedJwt {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  signingInput: Uint8Array<ArrayBuffer>;
  signature: Uint8Array<ArrayBuffer>;
}

/** Splits and parses a compact JWT; returns undefined if it is not one. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  try {
    const header = JSON.parse(decoder.decode(fromB64url(parts[0])));
    const claims = JSON.parse(decoder.decode(fromB64url(parts[1])));
    if (!isObject(header) || !isObject(claims)) return undefined;
    return {
      header,
      claims,
      signingInput: encoder.encode(`${parts[0]}.${parts[1]}`),
      signature: fromB64url(parts[2]),
    };
  } catch {
    return undefined;
  }
}

/** Whether `jwt` carries a valid RS256 signature by `publicKey`. */
export async function verifyRs256(jwt: DecodedJwt, publicKey: CryptoKey): Promise<boolean> {
  if (jwt.header.alg !== "RS256") return false;
  return await crypto.subtle.verify(RS256, publicKey, jwt.signature, jwt.signingInput);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
