/**
 * The slice of `/proc` that caller attribution reads, behind one seam: with-prod reads it through
 * Deno (it runs with `--allow-all`, which Deno requires for any `/proc` path), the gate through
 * libc (its role grants FFI for libc's path only, see src/proc/libc.ts), and tests over a fake
 * table. Methods throw when a path cannot be read, as Deno's do.
 * @module
 */
import type { Libc } from "./libc.ts";

/** Read-only access to a `/proc`-shaped tree. */
export interface ProcFS {
  readText(path: string): Promise<string>;
  /** Entry names of a directory. */
  readDir(path: string): Promise<string[]>;
  readLink(path: string): Promise<string>;
}

/** The real `/proc`, through Deno (needs `--allow-all`). */
export const realProcFS: ProcFS = {
  readText: (path) => Deno.readTextFile(path),
  async readDir(path) {
    const names: string[] = [];
    for await (const entry of Deno.readDir(path)) names.push(entry.name);
    return names;
  },
  readLink: (path) => Deno.readLink(path),
};

/** Raised by {@link libcProcFS} for a path it cannot read. */
export class ProcReadError extends Error {
  constructor(path: string) {
    super(`cannot read ${path}`);
    this.name = "ProcReadError";
  }
}

/** The real `/proc`, through libc (no Deno read permission involved); files capped at 64 KiB. */
export function libcProcFS(libc: Pick<Libc, "readFile" | "listDir" | "readLink">): ProcFS {
  const must = <T>(path: string, value: T | undefined): T => {
    if (value === undefined) throw new ProcReadError(path);
    return value;
  };
  return {
    readText: (path) =>
      Promise.resolve().then(() => new TextDecoder().decode(must(path, libc.readFile(path)))),
    readDir: (path) => Promise.resolve().then(() => must(path, libc.listDir(path))),
    readLink: (path) => Promise.resolve().then(() => must(path, libc.readLink(path))),
  };
}
