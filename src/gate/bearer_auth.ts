/**
 * Bearer-token authentication for the gate's TCP listener: reading the `Authorization` header
 * strictly, and the gate's list of allowed tokens (`gate_bearer_tokens_file`), which holds only
 * SHA-256 hashes, so the file never holds a usable credential. The list is re-read whenever the
 * file changes (checked on every request with one `lstat`), so tokens are added or withdrawn
 * without a restart; a list that becomes unsafe or malformed refuses every token until it is
 * fixed (fail closed), and says why in the gate's log and the answer. The other verifier,
 * Kubernetes TokenReview, lives in src/kube/token_review.ts behind the same {@link BearerVerifier}.
 *
 * File format, one allowed token per line: `<64 hex digits of SHA-256(token)> [name]`; `#` starts
 * a comment line; blank lines are ignored. The name (letters, digits, `._@:-`, at most 64) is what
 * the audit records; without one it is `sha256:<first 12 hex digits>`.
 * Make a line with: `printf %s "$TOKEN" | sha256sum | cut -d' ' -f1`.
 * @module
 */
import { HttpError } from "../errors.ts";
import type { RemoteAuth } from "./remote_client.ts";

/** Codes of the answers a refused bearer gets. */
export const BEARER_CODES = {
  missing: "bearer_token_missing",
  refused: "bearer_token_refused",
  forbidden: "bearer_identity_not_allowed",
  unavailable: "bearer_verifier_unavailable",
} as const;

/** Checks a bearer token and names its holder, or throws an HttpError (401, 403 or 503). */
export interface BearerVerifier {
  readonly auth: Exclude<RemoteAuth, "certificate">;
  verify(token: string, signal: AbortSignal): Promise<string>;
}

/** Longest token accepted (a projected service-account token is about 1 KiB). */
export const MAX_BEARER_BYTES = 16 * 1024;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

/** The token of an `Authorization: Bearer <token>` header; anything else is a 401 naming why. */
export function bearerToken(authorization: string | null | undefined): string {
  const challenge = { headers: { "www-authenticate": "Bearer" } };
  if (authorization === null || authorization === undefined || authorization === "") {
    throw new HttpError(
      401,
      "this gate listener needs an Authorization: Bearer <token> header (gate_token_file on the client)",
      BEARER_CODES.missing,
      challenge,
    );
  }
  const match = /^Bearer +(\S+)$/i.exec(authorization.trim());
  if (!match) {
    throw new HttpError(
      401,
      "the Authorization header must be 'Bearer <token>'",
      BEARER_CODES.missing,
      challenge,
    );
  }
  const token = match[1];
  if (token.length > MAX_BEARER_BYTES || !TOKEN68.test(token)) {
    throw new HttpError(
      401,
      `the bearer token is malformed (token68 characters, at most ${MAX_BEARER_BYTES} bytes)`,
      BEARER_CODES.refused,
      challenge,
    );
  }
  return token;
}

/** The SHA-256 of `text` as lowercase hex. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Raised when a token list or TLS file is not one the gate will trust; the message says why. */
export class UnsafeFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsafeFileError";
  }
}

const MAX_LIST_BYTES = 1024 * 1024;
const HASH_LINE = /^([0-9a-fA-F]{64})(?:[ \t]+([A-Za-z0-9._@:-]{1,64}))?$/;

/** Parses the token list; every bad line is named by number (never echoed: it may be a token). */
export function parseTokenHashes(text: string, path: string): Map<string, string> {
  const hashes = new Map<string, string>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = HASH_LINE.exec(line);
    if (!m) {
      throw new UnsafeFileError(
        `${path} line ${i + 1} is not '<64 hex digits of SHA-256(token)> [name]' (a raw token ` +
          "does not belong in this file: store its hash)",
      );
    }
    const hash = m[1].toLowerCase();
    if (hashes.has(hash)) throw new UnsafeFileError(`${path} line ${i + 1} repeats a hash`);
    hashes.set(hash, m[2] ?? `sha256:${hash.slice(0, 12)}`);
  }
  return hashes;
}

/**
 * Reads a file the gate trusts: a regular file (not a symlink) owned by the gate's user with no
 * group or other permission bits, read through a descriptor checked to be that same file.
 */
