/** Pinned permission flags of a role, as `authcalator permissions <role>` prints them for users. */
import { runCli } from "../helpers/cli.ts";

/** The `--allow-*` flags `authcalator permissions <role>` prints for this environment. */
export async function pinnedFlags(role: string, env: Record<string, string>): Promise<string[]> {
  const out = await runCli(["permissions", role], { env });
  if (out.code !== 0) throw new Error(`permissions ${role} failed: ${out.stderr}`);
  // deno run <flags…> <main.ts> <role>, each word shell-quoted when it needs it ('…').
  const words = out.stdout.trim().split(" ").map((w) =>
    w.startsWith("'") && w.endsWith("'") ? w.slice(1, -1).replaceAll(`'\\''`, "'") : w
  );
  return words.slice(2, -2);
}

/** Runs a command line to completion with exactly `env` (plus PATH), capturing output. */
export async function runExact(
  command: string,
  args: string[],
  env: Record<string, string>,
  cwd?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(command, {
    args,
    cwd,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

let cachedDenoDir: string | undefined;

/** The module cache the test runner uses, to pin DENO_DIR for children that get another HOME. */
export async function denoDir(): Promise<string> {
  if (cachedDenoDir) return cachedDenoDir;
  const fromEnv = Deno.env.get("DENO_DIR");
  if (fromEnv) return cachedDenoDir = fromEnv;
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stderr: "null" })
    .output();
  cachedDenoDir = JSON.parse(new TextDecoder().decode(out.stdout)).denoDir as string;
  return cachedDenoDir;
}
