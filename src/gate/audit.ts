/**
 * The audit log: one fixed-schema JSON line per decision, written before a grant leaves so that
 * nothing is granted unaudited (a grant whose line cannot be written is refused), rotated by size
 * into a bounded number of 0600 files, and checked at start so a gate that cannot record never runs.
 * @module
 */
import type { Clock } from "../clock.ts";
import { HttpError } from "../errors.ts";
import { scrubSecrets } from "../secrets.ts";

/** What happened to a request. */
export type AuditResult =
  | "granted"
  | "denied"
  | "error"
  | "rate_limited"
  | "revoked"
  // A queued prod request nobody decided in time; a dialog or terminal prompt left unanswered; a
  // prod request whose client went away before the grant (never `granted`).
  | "expired"
  | "timed_out"
  | "cancelled";

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
  /** `/id-token`: the audience the identity token was minted for. */
  audience?: string;
  /** Prod requests: the requester as the kernel reports it (false = the listener could not tell). */
  peer_verified?: boolean;
  peer_uid?: number;
  peer_pid?: number;
  /** The requester's pid in its own PID namespace, when it differs from `peer_pid`. */
  peer_ns_pid?: number;
  peer_exe?: string;
  /** The requester's kernel argv, redacted like `command_argv`. */
  peer_argv?: string[];
  /** Whether the reported command disagrees with the kernel argv (absent: not comparable). */
  command_mismatch?: boolean;
  /** The pairing code shown on every approval surface and printed by with-prod. */
  pairing_code?: string;
  /** The session is held: it is revoked when its holder's connection ends. */
  held?: boolean;
  /** TCP listener: the authenticated client's name (certificate, token list or service account). */
  client?: string;
  /** TCP listener: how the client authenticated. */
  client_auth?: "certificate" | "bearer_file" | "token_review";
  /** TCP listener: the client's address as the gate's socket saw it. */
  client_address?: string;
  /** Routed calls (`/routes/<name>`, issue 11): the route, method and path (query names only). */
  route?: string;
  method?: string;
  path?: string;
  /** Routed calls: the upstream's status (or the gate's own refusal status). */
  status?: number;
  /** Routed calls: request body bytes sent upstream, response body bytes sent back. */
  bytes_up?: number;
  bytes_down?: number;
  duration_ms?: number;
  /** Routed calls: who asked, as far as the container proxy could tell. */
  requester?: string;
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
  "audience",
  "peer_verified",
  "peer_uid",
  "peer_pid",
  "peer_ns_pid",
  "peer_exe",
  "peer_argv",
  "command_mismatch",
  "pairing_code",
  "held",
  "client",
  "client_auth",
  "client_address",
  "route",
  "method",
  "path",
  "status",
  "bytes_up",
  "bytes_down",
  "duration_ms",
  "requester",
];

/**
 * Where audit lines go; the real one appends to a 0600 file.
 *
 * `write` is the fail-closed seam: when the line could not be written and the entry grants
 * something that must be audited (every prod grant; a dev grant unless `audit_required = false`)
 * it throws {@link auditUnavailable}'s HttpError 503 `audit_unavailable`. A grant path that writes
 * its line before the token leaves therefore refuses the grant without further code. Lines that
 * grant nothing (denials, errors, revocations) never throw: refusing them would only hide the
 * original answer.
 */
export interface AuditLog {
  write(entry: AuditEntry): void;
  /**
   * False while the last line could not be written (until one is again). Routed calls, whose line
   * is written when they end, check it before they start (src/gate/routes_app.ts). Absent: true.
   */
  healthy?(): boolean;
}

/** The code of the 503 answered when a grant could not be audited. */
export const AUDIT_UNAVAILABLE = "audit_unavailable";

/** The error a grant gets when its audit line was not written (no host path: the container sees it). */
export function auditUnavailable(): HttpError {
  return new HttpError(
    503,
    "the gate cannot write its audit log, so it grants nothing unaudited; the gate's own log names " +
      "the cause (ask the engineer to check the host)",
    AUDIT_UNAVAILABLE,
  );
}

