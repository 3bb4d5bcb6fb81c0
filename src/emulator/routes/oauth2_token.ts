/**
 * `POST /token` (oauth2.googleapis.com): the refresh_token grant of authorized_user ADC and the
 * JWT-bearer grant of service-account keys, with Google's OAuth error answers.
 * @module
 */
import { Hono } from "hono";
import { decodeJwt, verifyRs256 } from "../jwt.ts";
import { jsonResponse, oauthError } from "../google_errors.ts";
import { readOAuthParams } from "../request_body.ts";
import { type EmulatorEnv, type EmulatorState, findServiceAccount } from "../state.ts";

/** The JWT-bearer grant type (RFC 7523). */
export const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/** Audience Google's token endpoint expects in assertions. */
export const TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token";
/** Seconds Google reports in `expires_in` for a fresh token. */
export const TOKEN_LIFETIME_SECONDS = 3599;

/** Google's message for an assertion outside its allowed time window. */
export const SHORT_LIVED_JWT =
  "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the assertion and use a clock with skew to account for clock differences between systems.";

const CLOCK_SKEW_SECONDS = 60;

/** Routes of the OAuth 2.0 token endpoint. */
export function tokenRoutes(state: EmulatorState): Hono<EmulatorEnv> {
  const app = new Hono<EmulatorEnv>();
  app.post("/token", async (c) => {
    const params = await readOAuthParams(c.req.raw);
    if (params instanceof Response) return params;
    const grant = params.get("grant_type") ?? "";
    if (grant === "refresh_token") {
      return await refreshGrant(
        state,
        params,
        c.req.header("authorization"),
        (p) => c.set("principal", p),
      );
    }
    if (grant === JWT_BEARER) {
      return await jwtBearerGrant(state, params, (p) => c.set("principal", p));
    }
    const shown = grant.replace(/[^\x20-\x7e]/g, "?").slice(0, 100);
    return oauthError(400, "unsupported_grant_type", `Invalid grant_type: ${shown}`);
  });
  return app;
}

function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? "");
  if (!m) return undefined;
  try {
    const text = atob(m[1]);
    const colon = text.indexOf(":");
    if (colon < 0) return undefined;
    return {
      id: decodeURIComponent(text.slice(0, colon)),
      secret: decodeURIComponent(text.slice(colon + 1)),
    };
  } catch {
    return undefined;
  }
}

async function refreshGrant(
  state: EmulatorState,
  params: Map<string, string>,
  authorization: string | undefined,
  setPrincipal: (email: string) => void,
): Promise<Response> {
  const engineer = state.options.engineer;
  const basic = basicCredentials(authorization);
  const clientId = params.get("client_id") ?? basic?.id;
  const secret = params.get("client_secret") ?? basic?.secret;
  if (!clientId) {
    return oauthError(400, "invalid_request", "Could not determine client ID from request.");
  }
  if (clientId !== engineer.clientId) {
    return oauthError(401, "invalid_client", "The OAuth client was not found.");
  }
  if (secret !== engineer.clientSecret) return oauthError(401, "invalid_client", "Unauthorized");
  const refreshToken = params.get("refresh_token");
  if (!refreshToken) {
    return oauthError(400, "invalid_request", "Missing required parameter: refresh_token");
  }
  if (refreshToken !== engineer.refreshToken) {
    return oauthError(400, "invalid_grant", "Bad Request");
  }
  setPrincipal(engineer.email);
  let scopes = engineer.scopes;
  const asked = params.get("scope");
  if (asked !== undefined && asked.trim() !== "") {
    const wanted = asked.trim().split(/\s+/);
    const extra = wanted.filter((s) => !engineer.scopes.includes(s));
    if (extra.length) {
      return oauthError(
        400,
        "invalid_scope",
        `Some requested scopes were invalid. {invalid=[${extra.join(", ")}]}`,
      );
    }
    scopes = [...new Set(wanted)];
  }
  const outcome = state.faults.refreshOutcome();
  if (outcome === "revoked") {
    return oauthError(400, "invalid_grant", "Token has been expired or revoked.");
  }
  if (outcome === "reauth") {
    return oauthError(400, "invalid_grant", "reauth related error (invalid_rapt)", {
      error_uri: "https://support.google.com/a/answer/9368756",
      error_subtype: "invalid_rapt",
    });
  }
  const { token, record } = state.tokens.issue({
    principal: engineer.email,
    subject: engineer.uniqueId,
    clientId: engineer.clientId,
    scopes,
    source: "refresh_token",
  }, TOKEN_LIFETIME_SECONDS);
  const body: Record<string, unknown> = {
    access_token: token,
    expires_in: TOKEN_LIFETIME_SECONDS,
    scope: scopes.join(" "),
    token_type: "Bearer",
  };
  if (scopes.includes("openid") || params.has("target_audience")) {
    const iat = Math.floor(record.issuedAt / 1000);
    body.id_token = await state.signingKeys.sign({
      iss: "https://accounts.google.com",
      azp: engineer.clientId,
      aud: engineer.clientId,
      sub: engineer.uniqueId,
      email: engineer.email,
      email_verified: true,
      iat,
      exp: iat + 3600,
    });
  }
  return jsonResponse(200, body);
}

