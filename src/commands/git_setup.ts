/**
 * `authcalator git-setup`: writes `url.<route-url>.insteadOf` rules into the container's git
 * config, so `git clone https://github.com/…` goes through the routes listener and the gate adds
 * the credential. Idempotent (a rule already there is kept; a rule for the same route on an old
 * port is replaced), reversible (`--undo` removes every rule of this shape and nothing else), and
 * never for a host named with `--exclude`. It runs the real `git config`, so git's own file
 * locking and format apply.
 * @module
 */
import type { Invocation } from "../cli/commands.ts";
import { UsageError } from "../errors.ts";
import {
  fetchRouteListing,
  gitRules,
  OUR_INSTEAD_OF_KEY,
  parseExcludedHosts,
  routesBase,
} from "../routes_proxy/client_setup.ts";

/** How long one `git config` may run. */
const GIT_TIMEOUT_MS = 10_000;

/** Runs `git config <scope> <args>`; returns stdout, or undefined for git's "not found" (exit 1). */
async function gitConfig(scope: string[], args: string[]): Promise<string | undefined> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("git", {
      args: ["config", ...scope, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(GIT_TIMEOUT_MS),
    }).output();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Error("git-setup needs git on PATH (it runs 'git config')");
    }
    throw err;
  }
  if (out.code === 0) return new TextDecoder().decode(out.stdout);
  if (out.code === 1) return undefined;
  const why = new TextDecoder().decode(out.stderr).trim().split("\n")[0] ?? "";
  throw new Error(`git config ${args[0]} failed (exit ${out.code}): ${why}`);
}

/** `url.X.insteadof` keys (lower-cased by git) of this shape, with their values. */
async function ourRules(scope: string[]): Promise<[key: string, value: string][]> {
  const text = await gitConfig(scope, ["--get-regexp", "^url\\..*\\.insteadof$"]) ?? "";
  return text.split("\n").filter((l) => l !== "").map((l) => {
    const space = l.indexOf(" ");
    return [l.slice(0, space), l.slice(space + 1)] as [string, string];
  }).filter(([key]) => OUR_INSTEAD_OF_KEY.test(key));
}

function sectionOf(key: string): string {
  return key.slice(0, -".insteadof".length);
}

/** Writes (or with --undo removes) the rules; exit 0. */
export async function run(invocation: Invocation): Promise<number> {
  const flags = invocation.flags;
  const file = flags.file;
  if (file !== undefined && (typeof file !== "string" || file.trim() === "")) {
    throw new UsageError("--file needs a path to a git config file");
  }
  const scope = file === undefined ? ["--global"] : ["--file", file];
  const where = file === undefined ? "the global git config" : file;

  if (flags.undo === true) {
    if (flags.exclude !== undefined) throw new UsageError("--undo takes no --exclude");
    const sections = [...new Set((await ourRules(scope)).map(([key]) => sectionOf(key)))];
    for (const section of sections) await gitConfig(scope, ["--remove-section", section]);
    console.log(`git-setup: removed ${sections.length} routes rule(s) from ${where}`);
    return 0;
  }

  const excludeFlag = flags.exclude;
  const excluded = parseExcludedHosts(
    excludeFlag === undefined
      ? []
      : Array.isArray(excludeFlag)
      ? excludeFlag
      : [String(excludeFlag)],
  );
  const config = invocation.config!;
  const base = routesBase(config);
  const listing = await fetchRouteListing(
    config,
    invocation.env,
    (line) => console.error(`git-setup: warning: ${line}`),
  );
  const { rules, skipped } = gitRules(listing, base, excluded);
  const existing = await ourRules(scope);
  let added = 0;
  for (const rule of rules) {
    const key = `url.${rule.url}.insteadof`;
    // The same route on another port (routes_port changed): replace it.
    for (const [other] of existing) {
      if (other !== key && other.endsWith(`/${rule.route}/.insteadof`)) {
        await gitConfig(scope, ["--remove-section", sectionOf(other)]).catch(() => undefined);
      }
    }
    if (existing.some(([k, v]) => k === key && v === rule.insteadOf)) continue;
    await gitConfig(scope, ["--add", `url.${rule.url}.insteadOf`, rule.insteadOf]);
    added++;
  }
  for (const route of skipped) {
    console.log(`git-setup: skipped route ${route.name} (${route.upstream}): its host is excluded`);
  }
  for (const rule of rules) console.log(`git-setup: ${rule.insteadOf} -> ${rule.url}`);
  console.log(
    `git-setup: ${added} rule(s) added, ${rules.length - added} already there, in ${where}` +
      (rules.length === 0 ? " (the gate lists no dev git route)" : ""),
  );
  return 0;
}