/** Whether a line that was not written must fail its request: grants, prod always, dev if required. */
export function mustBeAudited(entry: AuditEntry, devRequired: boolean): boolean {
  return entry.result === "granted" && (entry.level === "prod" || devRequired);
}

/** Renders one entry as a JSON line with `timestamp` first and only the schema's fields. */
export function renderAuditLine(entry: AuditEntry, now: number): string {
  const out: Record<string, unknown> = { timestamp: new Date(now).toISOString() };
  for (const field of FIELDS) {
    const value = entry[field];
    if (value !== undefined) out[field] = scrubbed(value);
  }
  return JSON.stringify(out) + "\n";
}

/**
 * Text fields pass through the secret scrubber: an error message or a wrapped command line
 * (`curl -H "Authorization: Bearer ya29…"`) must not carry a credential into the log.
 */
function scrubbed(value: unknown): unknown {
  if (typeof value === "string") return scrubSecrets(value);
  if (Array.isArray(value)) return value.map(scrubbed);
  return value;
}

/** A non-reversible 12-hex-char reference to a session id, so audit lines can be correlated. */
export async function sessionRef(sessionId: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(sessionId));
  return Array.from(new Uint8Array(digest).slice(0, 6), (b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/** Default size at which `audit.log` is rotated (`audit_max_bytes`). */
export const DEFAULT_AUDIT_MAX_BYTES = 10 * 1024 * 1024;
/** Default number of rotated files kept besides `audit.log` (`audit_max_files`). */
export const DEFAULT_AUDIT_MAX_FILES = 5;

/** The open audit file, as much of it as appending needs; tests inject faults through it. */
export interface AuditFile {
  /** Current size in bytes. */
  size(): number;
  /** Writes some of `bytes` (like write(2)); returns how many. */
  write(bytes: Uint8Array): number;
  /** Cuts the file back to `size` bytes (undoes a partial line). */
  truncate(size: number): void;
  close(): void;
}

/** Opens `path` for appending, creating it 0600. */
export function openAuditFile(path: string): AuditFile {
  const file = Deno.openSync(path, { append: true, create: true, mode: 0o600 });
  return {
    size: () => file.statSync().size,
    write: (bytes) => file.writeSync(bytes),
    truncate: (size) => file.truncateSync(size),
    close: () => file.close(),
  };
}

/** Options of {@link FileAuditLog}. */
export interface FileAuditLogOptions {
  path: string;
  clock: Clock;
  /** `audit_required`: whether a dev grant fails when its line cannot be written (default true). */
  required?: boolean;
  /** Rotate before a line would take `audit.log` past this size (`audit_max_bytes`). */
  maxBytes?: number;
  /** Rotated files kept: `audit.log.1` (newest) … `audit.log.<maxFiles>` (`audit_max_files`). */
  maxFiles?: number;
  /** The gate's error log (stderr); given the path and the OS error, never a line's content. */
  log?: (message: string) => void;
  /** Opens the file for appending (default {@link openAuditFile}). */
  open?: (path: string) => AuditFile;
  /** While failing, how often the failure is repeated on the log (60 s); the first one is at once. */
  repeatMs?: number;
}

const encoder = new TextEncoder();

/**
 * Appends audit lines to `path` (0600), rotating by size into a bounded set of files. Writes are
 * synchronous on purpose: one gate process writes the log, so a line, the size check and a rotation
 * never interleave with another line, and a line is either whole in the file or not there at all
 * (a partial write is cut back). A failed write is reported once per burst, and throws for grants
 * that must be audited (see {@link AuditLog}).
 */
export class FileAuditLog implements AuditLog {
  readonly path: string;
  readonly #clock: Clock;
  readonly #required: boolean;
  readonly #maxBytes: number;
  readonly #maxFiles: number;
  readonly #log: (message: string) => void;
  readonly #open: (path: string) => AuditFile;
  readonly #repeatMs: number;
  #failing = false;
  #lost = 0;
  #lastReport = 0;
  #rotateFailing = false;

  constructor(options: FileAuditLogOptions) {
    this.path = options.path;
    this.#clock = options.clock;
    this.#required = options.required ?? true;
    this.#maxBytes = options.maxBytes ?? DEFAULT_AUDIT_MAX_BYTES;
    this.#maxFiles = options.maxFiles ?? DEFAULT_AUDIT_MAX_FILES;
    this.#log = options.log ?? ((m) => console.error(m));
    this.#open = options.open ?? openAuditFile;
    this.#repeatMs = options.repeatMs ?? 60_000;
  }

  healthy(): boolean {
    return !this.#failing;
  }

  write(entry: AuditEntry): void {
    const line = encoder.encode(renderAuditLine(entry, this.#clock.now()));
    try {
      this.#append(line);
    } catch (err) {
      this.#reportFailure(err);
      if (mustBeAudited(entry, this.#required)) throw auditUnavailable();
      return;
    }
    if (this.#failing) {
      this.#log(`audit: writing to ${this.path} again; ${this.#lost} line(s) could not be written`);
      this.#failing = false;
      this.#lost = 0;
    }
  }

  #append(line: Uint8Array): void {
    const info = lstatOrUndefined(this.path);
    if (info) {
      const why = notARegularFile(info);
      if (why) throw new Error(why);
      if (info.size > 0 && info.size + line.length > this.#maxBytes) this.#rotate();
    }
    const file = this.#open(this.path);
    try {
      const before = file.size();
      let written = 0;
      try {
        while (written < line.length) {
          const n = file.write(line.subarray(written));
          if (n <= 0) throw new Error("short write");
          written += n;
        }
      } catch (err) {
        // Never leave half a line behind: the next line would be glued to it.
        try {
          if (written > 0 || file.size() !== before) file.truncate(before);
        } catch { /* the write error below is what matters */ }
        throw err;
      }
    } finally {
      file.close();
    }
  }

  /** audit.log → .1 → .2 … → .<maxFiles>, the oldest overwritten; each rename is atomic. */
  #rotate(): void {
    try {
      for (let i = this.#maxFiles - 1; i >= 1; i--) {
        try {
          Deno.renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
        } catch (err) {
          if (!(err instanceof Deno.errors.NotFound)) throw err;
        }
      }
      Deno.renameSync(this.path, `${this.path}.1`);
      this.#rotateFailing = false;
    } catch (err) {
      // Keep appending to the current file: a line kept matters more than the size bound.
      if (!this.#rotateFailing) {
        this.#log(
          `audit: cannot rotate ${this.path} (${(err as Error).message}); ` +
            "appending to the current file until rotation works again",
        );
      }
      this.#rotateFailing = true;
    }
  }

  #reportFailure(err: unknown): void {
    this.#lost++;
    const now = this.#clock.now();
    if (this.#failing && now - this.#lastReport < this.#repeatMs) return;
    const consequence = this.#required
      ? "every grant is refused until it can be written"
      : "prod grants are refused; dev tokens are still granted, unaudited (audit_required = false)";
    const count = this.#failing ? ` (${this.#lost} line(s) not written so far)` : "";
    this.#log(
      `audit: cannot write ${this.path}: ${(err as Error).message}; ${consequence}${count}. ` +
        "Fix: free disk space, or make it a regular file you own with mode 0600",
    );
    this.#failing = true;
    this.#lastReport = now;
  }
}

function lstatOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

function notARegularFile(info: Deno.FileInfo): string | undefined {
  if (info.isSymlink) return "it is a symlink";
  if (info.isDirectory) return "it is a directory";
  if (!info.isFile) return "it is not a regular file";
  return undefined;
}

/** Raised at start when the audit log cannot be appended to; the message names the path and the fix. */
export class AuditLogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AuditLogError";
  }
}

/** Bytes the start check appends and cuts back: a whole block, so a full disk cannot absorb it. */
const PROBE_BYTES = 4096;

/**
 * Checks at start that the gate can append to its audit log at `path`, so that a gate that could
 * not record grants never starts. Refuses a symlink (e.g. to /dev/full), a directory or another
 * non-regular file, a file owned by someone else, a read-only file, and a file or disk that does
 * not take a write (the probe is cut back, leaving the log as it was). A group- or world-readable
 * log is tightened to 0600 and reported through `log`.
 */
export function checkAuditLog(
  path: string,
  options: { log?: (message: string) => void; open?: (path: string) => AuditFile } = {},
): void {
  const log = options.log ?? ((m: string) => console.error(m));
  const refuse = (why: string, fix: string) => {
    throw new AuditLogError(
      `cannot start: the audit log ${path} ${why}. Fix: ${fix}. ` +
        "The gate starts only when it can record every grant",
    );
  };
  let info: Deno.FileInfo | undefined;
  try {
    info = lstatOrUndefined(path);
  } catch (err) {
    refuse(`cannot be examined (${(err as Error).message})`, "check the runtime directory");
  }
  if (info?.isSymlink) {
    let target = "?";
    try {
      target = Deno.readLinkSync(path);
    } catch { /* named as "?" */ }
    refuse(
      `is a symlink (to ${target})`,
      `remove it (rm ${path}); the gate creates a regular 0600 file`,
    );
  }
  if (info?.isDirectory) {
    refuse("is a directory", `move it away (mv ${path} ${path}.old); the gate creates the file`);
  }
  if (info && !info.isFile) {
    refuse("is not a regular file", `remove it (rm ${path}); the gate creates a regular file`);
  }
  if (info) {
    const uid = Deno.uid();
    if (uid !== null && info.uid !== null && info.uid !== uid) {
      refuse(
        `is owned by uid ${info.uid}, not by this user (uid ${uid})`,
        `move it away, or chown it to uid ${uid}`,
      );
    }
    const mode = (info.mode ?? 0o600) & 0o777;
    if ((mode & 0o200) === 0) {
      refuse(`is read-only (mode 0${mode.toString(8)})`, `chmod 600 ${path}`);
    }
    if (mode & 0o077) {
      Deno.chmodSync(path, 0o600);
      log(
        `audit: ${path} was mode 0${mode.toString(8)}; tightened to 0600 (audit lines are private)`,
      );
    }
  }
  let file: AuditFile;
  try {
    file = (options.open ?? openAuditFile)(path);
  } catch (err) {
    return refuse(
      `cannot be opened for appending (${(err as Error).message})`,
      "make it a regular file you own with mode 0600, or remove it",
    );
  }
  try {
    const before = file.size();
    let written = 0;
    try {
      const probe = encoder.encode(" ".repeat(PROBE_BYTES));
      while (written < probe.length) {
        const n = file.write(probe.subarray(written));
        if (n <= 0) throw new Error("short write");
        written += n;
      }
    } catch (err) {
      refuse(
        `does not take a write (${(err as Error).message})`,
        "free disk space on its file system, or fix the file",
      );
    } finally {
      if (written > 0) file.truncate(before);
    }
  } finally {
    file.close();
  }
}

/** Keeps audit entries in memory (tests); `broken` makes it behave like an unwritable log. */
export class MemoryAuditLog implements AuditLog {
  readonly entries: AuditEntry[] = [];
  /** While true, lines are dropped, and grants that must be audited throw `audit_unavailable`. */
  broken = false;
  healthy(): boolean {
    return !this.broken;
  }
  /** `audit_required` as the broken log applies it to dev grants. */
  required = true;
  write(entry: AuditEntry): void {
    if (this.broken) {
      if (mustBeAudited(entry, this.required)) throw auditUnavailable();
      return;
    }
    this.entries.push(entry);
  }
}