async function jwtBearerGrant(
  state: EmulatorState,
  params: Map<string, string>,
  setPrincipal: (email: string) => void,
): Promise<Response> {
  const assertion = params.get("assertion");
  if (!assertion) {
    return oauthError(400, "invalid_request", "Missing required parameter: assertion");
  }
  const jwt = decodeJwt(assertion);
  if (!jwt) return oauthError(400, "invalid_grant", "Invalid JWT: malformed assertion.");
  const { header, claims } = jwt;
  const iss = typeof claims.iss === "string" ? claims.iss : "";
  const account = iss ? findServiceAccount(state, iss) : undefined;
  if (!account || account.email !== iss.toLowerCase()) {
    return oauthError(400, "invalid_grant", "Invalid grant: account not found");
  }
  const kid = typeof header.kid === "string" ? header.kid : undefined;
  let verified = false;
  for (const key of state.serviceAccountKeys.candidates(account.email, kid)) {
    if (await verifyRs256(jwt, key)) {
      verified = true;
      break;
    }
  }
  if (!verified) return oauthError(400, "invalid_grant", "Invalid JWT Signature.");
  const audiences = [
    TOKEN_AUDIENCE,
    "https://www.googleapis.com/oauth2/v4/token",
    `${state.baseUrl}/token`,
  ];
  if (typeof claims.aud !== "string" || !audiences.includes(claims.aud)) {
    return oauthError(
      400,
      "invalid_grant",
      `Invalid JWT: Failed audience check. The right audience is ${TOKEN_AUDIENCE}`,
    );
  }
  const now = state.clock.now() / 1000;
  const { iat, exp } = claims;
  if (
    typeof iat !== "number" || typeof exp !== "number" || exp <= iat || exp - iat > 3600 ||
    iat > now + CLOCK_SKEW_SECONDS || exp <= now
  ) {
    return oauthError(400, "invalid_grant", SHORT_LIVED_JWT);
  }
  if (claims.sub !== undefined && claims.sub !== iss) {
    return oauthError(
      401,
      "unauthorized_client",
      "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
    );
  }
  setPrincipal(account.email);
  const issuedAt = Math.floor(state.clock.now() / 1000);
  if (typeof claims.target_audience === "string" && claims.target_audience !== "") {
    const idToken = await state.signingKeys.sign({
      aud: claims.target_audience,
      azp: account.email,
      email: account.email,
      email_verified: true,
      exp: issuedAt + 3600,
      iat: issuedAt,
      iss: "https://accounts.google.com",
      sub: account.uniqueId,
    });
    return jsonResponse(200, { id_token: idToken });
  }
  const scopes = typeof claims.scope === "string" ? claims.scope.split(/\s+/).filter(Boolean) : [];
  if (scopes.length === 0) {
    return oauthError(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.");
  }
  const { token } = state.tokens.issue({
    principal: account.email,
    subject: account.uniqueId,
    clientId: account.uniqueId,
    scopes,
    source: "jwt_bearer",
  }, TOKEN_LIFETIME_SECONDS);
  return jsonResponse(200, {
    access_token: token,
    expires_in: TOKEN_LIFETIME_SECONDS,
    scope: scopes.join(" "),
    token_type: "Bearer",
  });
}
