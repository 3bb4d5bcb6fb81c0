import type { Clock } from "../clock.ts";

/** What happened to a request. */
export type AuditResult = "granted" | "denied" | "error" | "rate_limited" | "revoked";

/**
 * One audit line. The schema is fixed: only these fields are written, so a token value cannot reach
 * the log by accident. `session_id` is written as a short non-reversible reference, never the id.
 */
export interface AuditEntry {
  endpoint: string;
  level: "dev" | "prod";
  result: AuditResult;
  socket: "main" | "tcp" | "admin" | "operator";
  scopes?: string[];
  email?: string;
  error?: string;
  pam_policy?: string;
  pam_grant?: string;
  pam_cached?: boolean;
  token_ttl_seconds?: number;
  session_ref?: string;
  auto_approved?: boolean;
  command?: string;
  command_argv?: string[];
  command_truncated?: boolean;
  target_project?: string;
  pending_id?: string;
}

const FIELDS: readonly (keyof AuditEntry)[] = [
  "endpoint",
  "level",
  "result",
  "socket",
  "scopes",
  "email",
  "error",
  "pam_policy",
  "pam_grant",
  "pam_cached",
  "token_ttl_seconds",
  "session_ref",
  "auto_approved",
  "command",
  "command_argv",
  "command_truncated",
  "target_project",
  "pending_id",
];

/** Where audit lines go; the real one appends to a 0600 file. */
export interface AuditLog {
  write(entry: AuditEntry): void;
}

/** Renders one entry as a JSON line with `timestamp` first and only the schema's fields. */
export function renderAuditLine(entry: AuditEntry, now: number): string {
  const out: Record<string, unknown> = { timestamp: new Date(now).toISOString() };
  for (const field of FIELDS) {
    const value = entry[field];
    if (value !== undefined) out[field] = value;
  }
  return JSON.stringify(out) + "\n";
}

/** A non-reversible 12-hex-char reference to a session id, so audit lines can be correlated. */
export async function sessionRef(sessionId: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(sessionId));
  return Array.from(new Uint8Array(digest).slice(0, 6), (b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/** Appends audit lines to `path` (created 0600); a failed write goes to stderr, never fails a request. */
export class FileAuditLog implements AuditLog {
  readonly #path: string;
  readonly #clock: Clock;
  readonly #onError: (message: string) => void;

  constructor(path: string, clock: Clock, onError = (m: string) => console.error(m)) {
    this.#path = path;
    this.#clock = clock;
    this.#onError = onError;
  }

  write(entry: AuditEntry): void {
    try {
      Deno.writeTextFileSync(this.#path, renderAuditLine(entry, this.#clock.now()), {
        append: true,
        create: true,
        mode: 0o600,
      });
    } catch (err) {
      this.#onError(`audit: cannot write ${this.#path}: ${(err as Error).name}`);
    }
  }
}

/** Keeps audit entries in memory (tests). */
export class MemoryAuditLog implements AuditLog {
  readonly entries: AuditEntry[] = [];
  write(entry: AuditEntry): void {
    this.entries.push(entry);
  }
}
