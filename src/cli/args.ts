import { CONFIG_KEYS, flagName } from "./config_keys.ts";
import { COMMANDS, type CommandSpec } from "./commands.ts";
import { UsageError } from "../errors.ts";
import { didYouMean } from "./suggest.ts";

/** The result of parsing one subcommand's arguments. */
export interface ParsedArgs {
  help: boolean;
  positionals: string[];
  /** Command-specific flags by flag name. */
  flags: Record<string, string | boolean | string[] | undefined>;
  /** Config flags by config key. */
  configFlags: Record<string, unknown>;
  configPath?: string;
}

type OptionSpec = { type: "string" | "boolean"; short?: string; multiple?: boolean };

/** The config keys `spec` takes as flags (every key when the spec does not narrow them). */
export function configKeysOf(spec: CommandSpec): typeof CONFIG_KEYS {
  if (!spec.loadsConfig) return [];
  const wanted = spec.configKeys;
  return wanted ? CONFIG_KEYS.filter((k) => wanted.includes(k.key)) : CONFIG_KEYS;
}

function optionTable(spec: CommandSpec): Record<string, OptionSpec> {
  const options: Record<string, OptionSpec> = { help: { type: "boolean", short: "h" } };
  if (spec.loadsConfig) {
    options.config = { type: "string", short: "c" };
    for (const key of configKeysOf(spec)) {
      const opt: OptionSpec = { type: key.kind === "bool" ? "boolean" : "string" };
      if (key.short) opt.short = key.short;
      if (key.kind === "record") opt.multiple = true;
      options[flagName(key.key)] = opt;
    }
  }
  for (const flag of spec.flags) {
    const opt: OptionSpec = { type: flag.type };
    if (flag.short) opt.short = flag.short;
    if (flag.multiple) opt.multiple = true;
    options[flag.name] = opt;
  }
  return options;
}

/**
 * Splits a pass-through command line at `--` or at the first positional, so that
 * `with-prod gcloud --project x` hands `--project x` to gcloud rather than taking it.
 */
function splitPassThrough(
  args: string[],
  options: Record<string, OptionSpec>,
): [string[], string[]] {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") return [args.slice(0, i), args.slice(i + 1)];
    if (!arg.startsWith("-") || arg === "-") return [args.slice(0, i), args.slice(i)];
    if (arg.includes("=")) continue;
    const name = arg.startsWith("--")
      ? arg.slice(2)
      : Object.entries(options).find(([, o]) => o.short === arg.slice(1))?.[0];
    if (name && options[name]?.type === "string") i++;
  }
  return [args, []];
}

/** Parses `args` (everything after the subcommand name) strictly against the command's flags. */
export function parseCommandArgs(spec: CommandSpec, args: string[]): ParsedArgs {
  const options = optionTable(spec);
  let own = args;
  let rest: string[] = [];
  if (spec.positionals === "command") [own, rest] = splitPassThrough(args, options);
  const parsed = scan(own, options);
  const values = parsed.values;
  const positionals = spec.positionals === "command"
    ? [...parsed.positionals, ...rest]
    : parsed.positionals;
  if (typeof spec.positionals === "number" && positionals.length > spec.positionals) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[spec.positionals])}`);
  }
  const configFlags: Record<string, unknown> = {};
  const flags: ParsedArgs["flags"] = {};
  if (spec.loadsConfig) {
    for (const key of configKeysOf(spec)) {
      const value = values[flagName(key.key)];
      if (value !== undefined) configFlags[key.key] = value;
    }
  }
  for (const flag of spec.flags) flags[flag.name] = values[flag.name];
  return {
    help: values.help === true,
    positionals,
    flags,
    configFlags,
    configPath: values.config as string | undefined,
  };
}

/** Why `--name` is unknown here: a likely typo, or a config key another command takes. */
function unknownHint(name: string, options: Record<string, OptionSpec>): string {
  const typo = didYouMean(name, Object.keys(options), "--");
  if (typo) return typo;
  const owners = COMMANDS.filter((c) =>
    c.flags.some((f) => f.name === name) || configKeysOf(c).some((k) => flagName(k.key) === name)
  ).map((c) => c.name);
  return owners.length ? ` (a flag of ${owners.join(", ")}, not of this command)` : "";
}

/**
 * A strict scanner with node:util parseArgs' grammar (`--name value`, `--name=value`, `-x value`,
 * `-xvalue`, `--` ends options, positionals anywhere), written out so the CLI loads no Node
 * compatibility module: kube-token starts on every kubectl call.
 */
function scan(
  args: string[],
  options: Record<string, OptionSpec>,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  const values: Record<string, string | boolean | string[] | undefined> = {};
  const positionals: string[] = [];
  const byShort = new Map(
    Object.entries(options).filter(([, o]) => o.short).map(([n, o]) => [o.short!, n]),
  );
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
      if (!options[name]) {
        throw new UsageError(`unknown flag --${name}${unknownHint(name, options)}`);
      }
    } else {
      name = byShort.get(arg[1]);
      if (!name) throw new UsageError(`unknown flag ${arg.slice(0, 2)}`);
      if (arg.length > 2) inline = arg.slice(2);
    }
    const spec = options[name];
    const label = spec.short ? `-${spec.short}, --${name}` : `--${name}`;
    let value: string | boolean;
    if (spec.type === "boolean") {
      if (inline !== undefined) throw new UsageError(`option ${label} does not take a value`);
      value = true;
    } else if (inline !== undefined) {
      value = inline;
    } else {
      if (i + 1 >= args.length) throw new UsageError(`option ${label} needs a value`);
      value = args[++i];
    }
    if (spec.multiple) {
      values[name] = [...((values[name] as string[] | undefined) ?? []), value as string];
    } else values[name] = value;
  }
  return { values, positionals };
}
