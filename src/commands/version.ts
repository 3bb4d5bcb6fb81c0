import type { Invocation } from "../cli/commands.ts";
import { VERSION } from "../version.ts";

/** Prints the version. */
export function run(_: Invocation): Promise<number> {
  console.log(VERSION);
  return Promise.resolve(0);
}
