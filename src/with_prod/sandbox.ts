/**
 * The per-run gcloud sandbox: a 0700 directory in the caller's private runtime directory with a
 * `properties` file pointing gcloud at a 0600 `access_token` file, rewritten atomically on every
 * refresh through an exclusive, randomly named temporary file so a planted symlink cannot
 * redirect the write.
 * @module
 */
import { join } from "node:path";

/** A created sandbox. */
export interface Sandbox {
  dir: string;
  tokenFile: string;
  /** Removes the whole directory (idempotent). */
  remove(): Promise<void>;
}

/** Where sandboxes go: `$XDG_RUNTIME_DIR`, else `$XDG_CACHE_HOME/authcalator`, else `~/.cache/authcalator`. */
export function sandboxParent(env: Record<string, string | undefined>): string {
  if (env.XDG_RUNTIME_DIR) return env.XDG_RUNTIME_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "authcalator");
  return join(env.HOME ?? "/", ".cache", "authcalator");
}

function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

/**
 * Writes `text` to `path` atomically: an exclusive create (`createNew`, never following an
 * existing name) of `<path>.<24 hex>.tmp` with mode 0600, then a rename over `path`. The
 * temporary name is always removed.
 */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${randomHex(12)}.tmp`;
  try {
    await Deno.writeTextFile(tmp, text, { createNew: true, mode: 0o600 });
    await Deno.chmod(tmp, 0o600);
    await Deno.rename(tmp, path);
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}

/** Creates the sandbox with the first token in it. */
export async function createSandbox(parent: string, firstToken: string): Promise<Sandbox> {
  await Deno.mkdir(parent, { recursive: true, mode: 0o700 });
  const dir = await Deno.makeTempDir({ dir: parent, prefix: "authcalator-gcloud-" });
  const remove = () => Deno.remove(dir, { recursive: true }).catch(() => {});
  try {
    await Deno.chmod(dir, 0o700);
    const tokenFile = join(dir, "access_token");
    await writeFileAtomic(tokenFile, firstToken);
    await writeFileAtomic(join(dir, "properties"), `[auth]\naccess_token_file = ${tokenFile}\n`);
    return { dir, tokenFile, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}
