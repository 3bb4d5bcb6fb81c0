/** Small HTTP helpers for the emulator tests: raw requests in the shapes Google's clients send. */
import { type Emulator } from "../../src/emulator/mod.ts";
import { signJwt } from "../../src/emulator/jwt.ts";

/** The cloud-platform scope. */
export const CLOUD = "https://www.googleapis.com/auth/cloud-platform";
/** The default dev service account. */
export const SA = "dev-runner@demo-project.iam.gserviceaccount.com";

/** A parsed response. */
export interface Answer {
  status: number;
  headers: Headers;
  // deno-lint-ignore no-explicit-any
  body: any;
}

/** Reads status, headers and (JSON if possible) body. */
export async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, body };
}

/** POSTs form parameters, as OAuth clients do. */
export async function postForm(
  url: string,
  params: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return await answer(
    await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams(params),
    }),
  );
}

/** POSTs a JSON body (a string is sent verbatim), with a bearer token when given. */
export async function postJson(
  url: string,
  body: unknown,
  token?: string,
): Promise<Answer> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  return await answer(
    await fetch(url, {
      method: "POST",
      headers,
      body: typeof body === "string" ? body : JSON.stringify(body),
    }),
  );
}

/** GETs with a bearer token when given. */
export async function get(url: string, token?: string): Promise<Answer> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  return await answer(await fetch(url, { headers }));
}

/** The engineer's refresh grant, as UserRefreshClient sends it. */
export function refreshParams(emu: Emulator): Record<string, string> {
  const adc = emu.authorizedUserAdc();
  return {
    refresh_token: adc.refresh_token,
    client_id: adc.client_id,
    client_secret: adc.client_secret,
    grant_type: "refresh_token",
  };
}

/** A fresh engineer access token via the real /token route. */
export async function engineerToken(emu: Emulator): Promise<string> {
  const res = await postForm(`${emu.baseUrl}/token`, refreshParams(emu));
  if (res.status !== 200) throw new Error(`refresh failed: ${JSON.stringify(res.body)}`);
  return res.body.access_token;
}

/** The URL of an iamcredentials method for `account`. */
export function iamUrl(emu: Emulator, account: string, method: string): string {
  return `${emu.baseUrl}/v1/projects/-/serviceAccounts/${account}:${method}`;
}

/** Imports the PKCS#8 PEM of a key file for signing assertions by hand. */
export async function importPrivateKey(pem: string): Promise<CryptoKey> {
  const b64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return await crypto.subtle.importKey(
    "pkcs8",
    Uint8Array.fromBase64(b64),
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["sign"],
  );
}

/** Signs a JWT-bearer assertion with `key`; `claims` override the defaults at `nowMs`. */
export async function assertion(
  key: CryptoKey,
  iss: string,
  nowMs: number,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  const iat = Math.floor(nowMs / 1000);
  return await signJwt(header, {
    iss,
    scope: CLOUD,
    aud: "https://oauth2.googleapis.com/token",
    iat,
    exp: iat + 3600,
    ...claims,
  }, key);
}

/** Decodes a JWT's payload without verifying it. */
export function jwtClaims(token: string): Record<string, unknown> {
  const part = token.split(".")[1];
  return JSON.parse(
    new TextDecoder().decode(Uint8Array.fromBase64(part, { alphabet: "base64url" })),
  );
}
