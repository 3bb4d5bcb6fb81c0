/** Random secrets for the emulator: access tokens, refresh tokens, client secrets. */

/** `bytes` random bytes as unpadded base64url. */
export function randomToken(bytes: number): string {
  return crypto.getRandomValues(new Uint8Array(bytes)).toBase64({
    alphabet: "base64url",
    omitPadding: true,
  });
}

/** A fresh access token in Google's shape (`ya29.` then opaque base64url). */
export function newAccessToken(): string {
  return `ya29.${randomToken(96)}`;
}
