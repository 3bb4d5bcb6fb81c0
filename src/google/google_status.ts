/**
 * Google's error answers (non-2xx), read the same way whichever client received them: the
 * gate's own REST calls (tokeninfo, Resource Manager, the JWT exchange) build a
 * {@link GoogleStatusError}; google-auth-library's GaxiosError is read by {@link statusOf} and
 * friends. Both of Google's error shapes are understood: `{error: {code, message, status}}`
 * (REST APIs) and `{error, error_description}` (OAuth endpoints).
 * @module
 */

/** A non-2xx answer from Google. */
export class GoogleStatusError extends Error {
  readonly status: number;
  /** Google's `Retry-After`, verbatim (seconds or an HTTP date), when it sent one. */
  readonly retryAfter?: string;

  constructor(status: number, message: string, retryAfter?: string) {
    super(message);
    this.name = "GoogleStatusError";
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/** Google's own words from an error body of either shape ("" when there are none). */
export function googleErrorText(data: unknown): string {
  if (typeof data !== "object" || data === null) return "";
  const body = data as Record<string, unknown>;
  if (typeof body.error === "object" && body.error !== null) {
    const e = body.error as Record<string, unknown>;
    return [e.status, e.message].filter((x) => typeof x === "string" && x).join(": ");
  }
  return [body.error, body.error_description].filter((x) => typeof x === "string" && x)
    .join(": ");
}

/** The error for a non-2xx answer received while doing `what`. */
export function googleStatusError(
  res: { status: number; headers: Headers },
  data: unknown,
  what: string,
): GoogleStatusError {
  const words = googleErrorText(data) || `HTTP ${res.status}`;
  return new GoogleStatusError(
    res.status,
    `Google answered ${res.status} while ${what}: ${words}`,
    res.headers.get("retry-after") ?? undefined,
  );
}

interface MaybeResponse {
  status?: number;
  headers?: Headers | Record<string, string>;
  data?: unknown;
}

/** The response an error carries, if Google answered at all (GaxiosError or ours). */
function responseOf(err: unknown): MaybeResponse | undefined {
  return (err as { response?: MaybeResponse })?.response;
}

/** The HTTP status Google answered with, if the error carries one. */
export function statusOf(err: unknown): number | undefined {
  if (err instanceof GoogleStatusError) return err.status;
  const status = responseOf(err)?.status;
  return typeof status === "number" ? status : undefined;
}

/** Google's `Retry-After`, if the error carries one. */
export function retryAfterOf(err: unknown): string | undefined {
  if (err instanceof GoogleStatusError) return err.retryAfter;
  const headers = responseOf(err)?.headers;
  if (!headers) return undefined;
  if (headers instanceof Headers) return headers.get("retry-after") ?? undefined;
  const value = headers["retry-after"];
  return typeof value === "string" ? value : undefined;
}

/** Google's own words in the error's answer, if any. */
export function googleWordsOf(err: unknown): string {
  return googleErrorText(responseOf(err)?.data);
}
