/**
 * Base64 and hex for the fakes (registry integrity fields, Basic credentials), without a
 * dependency.
 * @module
 */

export function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function encodeHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** `Basic base64(user:password)`: what git hosts expect from a token (`x-access-token:<token>`). */
export function basicAuthorization(user: string, password: string): string {
  return `Basic ${encodeBase64(new TextEncoder().encode(`${user}:${password}`))}`;
}
