/**
 * Reads a route's credential on the host, on demand, from where `[routes.<name>]` says it lives:
 * an environment variable of the gate; an owner-only file, re-read when it changes (so a rotated
 * token is picked up without a restart); or a command (`gh auth token`, `op read op://…`) run with
 * a deadline that kills it, its output cached for the configured time. The value never appears in
 * an error or log line: errors say which source failed and why, never what it held.
 * @module
 */
import type { Clock } from "../clock.ts";
import { systemClock } from "../clock.ts";
import type { CredentialSourceConfig } from "./route_config.ts";

/** A credential source gave nothing usable; the message names the source, never a value. */
export class CredentialUnavailableError extends Error {}

/** Yields the current credential value. */
export interface CredentialSource {
  get(signal?: AbortSignal): Promise<string>;
}

/** Effects a source needs (injected by tests). */
export interface CredentialSourceDeps {
  env: (name: string) => string | undefined;
  clock: Clock;
  /** The gate's uid (a credential file must be owned by it); undefined where unknown. */
  uid: number | undefined;
  /** Expands a leading `~/`. */
  home: string | undefined;
}

/** Longest credential accepted (bytes); a command printing more is refused. */
export const MAX_CREDENTIAL_BYTES = 16 * 1024;

/** The real effects. */
export function realCredentialSourceDeps(): CredentialSourceDeps {
  return {
    env: (name) => Deno.env.get(name),
    clock: systemClock,
    uid: Deno.uid() ?? undefined,
    home: Deno.env.get("HOME"),
  };
}

/** The source for `config` of route `route`. */
export function credentialSource(
  route: string,
  config: CredentialSourceConfig,
  deps: CredentialSourceDeps,
): CredentialSource {
  switch (config.kind) {
    case "env":
      return {
        get: () =>
          Promise.resolve().then(() =>
            checked(route, `environment variable ${config.name}`, deps.env(config.name))
          ),
      };
    case "file":
      return fileSource(route, expand(config.path, deps.home), deps);
    case "command":
      return commandSource(route, config.argv, config.timeoutMs, config.cacheMs, deps);
  }
}

function expand(path: string, home: string | undefined): string {
  return path.startsWith("~/") && home !== undefined ? `${home}${path.slice(1)}` : path;
}

/** The value, trimmed of surrounding whitespace, or an error naming `what` (never the value). */
function checked(route: string, what: string, value: string | undefined): string {
  if (value === undefined) {
    throw new CredentialUnavailableError(`route ${route}: ${what} is not set`);
  }
  const v = value.trim();
  if (v === "") throw new CredentialUnavailableError(`route ${route}: ${what} is empty`);
  if (v.length > MAX_CREDENTIAL_BYTES) {
    throw new CredentialUnavailableError(`route ${route}: ${what} is too long for a credential`);
  }
  // A credential with a control byte would split a header (and is never a real token).
  if (/[^\x20-\x7e]/.test(v)) {
    throw new CredentialUnavailableError(
      `route ${route}: ${what} holds control or non-ASCII characters`,
    );
  }
  return v;
}

function fileSource(route: string, path: string, deps: CredentialSourceDeps): CredentialSource {
  let cached: { key: string; value: string } | undefined;
  const what = `credential file ${path}`;
  // Errors are rejections, never synchronous throws.
  return { get: () => Promise.resolve().then(read) };

  function read(): string {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(path);
    } catch (err) {
      const why = err instanceof Deno.errors.NotFound ? "does not exist" : "cannot be read";
      throw new CredentialUnavailableError(`route ${route}: ${what} ${why}`);
    }
    if (!info.isFile) {
      throw new CredentialUnavailableError(`route ${route}: ${what} is not a file`);
    }
    if (info.mode !== null && (info.mode & 0o077) !== 0) {
      throw new CredentialUnavailableError(
        `route ${route}: ${what} is readable by others (chmod 600 it)`,
      );
    }
    if (deps.uid !== undefined && info.uid !== null && info.uid !== deps.uid) {
      throw new CredentialUnavailableError(
        `route ${route}: ${what} is not owned by the gate's user`,
      );
    }
    // Re-read when the file changed (inode, size or mtime), so a rotated token is used at once.
    const key = `${info.ino}:${info.size}:${info.mtime?.getTime()}`;
    if (cached?.key === key) return cached.value;
    if (info.size > MAX_CREDENTIAL_BYTES) {
      throw new CredentialUnavailableError(
        `route ${route}: ${what} is too long for a credential`,
      );
    }
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch {
      throw new CredentialUnavailableError(`route ${route}: ${what} cannot be read`);
    }
    const value = checked(route, what, text);
    cached = { key, value };
    return value;
  }
}

function commandSource(
  route: string,
  argv: string[],
  timeoutMs: number,
  cacheMs: number,
  deps: CredentialSourceDeps,
): CredentialSource {
  const what = `credential command ${JSON.stringify(argv[0])}`;
  let cached: { value: string; until: number } | undefined;
  let inFlight: Promise<string> | undefined;

  async function run(): Promise<string> {
    const deadline = AbortSignal.timeout(timeoutMs);
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command(argv[0], {
        args: argv.slice(1),
        stdin: "null",
        stdout: "piped",
        // Its stderr may echo the secret or a prompt; it is never kept or logged.
        stderr: "null",
        signal: deadline,
      }).output();
    } catch (err) {
      if (deadline.aborted) {
        throw new CredentialUnavailableError(
          `route ${route}: ${what} did not finish within ${timeoutMs / 1000}s (killed)`,
        );
      }
      const why = err instanceof Deno.errors.NotFound
        ? "was not found"
        : err instanceof Deno.errors.NotCapable
        ? "is not in the gate's --allow-run (run the gate with `authcalator permissions gate`'s flags)"
        : "could not be started";
      throw new CredentialUnavailableError(`route ${route}: ${what} ${why}`);
    }
    if (deadline.aborted) {
      throw new CredentialUnavailableError(
        `route ${route}: ${what} did not finish within ${timeoutMs / 1000}s (killed)`,
      );
    }
    if (!out.success) {
      throw new CredentialUnavailableError(
        `route ${route}: ${what} failed (exit ${out.code}${out.signal ? `, ${out.signal}` : ""})`,
      );
    }
    if (out.stdout.length > MAX_CREDENTIAL_BYTES) {
      throw new CredentialUnavailableError(
        `route ${route}: ${what} printed too much for a credential`,
      );
    }
    const text = new TextDecoder().decode(out.stdout);
    if (text.trim() === "") {
      throw new CredentialUnavailableError(`route ${route}: ${what} printed nothing`);
    }
    return checked(route, what, text);
  }

  return {
    get() {
      const now = deps.clock.now();
      if (cached !== undefined && now < cached.until) return Promise.resolve(cached.value);
      // Concurrent callers share one run; a failure is never cached.
      inFlight ??= run().then((value) => {
        if (cacheMs > 0) cached = { value, until: deps.clock.now() + cacheMs };
        return value;
      }).finally(() => inFlight = undefined);
      return inFlight;
    },
  };
}
