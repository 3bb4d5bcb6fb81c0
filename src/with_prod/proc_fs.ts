/**
 * The slice of `/proc` that caller attribution reads, behind a seam so the attribution logic is
 * tested over a fake table and the real one is used only at the edge. Reading `/proc` from Deno
 * needs `--allow-all` (with-prod's role has it).
 * @module
 */

/** Read-only access to a `/proc`-shaped tree. */
export interface ProcFS {
  readText(path: string): Promise<string>;
  /** Entry names of a directory. */
  readDir(path: string): Promise<string[]>;
  readLink(path: string): Promise<string>;
}

/** The real `/proc`. */
export const realProcFS: ProcFS = {
  readText: (path) => Deno.readTextFile(path),
  async readDir(path) {
    const names: string[] = [];
    for await (const entry of Deno.readDir(path)) names.push(entry.name);
    return names;
  },
  readLink: (path) => Deno.readLink(path),
};
