import { fetchWithDeadline } from "../http/deadline_fetch.ts";
import { AdcError } from "./adc.ts";
import { checkTokenGrant, jsonObject } from "./google_answers.ts";
import { googleStatusError } from "./google_status.ts";

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
  try {
    const der = Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
    return await crypto.subtle.importKey(
      "pkcs8",
      der,
      { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      false,
      ["sign"],
    );
  } catch {
    throw new AdcError(
      "the service account private_key is not a PKCS#8 RSA key (create a new key with " +
        "`gcloud iam service-accounts keys create`)",
    );
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
  fetchFn?: typeof fetch,
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
    fetchFn,
  });
  let data: unknown = res.text;
  try {
    data = JSON.parse(res.text);
  } catch { /* a string: reported below */ }
  if (!res.ok) throw googleStatusError(res, data, "exchanging the service account assertion");
  // Expiry is dated from when the answer arrived, not from when the request left.
  const arrived = nowMs();
  const grant = checkTokenGrant(jsonObject("OAuth2 token", data));
  return { access_token: grant.accessToken, expiry_date: arrived + grant.expiresIn * 1000 };
}
