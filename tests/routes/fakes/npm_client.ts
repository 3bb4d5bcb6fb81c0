/**
 * Real `npm install` of the fake registry's private package in a throwaway project with its own
 * HOME, cache and .npmrc (the scope's registry, its token when given, the CA to trust), then
 * `node -e require(...)` to prove the installed package works.
 * @module
 */
import { PACKAGE_NAME } from "./npm_registry.ts";

export interface NpmInstall {
  /** A new directory for the project (created). */
  dir: string;
  /** The registry URL for the package's scope, with a trailing slash. */
  registry: string;
  /** CA file npm trusts (only for an https registry). */
  caFile?: string;
  /** The registry token; none when the route injects it. */
  token?: string;
}

export interface NpmResult {
  success: boolean;
  /** npm's and node's output (for a failure message). */
  output: string;
  /** What the installed package exports, when it installed. */
  value?: string;
}

export async function runNpmInstall(options: NpmInstall): Promise<NpmResult> {
  const { dir } = options;
  await Deno.mkdir(`${dir}/home`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/package.json`,
    JSON.stringify({ name: "consumer", version: "0.0.0", private: true }),
  );
  const scope = PACKAGE_NAME.split("/")[0];
  const hostPath = options.registry.replace(/^https?:/, "");
  const lines = [`${scope}:registry=${options.registry}`];
  if (options.caFile) lines.push(`cafile=${options.caFile}`);
  if (options.token) lines.push(`${hostPath}:_authToken=${options.token}`);
  await Deno.writeTextFile(`${dir}/.npmrc`, lines.join("\n") + "\n");
  const env = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: `${dir}/home`,
    npm_config_cache: `${dir}/home/.npm`,
    npm_config_update_notifier: "false",
    npm_config_fund: "false",
    npm_config_audit: "false",
    npm_config_fetch_retries: "0",
    npm_config_fetch_timeout: "20000",
  };
  const install = await new Deno.Command("npm", {
    args: ["install", "--no-package-lock", PACKAGE_NAME],
    cwd: dir,
    env,
    clearEnv: true,
    stdin: "null",
    signal: AbortSignal.timeout(90_000),
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  const output = decode(install.stdout) + decode(install.stderr);
  if (!install.success) return { success: false, output };
  const run = await new Deno.Command("node", {
    args: ["-e", `process.stdout.write(require(${JSON.stringify(PACKAGE_NAME)}))`],
    cwd: dir,
    env,
    clearEnv: true,
    stdin: "null",
    signal: AbortSignal.timeout(30_000),
  }).output();
  return {
    success: run.success,
    output: output + decode(run.stderr),
    value: decode(run.stdout),
  };
}
