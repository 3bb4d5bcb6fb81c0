/**
 * Writes a kubeconfig safely: a mode-preserving backup, then an atomic replace of the real file
 * behind any symlink, falling back to an in-place write where a rename would change the owner.
 * @module
 */

/** Why a kubeconfig could not be written; reported as exit 1. */
export class KubeconfigWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KubeconfigWriteError";
  }
}

const dirOf = (path: string) => path.slice(0, path.lastIndexOf("/")) || "/";
const baseOf = (path: string) => path.slice(path.lastIndexOf("/") + 1);

/** Reads the kubeconfig, with a one-line reason when it cannot be read. */
export async function readKubeconfig(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    throw new KubeconfigWriteError(`cannot read kubeconfig ${path}: ${reason(err)}`);
  }
}

/** A short reason for a filesystem error, without a stack. */
function reason(err: unknown): string {
  if (err instanceof Deno.errors.NotFound) return "no such file";
  if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (err instanceof Deno.errors.NotCapable) return "not permitted for this role";
  if (err instanceof Deno.errors.IsADirectory) return "is a directory";
  return err instanceof Error ? err.message : String(err);
}

/**
 * Creates a fresh sibling of `path` (exclusive create, 0600), writes `data`, gives it the mode
 * and, when possible, the owner of `like`, and syncs it. Returns the sibling's path.
 */
async function writeSibling(path: string, data: Uint8Array, like: Deno.FileInfo): Promise<string> {
  const tmp = `${dirOf(path)}/.${baseOf(path)}.authcalator-${crypto.randomUUID()}.tmp`;
  const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
  try {
    await writeAll(file, data);
    await copyOwnerAndMode(tmp, file, like);
    await file.sync();
  } catch (err) {
    file.close();
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  file.close();
  return tmp;
}

async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await file.write(data.subarray(written));
}

async function copyOwnerAndMode(path: string, file: Deno.FsFile, like: Deno.FileInfo) {
  const mine = await file.stat();
  if (like.uid !== null && like.gid !== null && (mine.uid !== like.uid || mine.gid !== like.gid)) {
    // Only root may give a file away; anyone else keeps their own ownership (checked by caller).
    await Deno.chown(path, like.uid, like.gid).catch(() => {});
  }
  if (like.mode !== null) await Deno.chmod(path, like.mode & 0o7777);
}

/** Syncs a directory so a rename in it survives a crash (best effort: not every OS allows it). */
async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await Deno.open(dir, { read: true });
    try {
      await handle.sync();
    } finally {
      handle.close();
    }
  } catch { /* directory fsync is an extra, not a requirement */ }
}

/**
 * Copies `path` to `<path>.bak` with the source's mode (and owner, as root), via an exclusive
 * temp sibling and a rename, so a crash never leaves a half-written backup.
 */
export async function writeBackup(path: string): Promise<string> {
  const backup = `${path}.bak`;
  const data = await Deno.readFile(path);
  const info = await Deno.stat(path);
  const tmp = await writeSibling(backup, data, info);
  try {
    await Deno.rename(tmp, backup);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  await syncDir(dirOf(backup));
  return backup;
}

/** The real file behind `path`, refused when it has no write bits (checked before any backup). */
export async function writableTarget(
  path: string,
): Promise<{ target: string; info: Deno.FileInfo }> {
  let target: string;
  let info: Deno.FileInfo;
  try {
    target = await Deno.realPath(path);
    info = await Deno.stat(target);
  } catch (err) {
    throw new KubeconfigWriteError(`cannot open kubeconfig ${path}: ${reason(err)}`);
  }
  if (info.mode !== null && (info.mode & 0o222) === 0) {
    throw new KubeconfigWriteError(
      `${target} is read-only (mode ${(info.mode & 0o777).toString(8)}); not changed`,
    );
  }
  return { target, info };
}

/**
 * Replaces the file `path` points at (following symlinks) with `text`. Refuses a file with no
 * write bits. Renames a synced temp sibling into place when the result keeps the file's owner;
 * otherwise (someone else's file, or a directory we cannot create in) writes in place and syncs.
 * Returns the real path written.
 */
export async function writeKubeconfig(path: string, text: string): Promise<string> {
  const { target, info } = await writableTarget(path);
  const data = new TextEncoder().encode(text);
  let tmp: string | undefined;
  try {
    tmp = await writeSibling(target, data, info);
    const written = await Deno.stat(tmp);
    if (written.uid !== info.uid) {
      // Not ours and we are not root: a rename would hand the file to us. Write in place instead.
      await Deno.remove(tmp);
      tmp = undefined;
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.PermissionDenied)) {
      throw new KubeconfigWriteError(`cannot write next to ${target}: ${reason(err)}`);
    }
    tmp = undefined;
  }
  try {
    if (tmp) {
      await Deno.rename(tmp, target);
      await syncDir(dirOf(target));
    } else {
      const file = await Deno.open(target, { write: true, truncate: true });
      try {
        await writeAll(file, data);
        await file.sync();
      } finally {
        file.close();
      }
    }
  } catch (err) {
    if (tmp) await Deno.remove(tmp).catch(() => {});
    throw new KubeconfigWriteError(`cannot write ${target}: ${reason(err)}`);
  }
  return target;
}
