import { fetchWithDeadline } from "../http/deadline_fetch.ts";

/** The audience Google requires in a JWT-bearer assertion, whatever host the request goes to. */
export const GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token";

function base64url(bytes: Uint8Array | string): string {
  const raw = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  let bin = "";
  for (const b of raw) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

async function importPrivateKey(pem: string): Promise<CryptoKey> {
  const body = pem.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, "").replace(/\s+/g, "");
  const der = Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
  try {
    return await crypto.subtle.importKey(
      "pkcs8",
      der,
      { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      false,
      ["sign"],
    );
  } catch {
    throw new Error("the service account private_key is not a PKCS#8 RSA key");
  }
}

/** Signs a JWT-bearer assertion for a service account key. */
export async function signAssertion(
  key: { client_email: string; private_key: string; private_key_id?: string },
  scopes: string[],
  nowMs: number,
): Promise<string> {
  const header: Record<string, string> = { alg: "RS256", typ: "JWT" };
  if (key.private_key_id) header.kid = key.private_key_id;
  const iat = Math.floor(nowMs / 1000);
  const claims = {
    iss: key.client_email,
    scope: scopes.join(" "),
    aud: GOOGLE_TOKEN_AUDIENCE,
    iat,
    exp: iat + 3600,
  };
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = await crypto.subtle.sign(
    "RSASSA-PKCS1-v1_5",
    await importPrivateKey(key.private_key),
    new TextEncoder().encode(input),
  );
  return `${input}.${base64url(new Uint8Array(signature))}`;
}

/** Exchanges a signed assertion at the OAuth2 token endpoint for an access token. */
export async function exchangeAssertion(
  tokenUrl: string,
  assertion: string,
  timeoutMs: number,
  nowMs: () => number,
): Promise<{ access_token: string; expiry_date: number }> {
  const res = await fetchWithDeadline(tokenUrl, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
      assertion,
    }),
    timeoutMs,
    what: "exchanging the service account assertion",
  });
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(res.text);
  } catch { /* reported below */ }
  if (!res.ok) {
    const detail = [body.error, body.error_description].filter(Boolean).join(": ") ||
      `HTTP ${res.status}`;
    throw new Error(`service account token exchange failed: ${detail}`);
  }
  if (typeof body.access_token !== "string") {
    throw new Error("service account token exchange returned no access_token");
  }
  const expiresIn = typeof body.expires_in === "number" ? body.expires_in : 3600;
  return { access_token: body.access_token, expiry_date: nowMs() + expiresIn * 1000 };
}
