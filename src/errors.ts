/** What an {@link HttpError} carries besides status, message and code. */
export interface HttpErrorExtras {
  /** Response headers to answer with, e.g. `{"retry-after": "30"}` on a 429 or 503. */
  headers?: Record<string, string>;
  /**
   * Detail for the server's own log only (never the response): what the message leaves out
   * because the client must not see it, e.g. the host's ADC path or the upstream URL. No secrets.
   */
  logDetail?: string;
}

/** The one error type that crosses a boundary: an HTTP status, a user-facing message, an optional code. */
export class HttpError extends Error {
  /** HTTP status the gate or proxy answers with. */
  readonly status: number;
  /** Machine-readable code, e.g. `credentials_expired`. */
  readonly code?: string;
  /** Response headers to answer with (lower-case names). */
  readonly headers: Readonly<Record<string, string>>;
  /** Detail for the server's log only, never sent. */
  readonly logDetail?: string;

  constructor(status: number, message: string, code?: string, extras: HttpErrorExtras = {}) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.code = code;
    this.headers = extras.headers ?? {};
    this.logDetail = extras.logDetail;
  }

  /** The wire body `{error, code?}` shared by every gate and proxy route. */
  toBody(): { error: string; code?: string } {
    return this.code ? { error: this.message, code: this.code } : { error: this.message };
  }
}

/** Raised for bad user input (flags, config, arguments): printed as one line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Returns the message of anything thrown, without a stack. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
