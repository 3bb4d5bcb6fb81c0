/**
 * The per-run gcloud configuration directory (`CLOUDSDK_CONFIG`), which holds no credential.
 *
 * gcloud inside with-prod takes its token from the temporary metadata proxy (GCE credentials at
 * `GCE_METADATA_ROOT`), so every token it uses passes the proxy's process-tree check; a token file
 * here would let any same-uid process skip that check (issue 7, defect 3). gcloud would still
 * cache the token it fetched in `access_tokens.db`, so that database is created here in advance
 * with triggers that discard every row written to it: gcloud runs normally and nothing lands on
 * disk. The directory is 0700 in the caller's private runtime directory and carries an `owner`
 * stamp (with-prod's PID and start time) so a later with-prod can sweep the sandboxes of
 * with-prods that died without cleaning up.
 * @module
 */
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { ProcFS } from "./proc_fs.ts";
import { stampAlive } from "./process_stamp.ts";

/** The sandbox directories' name prefix. */
export const SANDBOX_PREFIX = "authcalator-gcloud-";
/** The file in each sandbox naming the with-prod that owns it. */
export const OWNER_FILE = "owner";
/** A sandbox without a readable owner stamp is swept only when older than this. */
export const UNOWNED_GRACE_MS = 60_000;

/**
 * gcloud's properties: no file logging (its logs would hold request details), no usage
 * reporting or update checks (nothing leaves for anywhere but the proxy), GCE metadata checked.
 */
export const GCLOUD_PROPERTIES = [
  "[core]",
  "disable_file_logging = True",
  "disable_usage_reporting = True",
  "check_gce_metadata = True",
  "[component_manager]",
  "disable_update_check = True",
  "",
].join("\n");

/**
 * gcloud's access-token cache schema (googlecloudsdk/core/credentials/creds.py) with triggers that
 * silently drop every insert and update, so gcloud's `REPLACE INTO` succeeds and stores nothing.
 */
const DISCARDING_TOKEN_CACHE = `
CREATE TABLE IF NOT EXISTS "access_tokens" (account_id TEXT PRIMARY KEY, access_token TEXT,
  token_expiry TIMESTAMP, rapt_token TEXT, id_token TEXT);
CREATE TRIGGER discard_token_insert BEFORE INSERT ON "access_tokens"
  BEGIN SELECT RAISE(IGNORE); END;
CREATE TRIGGER discard_token_update BEFORE UPDATE ON "access_tokens"
  BEGIN SELECT RAISE(IGNORE); END;
`;

/** A created sandbox. */
export interface Sandbox {
  dir: string;
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

/** Creates gcloud's access-token cache as a database that keeps nothing. */
export async function createDiscardingTokenCache(path: string): Promise<void> {
  // Created empty and exclusively first, so the database never opens a planted name.
  await Deno.writeFile(path, new Uint8Array(), { createNew: true, mode: 0o600 });
  const db = new DatabaseSync(path);
  try {
    db.exec(DISCARDING_TOKEN_CACHE);
  } finally {
    db.close();
  }
}

/**
 * Creates the sandbox: owner stamp, gcloud properties, the discarding token cache, and gcloud's
 * on-GCE cache set so gcloud goes straight to the proxy.
 */
export async function createSandbox(parent: string, ownerStamp: string): Promise<Sandbox> {
  await Deno.mkdir(parent, { recursive: true, mode: 0o700 });
  const dir = await Deno.makeTempDir({ dir: parent, prefix: SANDBOX_PREFIX });
  const remove = () => Deno.remove(dir, { recursive: true }).catch(() => {});
  try {
    await Deno.chmod(dir, 0o700);
    await writeFileAtomic(join(dir, OWNER_FILE), `${ownerStamp}\n`);
    await writeFileAtomic(join(dir, "properties"), GCLOUD_PROPERTIES);
    await writeFileAtomic(join(dir, "gce"), "True");
    await createDiscardingTokenCache(join(dir, "access_tokens.db"));
    return { dir, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

/**
 * Removes the sandboxes under `parent` whose owner is no longer running (a with-prod killed
 * together with its reaper, or a crash). A sandbox without a readable stamp is removed once older
 * than {@link UNOWNED_GRACE_MS} (its creator writes the stamp first). Only directories named
 * {@link SANDBOX_PREFIX}… are considered; symlinks are never followed. Returns the removed paths.
 */
export async function sweepStaleSandboxes(
  parent: string,
  proc: ProcFS,
  now: number = Date.now(),
): Promise<string[]> {
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(parent));
  } catch {
    return removed; // no parent yet: nothing to sweep
  }
  for (const entry of entries) {
    if (!entry.isDirectory || entry.isSymlink || !entry.name.startsWith(SANDBOX_PREFIX)) continue;
    const dir = join(parent, entry.name);
    let stamp: string | undefined;
    try {
      stamp = await Deno.readTextFile(join(dir, OWNER_FILE));
    } catch { /* unowned */ }
    if (stamp !== undefined && stamp.trim() !== "") {
      if (await stampAlive(proc, stamp)) continue;
    } else {
      const mtime = (await Deno.lstat(dir).catch(() => undefined))?.mtime?.getTime();
      if (mtime === undefined || now - mtime < UNOWNED_GRACE_MS) continue;
    }
    try {
      await Deno.remove(dir, { recursive: true });
      removed.push(dir);
    } catch { /* raced with its owner or another sweep */ }
  }
  return removed;
}
