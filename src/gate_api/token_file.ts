/**
 * The bearer token a remote gate accepts, read from its file on every request: Kubernetes
 * rotates a projected service-account token by swapping the file under a running pod, so a token
 * read once at start-up would stop working within the hour. A missing, empty or malformed file
 * is an error naming the file and the fix; an empty Authorization header is never sent, and no
 * message ever carries the token.
 * @module
 */

/** The token file could not give a usable token; the message names the file, never its content. */
export class TokenFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TokenFileError";
  }
}

/** Largest token file read (a projected service-account JWT is about 1 KiB). */
export const MAX_TOKEN_FILE_BYTES = 64 * 1024;

/** What to check when the token file is not usable. */
const TOKEN_FIX =
  "gate_token_file must name a file holding the token the gate accepts (in Kubernetes, a projected serviceAccountToken volume with the gate's audience)";

/** A writer that truncates and rewrites in place can be caught between the two; wait this once. */
const REWRITE_PAUSE_MS = 20;

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

async function readCapped(path: string, signal: AbortSignal): Promise<string> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new TokenFileError(`the token file ${path} does not exist: ${TOKEN_FIX}`);
    }
    if (err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable) {
      throw new TokenFileError(`the token file ${path} cannot be read (permission denied)`);
    }
    throw new TokenFileError(`the token file ${path} cannot be opened (${(err as Error).name})`);
  }
  try {
    if (!(await file.stat()).isFile) {
      throw new TokenFileError(`the token file ${path} is not a regular file: ${TOKEN_FIX}`);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    const buf = new Uint8Array(16 * 1024);
    while (true) {
      signal.throwIfAborted();
      const n = await file.read(buf);
      if (n === null) break;
      size += n;
      if (size > MAX_TOKEN_FILE_BYTES) {
        throw new TokenFileError(
          `the token file ${path} is larger than ${MAX_TOKEN_FILE_BYTES} bytes: ${TOKEN_FIX}`,
        );
      }
      chunks.push(buf.slice(0, n));
    }
    const all = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    return new TextDecoder().decode(all);
  } finally {
    file.close();
  }
}

/**
 * The token in `path`, surrounding whitespace removed. Rejects with {@link TokenFileError} when the
 * file is missing, unreadable, too large, empty or holds characters a header cannot carry; with
 * the signal's reason when `signal` aborts.
 */
export async function readBearerToken(path: string, signal: AbortSignal): Promise<string> {
  let token = (await readCapped(path, signal)).trim();
  if (token === "") {
    await pause(REWRITE_PAUSE_MS, signal);
    token = (await readCapped(path, signal)).trim();
  }
  if (token === "") throw new TokenFileError(`the token file ${path} is empty: ${TOKEN_FIX}`);
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new TokenFileError(
      `the token file ${path} holds characters an Authorization header cannot carry: ${TOKEN_FIX}`,
    );
  }
  return token;
}