export async function readOwnerOnlyFile(path: string, maxBytes = MAX_LIST_BYTES): Promise<string> {
  const info = await lstatOrExplain(path);
  if (info.isSymlink) throw new UnsafeFileError(`${path} is a symlink; refusing to use it`);
  if (!info.isFile) throw new UnsafeFileError(`${path} is not a regular file`);
  if (info.uid !== Deno.uid()) {
    throw new UnsafeFileError(
      `${path} is owned by uid ${info.uid}, not by this user (${Deno.uid()})`,
    );
  }
  if ((info.mode ?? 0) & 0o077) {
    throw new UnsafeFileError(
      `${path} has permissions 0${((info.mode ?? 0) & 0o777).toString(8)}; it must be ` +
        `owner-only: run chmod 600 ${path}`,
    );
  }
  if (info.size > maxBytes) throw new UnsafeFileError(`${path} is larger than ${maxBytes} bytes`);
  using file = await Deno.open(path, { read: true });
  const opened = await file.stat();
  if (opened.ino !== info.ino || opened.dev !== info.dev) {
    throw new UnsafeFileError(`${path} was replaced while it was being opened; try again`);
  }
  const bytes = new Uint8Array(maxBytes + 1);
  let length = 0;
  for (;;) {
    const n = await file.read(bytes.subarray(length));
    if (n === null) break;
    length += n;
    if (length > maxBytes) throw new UnsafeFileError(`${path} is larger than ${maxBytes} bytes`);
  }
  return new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, length));
}

async function lstatOrExplain(path: string): Promise<Deno.FileInfo> {
  try {
    return await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new UnsafeFileError(`${path} does not exist`);
    throw new UnsafeFileError(`${path} cannot be read: ${(err as Error).message}`);
  }
}

/** What identifies one version of a file without reading it. */
function fingerprint(info: Deno.FileInfo): string {
  return [info.dev, info.ino, info.size, info.mtime?.getTime(), info.ctime?.getTime(), info.mode]
    .join(":");
}

/** The gate's list of allowed bearer-token hashes (`gate_bearer_tokens_file`); see the module doc. */
export class BearerTokensFile implements BearerVerifier {
  readonly auth = "bearer_file" as const;
  #hashes = new Map<string, string>();
  #seen = "";
  #problem?: string;
  #reload?: Promise<void>;

  private constructor(readonly path: string, readonly log: (message: string) => void) {}

  /** Loads the list; an unsafe or malformed file throws (the gate then refuses to start). */
  static async open(path: string, log: (message: string) => void): Promise<BearerTokensFile> {
    const list = new BearerTokensFile(path, log);
    await list.#load();
    if (list.#problem) throw new UnsafeFileError(list.#problem);
    if (list.#hashes.size === 0) {
      throw new UnsafeFileError(`${path} lists no token hashes: no client could authenticate`);
    }
    return list;
  }

  /** How many tokens are allowed now. */
  get size(): number {
    return this.#problem ? 0 : this.#hashes.size;
  }

  async verify(token: string): Promise<string> {
    await this.#refresh();
    if (this.#problem) {
      throw new HttpError(
        503,
        "the gate's bearer token list is unusable; its operator must fix it (see the gate's log)",
        BEARER_CODES.unavailable,
      );
    }
    const name = this.#hashes.get(await sha256Hex(token));
    if (name === undefined) {
      throw new HttpError(401, "the bearer token is not on the gate's list", BEARER_CODES.refused, {
        headers: { "www-authenticate": 'Bearer error="invalid_token"' },
      });
    }
    return name;
  }

  /** Re-reads the list when the file changed (one reload at a time). */
  #refresh(): Promise<void> {
    this.#reload ??= (async () => {
      let now: string;
      try {
        now = fingerprint(await Deno.lstat(this.path));
      } catch {
        now = "missing";
      }
      if (now !== this.#seen) await this.#load();
    })().finally(() => (this.#reload = undefined));
    return this.#reload;
  }

  async #load(): Promise<void> {
    const before = this.#problem;
    try {
      const info = await Deno.lstat(this.path).catch(() => undefined);
      const text = await readOwnerOnlyFile(this.path);
      this.#hashes = parseTokenHashes(text, this.path);
      this.#seen = info ? fingerprint(info) : "missing";
      this.#problem = undefined;
      this.log(
        `${this.path}${before ? " is usable again" : ""}: ${this.#hashes.size} token(s) allowed`,
      );
    } catch (err) {
      const info = await Deno.lstat(this.path).catch(() => undefined);
      this.#seen = info ? fingerprint(info) : "missing";
      this.#problem = err instanceof UnsafeFileError
        ? err.message
        : `${this.path} cannot be read: ${(err as Error).message}`;
      this.#hashes = new Map();
      if (this.#problem !== before) {
        this.log(
          `bearer token list refused, every bearer token is refused until it is fixed: ${this.#problem}`,
        );
      }
    }
  }
}
