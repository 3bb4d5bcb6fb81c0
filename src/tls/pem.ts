/**
 * PEM blocks: the strict parser every TLS file goes through (labels must match, base64 must be
 * clean, nothing but whitespace between blocks) and the 64-column encoder upstream also writes.
 * @module
 */
import { InvalidTlsMaterialError } from "./errors.ts";

/** One `-----BEGIN <label>-----` … `-----END <label>-----` block. */
export interface PemBlock {
  label: string;
  der: Uint8Array<ArrayBuffer>;
  /** The block re-encoded canonically (64-column lines, trailing newline). */
  pem: string;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;

/** Parses every PEM block of `text`; anything else but whitespace is an error, as is no block. */
export function parsePem(text: string, what: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  let last = 0;
  for (const match of text.matchAll(BLOCK)) {
    if (text.slice(last, match.index).trim() !== "") {
      throw new InvalidTlsMaterialError(`${what}: text outside PEM blocks`);
    }
    const [whole, label, body, endLabel] = match;
    if (label !== endLabel) {
      throw new InvalidTlsMaterialError(`${what}: BEGIN ${label} closed by END ${endLabel}`);
    }
    const compact = body.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 !== 0) {
      throw new InvalidTlsMaterialError(`${what}: the ${label} block is not valid base64`);
    }
    const der = decodeBase64(compact);
    blocks.push({ label, der, pem: toPem(label, der) });
    last = match.index! + whole.length;
  }
  if (text.slice(last).trim() !== "") {
    throw new InvalidTlsMaterialError(`${what}: text outside PEM blocks`);
  }
  if (blocks.length === 0) throw new InvalidTlsMaterialError(`${what}: no PEM block found`);
  return blocks;
}

/** Encodes DER as a PEM block with 64-column lines and a trailing newline. */
export function toPem(label: string, der: Uint8Array | ArrayBuffer): string {
  const b64 = encodeBase64(der instanceof Uint8Array ? der : new Uint8Array(der));
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** Standard base64 of `bytes` (one line). */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Decodes standard base64; throws on anything else. */
export function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
