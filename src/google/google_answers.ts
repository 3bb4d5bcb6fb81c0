/**
 * The shapes of Google's successful token answers, checked before anything uses them. A proxy,
 * a truncation or a Google bug must end in a clear error, never in a token served with
 * `"expires_in": null`, an already-expired token, or a TypeError from deep inside
 * google-auth-library ("Cannot create property 'refresh_token' on string"). Messages name the
 * API and the field, never a value (values are tokens).
 * @module
 */

/** A 2xx answer from Google that cannot be used. */
export class GoogleAnswerError extends Error {
  /** The API whose answer was malformed, e.g. `generateAccessToken`. */
  readonly api: string;
  /**
   * The original message: google-auth-library's Impersonated prefixes `message` of whatever its
   * source client throws ("unable to impersonate: ..."), this stays as built.
   */
  readonly description: string;

  constructor(api: string, problem: string) {
    super(`Google's ${api} answer ${problem}`);
    this.name = "GoogleAnswerError";
    this.api = api;
    this.description = this.message;
  }
}

type Body = Record<string, unknown>;

/**
 * The body as a JSON object, or a GoogleAnswerError naming `api`. Text that did not parse
 * arrives as a string (gaxios and rest_calls.ts keep it), as does a bare JSON string.
 */
export function jsonObject(api: string, data: unknown): Body {
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new GoogleAnswerError(api, "is not a JSON object");
  }
  return data as Body;
}

function nonEmptyString(api: string, body: Body, field: string): string {
  const value = body[field];
  if (typeof value !== "string" || value === "") {
    throw new GoogleAnswerError(api, `has no ${field}`);
  }
  return value;
}

/** `expireTime` (RFC 3339) as epoch ms: present, parseable and after `now`. */
export function expireTimeOf(api: string, body: Body, now: number): number {
  const raw = body.expireTime;
  if (typeof raw !== "string" || raw === "") throw new GoogleAnswerError(api, "has no expireTime");
  const at = Date.parse(raw);
  if (!Number.isFinite(at)) throw new GoogleAnswerError(api, "has an unparseable expireTime");
  if (at <= now) throw new GoogleAnswerError(api, "has an expireTime in the past");
  return at;
}

/** `expires_in` in seconds: a positive finite number. */
export function expiresInOf(api: string, body: Body): number {
  const raw = body.expires_in;
  if (typeof raw !== "number" || !Number.isFinite(raw)) {
    throw new GoogleAnswerError(api, "has no numeric expires_in");
  }
  if (raw <= 0) throw new GoogleAnswerError(api, "has an expires_in that is not positive");
  return raw;
}

/** Checks an OAuth2 token-endpoint answer that grants an access token. */
export function checkTokenGrant(body: Body): { accessToken: string; expiresIn: number } {
  return {
    accessToken: nonEmptyString("OAuth2 token", body, "access_token"),
    expiresIn: expiresInOf("OAuth2 token", body),
  };
}

/**
 * Checks a 2xx answer of the token APIs by URL: the OAuth2 token endpoint (an access-token
 * grant), iamcredentials `generateAccessToken` and `generateIdToken`. Other URLs only need JSON
 * when the caller parses them, so they pass untouched.
 */
export function checkGoogleAnswer(
  url: string | URL | undefined,
  status: number,
  data: unknown,
  now: number,
): void {
  if (status < 200 || status > 299 || url === undefined) return;
  const path = new URL(url).pathname;
  if (path.endsWith(":generateAccessToken")) {
    const body = jsonObject("generateAccessToken", data);
    nonEmptyString("generateAccessToken", body, "accessToken");
    expireTimeOf("generateAccessToken", body, now);
  } else if (path.endsWith(":generateIdToken")) {
    nonEmptyString("generateIdToken", jsonObject("generateIdToken", data), "token");
  } else if (path.endsWith("/token")) {
    const body = jsonObject("OAuth2 token", data);
    // An ID-token-only grant (JWT bearer with target_audience) has no access token.
    if (!("id_token" in body && !("access_token" in body))) checkTokenGrant(body);
  }
}
