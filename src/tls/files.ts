/**
 * Safe files for TLS material: a private directory (0700, ours, not a symlink) and private files
 * (0600, ours, regular, not a symlink, checked again on the open handle so a swap between the check
 * and the open is caught), written atomically through an exclusive temp file and a rename.
 * @module
 */
import { UnsafeTlsFileError } from "./errors.ts";

const octal = (mode: number) => "0" + (mode & 0o777).toString(8);

/** The default tls_dir (upstream's): `~/.gcp-authcalator/tls`. */
export function defaultTlsDir(env: Record<string, string | undefined>): string {
  const home = env.HOME;
  if (!home) throw new Error("HOME is not set; pass --tls-dir");
  return `${home}/.gcp-authcalator/tls`;
}

/** Refuses `dir` unless it is a real directory owned by us with no group/other bits. */
export async function checkPrivateDir(dir: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(dir);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new UnsafeTlsFileError(
        `TLS directory ${dir} does not exist; run: authcalator init-tls --tls-dir ${dir}`,
      );
    }
    throw err;
  }
  checkDirInfo(dir, info);
}

function checkDirInfo(dir: string, info: Deno.FileInfo): void {
  if (info.isSymlink) {
    throw new UnsafeTlsFileError(`TLS directory ${dir} is a symlink; refusing it`);
  }
  if (!info.isDirectory) throw new UnsafeTlsFileError(`${dir} is not a directory`);
  if (info.uid !== Deno.uid()) {
    throw new UnsafeTlsFileError(
      `TLS directory ${dir} is owned by uid ${info.uid}, not by this user (${Deno.uid()})`,
    );
  }
  if ((info.mode ?? 0) & 0o077) {
    throw new UnsafeTlsFileError(
      `TLS directory ${dir} has mode ${octal(info.mode ?? 0)}; run: chmod 700 ${dir}`,
    );
  }
}

/** Creates `dir` (0700) if missing, then checks it as checkPrivateDir does. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  try {
    await Deno.lstat(dir);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await Deno.chmod(dir, 0o700);
  }
  checkDirInfo(dir, await Deno.lstat(dir));
}

/** How strict a file check is: the gate's own files, or a bundle handed to a client. */
export interface FileRules {
  /** Follow a symlink and check its target (Kubernetes Secret volumes are symlinks). */
  allowSymlink?: boolean;
  /** Accept a root-owned file as well as one owned by us. */
  allowRootOwner?: boolean;
}

/**
 * Reads a private file, or returns undefined when it does not exist. Refuses a symlink (unless
 * allowed), anything but a regular file, a foreign owner and any group/other permission bit.
 */
export async function readPrivateFile(
  path: string,
  rules: FileRules = {},
): Promise<string | undefined> {
  let info: Deno.FileInfo;
  try {
    info = rules.allowSymlink ? await Deno.stat(path) : await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  checkFileInfo(path, info, rules);
  using file = await Deno.open(path, { read: true });
  const opened = await file.stat();
  if (opened.ino !== info.ino || opened.dev !== info.dev) {
    throw new UnsafeTlsFileError(`${path} changed while it was being opened; refusing it`);
  }
  checkFileInfo(path, opened, rules);
  const bytes = await readAtMost(file, MAX_FILE_BYTES, path);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new UnsafeTlsFileError(`${path} is not text (PEM expected)`);
  }
}

function checkFileInfo(path: string, info: Deno.FileInfo, rules: FileRules): void {
  if (info.isSymlink) throw new UnsafeTlsFileError(`${path} is a symlink; refusing it`);
  if (!info.isFile) throw new UnsafeTlsFileError(`${path} is not a regular file`);
  const me = Deno.uid();
  if (info.uid !== me && !(rules.allowRootOwner && info.uid === 0)) {
    throw new UnsafeTlsFileError(`${path} is owned by uid ${info.uid}, not by this user (${me})`);
  }
  if ((info.mode ?? 0) & 0o077) {
    throw new UnsafeTlsFileError(
      `${path} has mode ${
        octal(info.mode ?? 0)
      }, readable beyond its owner; run: chmod 600 ${path}`,
    );
  }
  if (info.size > MAX_FILE_BYTES) {
    throw new UnsafeTlsFileError(`${path} is too large for TLS material`);
  }
}

/** No TLS file of ours comes near this; a bigger one is refused rather than read. */
const MAX_FILE_BYTES = 1_000_000;

/** Reads the whole file, refusing it if it grows past `limit` while being read. */
async function readAtMost(file: Deno.FsFile, limit: number, path: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buffer = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await file.read(buffer);
    if (n === null) break;
    total += n;
    if (total > limit) throw new UnsafeTlsFileError(`${path} is too large for TLS material`);
    chunks.push(buffer.slice(0, n));
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

/** Writes `text` to `path` with mode 0600 via an exclusive `<path>.<24 hex>.tmp` and a rename. */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  const suffix = Array.from(
    crypto.getRandomValues(new Uint8Array(12)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const temp = `${path}.${suffix}.tmp`;
  try {
    await Deno.writeTextFile(temp, text, { createNew: true, mode: 0o600 });
    await Deno.chmod(temp, 0o600);
    await Deno.rename(temp, path);
  } finally {
    await Deno.remove(temp).catch(() => {});
  }
}
