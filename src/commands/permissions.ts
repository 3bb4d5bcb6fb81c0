import { findCommand, type Invocation } from "../cli/commands.ts";
import { parseCommandArgs } from "../cli/args.ts";
import { type Config, loadConfig, runtimeDir } from "../cli/config.ts";
import { readConfigFile } from "../cli/config_file.ts";
import { UsageError } from "../errors.ts";
import { inClusterApiUrl } from "../kube/in_cluster.ts";
import { COMMAND_ROLES, denoFlags, type PermissionContext, type Role } from "../permissions.ts";

/** Builds the permission context for this user from the environment and config. */
export function contextFrom(
  invocation: { env: Record<string, string>; config?: Config },
): PermissionContext {
  const env = invocation.env;
  return {
    home: env.HOME ?? "/",
    runtimeDir: runtimeDir(env),
    config: invocation.config!,
    adcPath: env.GOOGLE_APPLICATION_CREDENTIALS,
    cloudsdkConfig: env.CLOUDSDK_CONFIG,
    kubeconfig: env.KUBECONFIG,
    metadataHost: env.GCE_METADATA_HOST,
    kubernetesApiUrl: inClusterApiUrl(env),
    proxyEnv: Object.fromEntries(
      ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"]
        .map((k) => [k, env[k]]),
    ),
  };
}

/**
 * The pinned flags for running `authcalator <command> <args>` with environment `env`: the config
 * (and so every path and port) is read from that very command line, never restated by a caller.
 */
export function pinnedFlags(
  command: string,
  args: string[],
  env: Record<string, string>,
): string[] {
  const spec = findCommand(command);
  const role = COMMAND_ROLES[command];
  if (!spec || !role) throw new UsageError(`unknown command '${command}'`);
  const parsed = parseCommandArgs(spec, args);
  const file = parsed.configPath === undefined ? undefined : readConfigFile(parsed.configPath);
  const config = loadConfig({ flags: parsed.configFlags, env, file });
  return denoFlags(role, contextFrom({ env, config }));
}

/** The module specifier that runs authcalator: this checkout's main.ts, or the published package. */
export function mainModule(): string {
  const url = new URL("../main.ts", import.meta.url);
  return url.protocol === "file:" ? url.pathname : url.href;
}

/** Prints `deno run <pinned flags> <main> <role>` for a role. */
export function run(invocation: Invocation): Promise<number> {
  const name = invocation.positionals[0];
  if (!name) throw new UsageError(`a role is required: ${Object.keys(COMMAND_ROLES).join(", ")}`);
  const role: Role | undefined = COMMAND_ROLES[name];
  if (!role) {
    throw new UsageError(
      `unknown role '${name}'; roles: ${Object.keys(COMMAND_ROLES).join(", ")}`,
    );
  }
  const flags = denoFlags(role, contextFrom(invocation));
  const configArgs = invocation.config?.config_path
    ? ["--config", invocation.config.config_path]
    : [];
  const words = ["deno", "run", ...flags, mainModule(), name, ...configArgs];
  console.log(words.map(shellQuote).join(" "));
  return Promise.resolve(0);
}

/** Quotes a word for a POSIX shell when it needs it. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./*-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
