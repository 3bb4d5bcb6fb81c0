/**
 * Removes anything shaped like a credential from free text (error messages, log lines):
 * OAuth access tokens, refresh tokens, JWTs, PEM private keys and 64-hex session ids.
 */
export function scrubSecrets(text: string): string {
  return text
    .replace(
      /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g,
      "[private key]",
    )
    .replace(/\bya29\.[A-Za-z0-9._~+/=-]+/g, "[token]")
    .replace(/\b1\/\/[A-Za-z0-9._~+/=-]+/g, "[refresh token]")
    .replace(/\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, "[jwt]")
    .replace(/\b[0-9a-f]{64}\b/g, "[id]")
    .replace(
      /((?:access_token|refresh_token|client_secret|assertion|id_token)["']?\s*[=:]\s*["']?)[^"'&\s,}]+/gi,
      "$1[redacted]",
    );
}

/** Removes control characters and caps the length, ending a cut message with `…`. */
export function cleanMessage(text: string, max = 1024): string {
  // deno-lint-ignore no-control-regex
  const clean = text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, " ");
  return clean.length > max ? clean.slice(0, max - 1) + "…" : clean;
}
