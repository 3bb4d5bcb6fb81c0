import { COMMANDS, type CommandSpec } from "./commands.ts";
import { CONFIG_KEYS, flagName } from "./config_keys.ts";

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

/** The help of one command, with its own flags and (if it loads config) every config flag. */
export function commandHelp(spec: CommandSpec): string {
  const lines = [`usage: authcalator ${spec.name} ${spec.usage}`.trimEnd(), "", spec.summary];
  if (spec.details) lines.push("", spec.details);
  if (spec.flags.length) {
    lines.push("", "flags:");
    for (const f of spec.flags) {
      const short = f.short ? `-${f.short}, ` : "";
      lines.push(flagLine(`${short}--${f.name}${f.arg ? ` <${f.arg}>` : ""}`, f.help));
    }
  }
  if (spec.loadsConfig) {
    lines.push("", "configuration (flag > GCP_AUTHCALATOR_<KEY> env > TOML --config > default):");
    lines.push(flagLine("-c, --config <path>", "TOML file"));
    for (const k of CONFIG_KEYS) {
      const short = k.short ? `-${k.short}, ` : "";
      lines.push(flagLine(`${short}--${flagName(k.key)}${k.arg ? ` <${k.arg}>` : ""}`, k.help));
    }
  }
  lines.push(flagLine("-h, --help", "this help"));
  return lines.join("\n");
}
