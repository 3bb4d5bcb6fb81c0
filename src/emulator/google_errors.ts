/**
 * Google's two error shapes: OAuth endpoints answer `{error, error_description}`, the JSON/REST
 * APIs (iamcredentials, Resource Manager) answer `{error: {code, message, status}}`.
 * @module
 */

/** Canonical gRPC status names by HTTP status, as Google's REST APIs report them. */
const STATUS_NAMES: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ABORTED",
  412: "FAILED_PRECONDITION",
  413: "INVALID_ARGUMENT",
  429: "RESOURCE_EXHAUSTED",
  499: "CANCELLED",
  500: "INTERNAL",
  501: "NOT_IMPLEMENTED",
  502: "UNAVAILABLE",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

/** The canonical status name for an HTTP status. */
export function statusName(code: number): string {
  return STATUS_NAMES[code] ?? (code >= 500 ? "INTERNAL" : "UNKNOWN");
}

/** A JSON response with Google's content type and no-store caching. */
export function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body, null, 2), {
    status,
    headers: {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-cache, no-store, max-age=0, must-revalidate",
      ...headers,
    },
  });
}

/** An OAuth 2.0 endpoint error: `{error, error_description, ...extra}`. */
export function oauthError(
  status: number,
  error: string,
  description: string,
  extra: Record<string, string> = {},
): Response {
  return jsonResponse(status, { error, error_description: description, ...extra });
}

/** A JSON/REST API error: `{error: {code, message, status}}`. */
export function rpcError(
  code: number,
  message: string,
  status = statusName(code),
  headers: Record<string, string> = {},
): Response {
  return jsonResponse(code, { error: { code, message, status } }, headers);
}

/** Google's message when a REST call carries no credential. */
export const MISSING_CREDENTIAL =
  "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";

/** Google's message when a REST call carries a dead or unknown credential. */
export const INVALID_CREDENTIAL =
  "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";

/** Google's message when the token lacks the scope an API needs. */
export const INSUFFICIENT_SCOPES = "Request had insufficient authentication scopes.";
