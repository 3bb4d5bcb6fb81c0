import { HttpError } from "../errors.ts";
import { CLOUD_PLATFORM_SCOPE } from "../cli/config.ts";

const MAX_SCOPES = 50;

/** Parses the `scopes` query parameter: a comma list of non-empty scopes, default cloud-platform. */
export function parseScopes(raw: string | undefined): string[] {
  if (raw === undefined || raw === "") return [CLOUD_PLATFORM_SCOPE];
  const scopes = raw.split(",");
  if (scopes.length > MAX_SCOPES) {
    throw new HttpError(400, `at most ${MAX_SCOPES} scopes may be requested`);
  }
  // deno-lint-ignore no-control-regex
  if (scopes.some((s) => s === "" || /[\s\u0000-\u001f\u007f]/.test(s))) {
    throw new HttpError(
      400,
      "scopes must be a comma-separated list of non-empty scopes without spaces",
    );
  }
  return scopes;
}

/**
 * Parses an optional TTL parameter with gcp-authcalator's rules: an integer, at least `floor`, at
 * most the configured maximum (a caller may only shorten).
 */
export function parseTtl(
  name: string,
  raw: string | undefined,
  floor: number,
  max: number,
): number | undefined {
  if (raw === undefined) return undefined;
  const value = raw.trim() === "" ? 0 : Number(raw);
  if (!Number.isInteger(value)) throw new HttpError(400, `${name} must be an integer`);
  if (value < floor) throw new HttpError(400, `${name} must be >= ${floor}`);
  if (value > max) {
    throw new HttpError(400, `${name} (${value}) exceeds configured maximum (${max})`);
  }
  return value;
}
