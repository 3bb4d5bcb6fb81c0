/**
 * FNV-1a, 64-bit, over UTF-8: a fast, dependency-free, stable digest for ETags and derived ids
 * (not for security). Keeps `node:crypto` out of the proxy's start-up and memory.
 * @module
 */

const OFFSET = 0xcbf29ce484222325n;
const PRIME = 0x100000001b3n;
const MASK = 0xffffffffffffffffn;
const encoder = new TextEncoder();

/** The 64-bit FNV-1a digest of `text`. */
export function fnv1a64(text: string): bigint {
  let hash = OFFSET;
  for (const byte of encoder.encode(text)) {
    hash = ((hash ^ BigInt(byte)) * PRIME) & MASK;
  }
  return hash;
}

/** The digest as 16 lowercase hex characters. */
export function fnv1a64Hex(text: string): string {
  return fnv1a64(text).toString(16).padStart(16, "0");
}
