/** Base64 of a string's UTF-8 bytes (JSR's @std/encoding is unreachable here). */
export function encodeBase64(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}
