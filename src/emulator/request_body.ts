/**
 * Reading request bodies the way Google's endpoints do: OAuth endpoints take form parameters
 * (or a JSON object), REST APIs take a JSON object and reject unknown fields.
 * @module
 */
import { oauthError, rpcError } from "./google_errors.ts";

/** Parameters of an OAuth request from a form or JSON body; an error Response when unreadable. */
export async function readOAuthParams(request: Request): Promise<Map<string, string> | Response> {
  const type = request.headers.get("content-type") ?? "";
  const text = await request.text();
  if (!type.toLowerCase().includes("application/json")) {
    return new Map(new URLSearchParams(text));
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return oauthError(400, "invalid_request", "Invalid JSON payload received.");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return oauthError(400, "invalid_request", "Invalid JSON payload received. Expected an object.");
  }
  const params = new Map<string, string>();
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === "string") params.set(k, v);
    else if (typeof v === "number" || typeof v === "boolean") params.set(k, String(v));
  }
  return params;
}

/**
 * The JSON object body of a REST call, checked against the request message's field names;
 * an empty body is an empty message, as in Google's JSON transcoding.
 */
export async function readJsonMessage(
  request: Request,
  fields: readonly string[],
): Promise<Record<string, unknown> | Response> {
  const text = await request.text();
  if (text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return rpcError(400, "Invalid JSON payload received. Unexpected token.");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return rpcError(400, "Invalid JSON payload received. Expected an object at the top level.");
  }
  for (const key of Object.keys(value)) {
    if (!fields.includes(key)) {
      return rpcError(
        400,
        `Invalid JSON payload received. Unknown name ${
          JSON.stringify(key.slice(0, 64))
        }: Cannot find field.`,
      );
    }
  }
  return value as Record<string, unknown>;
}

/** Checks an optional repeated string field; returns the list or an error Response. */
export function stringList(message: Record<string, unknown>, field: string): string[] | Response {
  const v = message[field];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    return rpcError(
      400,
      `Invalid value at '${field}' (TYPE_STRING), expected a list of strings.`,
    );
  }
  return v as string[];
}

/** Checks an optional bool field; returns it (default false) or an error Response. */
export function boolField(message: Record<string, unknown>, field: string): boolean | Response {
  const v = message[field];
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") return rpcError(400, `Invalid value at '${field}' (TYPE_BOOL).`);
  return v;
}
