/** Bearer-token authentication for the emulated REST APIs, with Google's 401/403 answers. */
import {
  INSUFFICIENT_SCOPES,
  INVALID_CREDENTIAL,
  MISSING_CREDENTIAL,
  rpcError,
} from "./google_errors.ts";
import type { EmulatorState } from "./state.ts";
import type { TokenRecord } from "./token_store.ts";

/** The scope every Google Cloud API accepts. */
export const CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform";

/**
 * The live token record of the request's `Authorization: Bearer` token, if it carries one of
 * `acceptedScopes`; otherwise the 401 or 403 Response Google gives.
 */
export function authenticate(
  request: Request,
  state: EmulatorState,
  acceptedScopes: readonly string[],
): TokenRecord | Response {
  const header = request.headers.get("authorization");
  if (!header) {
    return rpcError(401, MISSING_CREDENTIAL, undefined, {
      "www-authenticate": 'Bearer realm="https://accounts.google.com/"',
    });
  }
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  const record = m ? state.tokens.lookup(m[1]) : undefined;
  if (!record) {
    return rpcError(401, INVALID_CREDENTIAL, undefined, {
      "www-authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"',
    });
  }
  if (!record.scopes.some((s) => acceptedScopes.includes(s))) {
    return rpcError(403, INSUFFICIENT_SCOPES, undefined, {
      "www-authenticate":
        `Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="${
          acceptedScopes.join(" ")
        }"`,
    });
  }
  return record;
}
