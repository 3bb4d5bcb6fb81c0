/**
 * The config file: reads and parses the TOML named by `--config`. The only module that loads the
 * TOML parser, and imported only when a config file is named, so a role started without one (the
 * usual metadata-proxy in a container) does not carry the parser in memory (issue 9).
 * @module
 */
import { parse as parseToml, TomlError } from "smol-toml";
import { UsageError } from "../errors.ts";

/** A parsed config file: where it came from and its top-level table. */
export interface ConfigFile {
  path: string;
  table: Record<string, unknown>;
}

/** Reads and parses `path`; a missing, unreadable or malformed file is a {@link UsageError}. */
export function readConfigFile(
  path: string,
  readFile: (path: string) => string = Deno.readTextFileSync,
): ConfigFile {
  let text: string;
  try {
    text = readFile(path);
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound ? "no such file" : (err as Error).name;
    throw new UsageError(`cannot read config file ${path}: ${why}`);
  }
  return { path, table: parseConfigText(path, text) };
}

/** Parses the TOML text of the config file `path` (named in errors, with line and column). */
export function parseConfigText(path: string, text: string): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) {
      const first = err.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
      throw new UsageError(`${path}:${err.line}:${err.column}: invalid TOML: ${first}`);
    }
    throw err;
  }
}
