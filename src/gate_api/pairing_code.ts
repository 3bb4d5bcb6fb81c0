/**
 * The pairing code: a short code derived from a prod request's pending id, printed by with-prod in
 * the engineer's terminal and shown by every approval surface (dialog, terminal prompt, `pending`),
 * so a human can match the request they approve to the command they ran, on any platform.
 * @module
 */

// Crockford's base32 alphabet: no I, L, O or U, so the code reads aloud and copies without mistakes.
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** `XXX-XXX` (30 bits of SHA-256 over the pending id). Client and gate call this same function. */
export async function pairingCode(pendingId: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(pendingId)),
  );
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < 6) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    if (out.length === 6) break;
  }
  return `${out.slice(0, 3)}-${out.slice(3)}`;
}
