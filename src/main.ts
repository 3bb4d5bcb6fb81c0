/**
 * authcalator's entry point: parses the command line, drops the permission kinds the role does
 * not use, then loads only the module of the command asked for.
 * @module
 */
import { COMMANDS, findCommand } from "./cli/commands.ts";
import { didYouMean } from "./cli/suggest.ts";
import { parseCommandArgs } from "./cli/args.ts";
import { commandHelp, toolHelp } from "./cli/help.ts";
import { messageOf, UsageError } from "./errors.ts";
import { COMMAND_ROLES, revokeUnusedKinds } from "./permissions.ts";
import { VERSION } from "./version.ts";
import { CONFIG_KEYS, envName } from "./cli/config_keys.ts";

/** Exit code for usage and configuration errors. */
export const EXIT_USAGE = 2;

/** Runs the CLI with `argv` and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    console.error(`error: no command given\n\n${toolHelp()}`);
    return EXIT_USAGE;
  }
  if (name === "-h" || name === "--help" || name === "help") {
    console.log(toolHelp());
    return 0;
  }
  if (name === "-v" || name === "--version") {
    console.log(VERSION);
    return 0;
  }
  const spec = findCommand(name);
  if (!spec) {
    const hint = didYouMean(name, COMMANDS.map((c) => c.name));
    console.error(`error: unknown command '${name}'${hint}\n\n${toolHelp()}`);
    return EXIT_USAGE;
  }
  revokeUnusedKinds(COMMAND_ROLES[spec.name]);
  try {
    const parsed = parseCommandArgs(spec, rest);
    if (parsed.help) {
      console.log(commandHelp(spec));
      return 0;
    }
    const env = readableEnv();
    let config;
    if (spec.loadsConfig) {
      const { loadConfig } = await import("./cli/config.ts");
      // The TOML parser is loaded only when there is a file to parse (issue 9: proxy memory).
      const file = parsed.configPath === undefined
        ? undefined
        : (await import("./cli/config_file.ts")).readConfigFile(parsed.configPath);
      config = loadConfig({ flags: parsed.configFlags, env, file });
    }
    const module = await spec.load();
    return await module.run({
      command: spec.name,
      positionals: parsed.positionals,
      flags: parsed.flags,
      config,
      env,
    });
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`error: ${err.message}\nRun 'authcalator ${spec.name} --help' for usage.`);
      return EXIT_USAGE;
    }
    console.error(`${spec.name}: ${messageOf(err)}`);
    return 1;
  }
}

/** Variables a role may be granted one by one (when it holds no blanket env permission). */
const KNOWN_ENV = [
  ...CONFIG_KEYS.filter((k) => k.env).map((k) => envName(k.key)),
  "GCP_AUTHCALATOR_TLS_BUNDLE_B64",
  "GCP_AUTHCALATOR_PROD_SESSION",
  "HOME",
  "XDG_RUNTIME_DIR",
  "GCE_METADATA_HOST",
  "KUBERNETES_EXEC_INFO",
  "KUBECONFIG",
  "AUTHCALATOR_EXECUTABLE",
  "TMPDIR",
];

/** The environment this role may see: all of it, or the granted subset of the known variables. */
function readableEnv(): Record<string, string> {
  if (Deno.permissions.querySync({ name: "env" }).state === "granted") return Deno.env.toObject();
  const env: Record<string, string> = {};
  for (const variable of KNOWN_ENV) {
    if (Deno.permissions.querySync({ name: "env", variable }).state !== "granted") continue;
    const value = Deno.env.get(variable);
    if (value !== undefined) env[variable] = value;
  }
  return env;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
