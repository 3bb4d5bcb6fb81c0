/**
 * The tool's and each command's help text: a command lists only its own flags (the config keys
 * it takes, not every key), marks the ones it cannot run without, and ends with examples.
 * @module
 */
import { COMMANDS, type CommandSpec } from "./commands.ts";
import { envName, flagName } from "./config_keys.ts";
import { configKeysOf } from "./args.ts";

/** The tool's top-level help. */
export function toolHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    "authcalator: keeps Google Cloud credentials on the host; containers ask for short-lived tokens.",
    "",
    "usage: authcalator <command> [flags]",
    "",
    "commands:",
    ...lines,
    "",
    "flags: -h, --help   help for the tool or a command;  -v, --version   print the version",
    "Run `authcalator <command> --help` for a command's flags.",
  ].join("\n");
}

function flagLine(left: string, help: string): string {
  return `  ${left.padEnd(40)} ${help}`;
}

const REQUIRED = " (required)";

/** The help of one command: its own flags, then the config keys it takes as flags. */
export function commandHelp(spec: CommandSpec): string {
  const required = new Set(spec.required ?? []);
  const lines = [`usage: authcalator ${spec.name} ${spec.usage}`.trimEnd(), "", spec.summary];
  if (spec.details) lines.push("", spec.details);
  if (spec.flags.length) {
    lines.push("", "flags:");
    for (const f of spec.flags) {
      const short = f.short ? `-${f.short}, ` : "";
      const mark = required.has(f.name) ? REQUIRED : "";
      lines.push(flagLine(`${short}--${f.name}${f.arg ? ` <${f.arg}>` : ""}`, f.help + mark));
    }
  }
  if (spec.loadsConfig) {
    lines.push(
      "",
      "configuration (flag > GCP_AUTHCALATOR_<KEY> env > TOML --config > default):",
    );
    lines.push(flagLine("-c, --config <path>", "TOML file"));
    for (const k of configKeysOf(spec)) {
      const short = k.short ? `-${k.short}, ` : "";
      const mark = required.has(k.key)
        ? ` (required: flag, ${k.env ? `${envName(k.key)} or ` : ""}${k.key} in the file)`
        : "";
      lines.push(
        flagLine(`${short}--${flagName(k.key)}${k.arg ? ` <${k.arg}>` : ""}`, k.help + mark),
      );
    }
  }
  lines.push(flagLine("-h, --help", "this help"));
  if (spec.examples?.length) {
    lines.push("", "examples:", ...spec.examples.map((e) => `  authcalator ${e}`));
  }
  return lines.join("\n");
}
