/**
 * Release build: one `deno compile` per target and role, each binary with its role's permission
 * kinds (from src/permissions.ts) baked in. `--dry-run` prints the commands instead of running
 * them (deno compile downloads its runtime, which only the release machines can reach).
 */
import { COMMAND_ROLES, kindFlags, type Role } from "../src/permissions.ts";

/** The targets a release ships. */
export const TARGETS = [
  { name: "linux-x64", triple: "x86_64-unknown-linux-gnu" },
  { name: "linux-arm64", triple: "aarch64-unknown-linux-gnu" },
  { name: "darwin-x64", triple: "x86_64-apple-darwin" },
  { name: "darwin-arm64", triple: "aarch64-apple-darwin" },
] as const;

/** One planned `deno compile` invocation. */
export interface CompileStep {
  output: string;
  args: string[];
}

/** The compile steps for every target and role, into `outDir`. */
export function plan(outDir: string): CompileStep[] {
  const roles = [...new Set(Object.values(COMMAND_ROLES))].filter((r) => r !== "version") as Role[];
  const steps: CompileStep[] = [];
  for (const target of TARGETS) {
    for (const role of roles) {
      const output = `${outDir}/authcalator-${role}-${target.name}`;
      steps.push({
        output,
        args: [
          "compile",
          "--quiet",
          ...kindFlags(role),
          "--target",
          target.triple,
          "--output",
          output,
          "src/main.ts",
        ],
      });
    }
  }
  return steps;
}

if (import.meta.main) {
  const dryRun = Deno.args.includes("--dry-run");
  const outIndex = Deno.args.indexOf("--out");
  const outDir = outIndex >= 0 ? Deno.args[outIndex + 1] : "dist";
  for (const step of plan(outDir)) {
    console.log(["deno", ...step.args].join(" "));
    if (dryRun) continue;
    const { code } = await new Deno.Command(Deno.execPath(), { args: step.args }).output();
    if (code !== 0) {
      console.error(`build failed for ${step.output}`);
      Deno.exit(1);
    }
  }
}
