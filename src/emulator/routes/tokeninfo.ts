/**
 * `GET|POST /tokeninfo` (oauth2.googleapis.com): what Google knows about a live access token
 * (`access_token` in the query, the form body or a bearer header) or an ID token it signed
 * (`id_token`). Values are strings, as Google sends them.
 * @module
 */
import { type Context, Hono } from "hono";
import { decodeJwt, verifyRs256 } from "../jwt.ts";
import { jsonResponse, oauthError } from "../google_errors.ts";
import { readOAuthParams } from "../request_body.ts";
import type { EmulatorEnv, EmulatorState } from "../state.ts";
import type { TokenRecord } from "../token_store.ts";

const EMAIL_SCOPES = ["email", "https://www.googleapis.com/auth/userinfo.email"];

/** Routes of the tokeninfo endpoint. */
export function tokeninfoRoutes(state: EmulatorState): Hono<EmulatorEnv> {
  const app = new Hono<EmulatorEnv>();
  const handle = async (c: Context<EmulatorEnv>) => {
    const params = new Map(new URL(c.req.url).searchParams);
    if (c.req.method === "POST") {
      const body = await readOAuthParams(c.req.raw);
      if (body instanceof Response) return body;
      for (const [k, v] of body) params.set(k, v);
    }
    // google-auth-library's getTokenInfo sends the token only as a bearer header.
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "")?.[1];
    const accessToken = params.get("access_token") ?? (params.has("id_token") ? undefined : bearer);
    if (accessToken) {
      const record = state.tokens.lookup(accessToken);
      if (!record) return invalidToken();
      c.set("principal", record.principal);
      return jsonResponse(200, accessTokenInfo(record, state.clock.now()));
    }
    const idToken = params.get("id_token");
    if (idToken) return await idTokenInfo(state, idToken);
    return oauthError(
      400,
      "invalid_request",
      "Either access_token, id_token, or token_handle required",
    );
  };
  app.get("/tokeninfo", handle);
  app.post("/tokeninfo", handle);
  return app;
}

function invalidToken(): Response {
  return oauthError(400, "invalid_token", "Invalid Value");
}

/** The tokeninfo body of an access token; email only when a scope grants it, as at Google. */
export function accessTokenInfo(record: TokenRecord, now: number): Record<string, string> {
  const info: Record<string, string> = {
    azp: record.clientId,
    aud: record.clientId,
    sub: record.subject,
    scope: record.scopes.join(" "),
    exp: String(Math.floor(record.expiresAt / 1000)),
    expires_in: String(Math.max(0, Math.floor((record.expiresAt - now) / 1000))),
  };
  if (record.scopes.some((s) => EMAIL_SCOPES.includes(s))) {
    info.email = record.principal;
    info.email_verified = "true";
  }
  info.access_type = record.source === "refresh_token" ? "offline" : "online";
  return info;
}

async function idTokenInfo(state: EmulatorState, token: string): Promise<Response> {
  const jwt = decodeJwt(token);
  if (!jwt || jwt.header.kid !== state.signingKeys.kid) return invalidToken();
  if (!(await verifyRs256(jwt, state.signingKeys.publicKey))) return invalidToken();
  const exp = jwt.claims.exp;
  if (typeof exp !== "number" || exp * 1000 <= state.clock.now()) return invalidToken();
  const info: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...jwt.claims, ...jwt.header })) {
    info[k] = typeof v === "string" ? v : JSON.stringify(v);
  }
  return jsonResponse(200, info);
}
