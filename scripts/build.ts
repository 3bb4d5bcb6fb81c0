/**
 * Release build: one `authcalator-<os>-<arch>` binary per platform, plus SHA256SUMS. Each binary
 * is the whole CLI (`authcalator <command>` as the README shows) compiled with the permission set
 * below; src/main.ts then drops, before reading any input, every permission kind the
 * subcommand's role does not use (see revokeUnusedKinds in src/permissions.ts). The per-role
 * binaries of earlier plans are gone: the role table already narrows kinds at start-up, and one
 * name per platform is what users and kube-setup's kubeconfig entries need.
 *
 * usage: deno run -A scripts/build.ts [--out DIR] [--dry-run]
 * `--dry-run` prints the commands instead of running them (deno compile downloads its runtime,
 * which only the release machines can reach).
 * @module
 */
import { DAEMON_V8_FLAGS, kindsOf, type Role } from "../src/permissions.ts";

/** The targets a release ships. */
export const TARGETS = [
  { name: "linux-x64", triple: "x86_64-unknown-linux-gnu" },
  { name: "linux-arm64", triple: "aarch64-unknown-linux-gnu" },
  { name: "darwin-x64", triple: "x86_64-apple-darwin" },
  { name: "darwin-arm64", triple: "aarch64-apple-darwin" },
] as const;

/**
 * The permissions compiled into the binary: with-prod's role needs every kind (it reads /proc
 * and runs the wrapped command), so the binary holds all, and every other subcommand revokes
 * what its role does not use at start-up.
 */
export const COMPILE_PERMISSIONS = ["--allow-all"];

/**
 * The V8 flags compiled into the binary: the daemons' young-generation cap (src/permissions.ts),
 * which keeps the gate's and the proxy's memory flat after load. One binary serves every
 * subcommand, so the short-lived ones carry it too, where it changes nothing measurable.
 */
export const COMPILE_V8_FLAGS = [DAEMON_V8_FLAGS];

/** The roles whose needs set {@link COMPILE_PERMISSIONS} (those that use every kind). */
export function rolesNeedingAll(roles: Role[]): Role[] {
  return roles.filter((r) => kindsOf(r) === "all");
}

/** One planned `deno compile` invocation. */
export interface CompileStep {
  output: string;
  args: string[];
}

/** The file name of a target's binary. */
export function binaryName(target: (typeof TARGETS)[number]): string {
  return `authcalator-${target.name}`;
}

/** The compile steps for every target, into `outDir`. */
export function plan(outDir: string): CompileStep[] {
  return TARGETS.map((target) => {
    const output = `${outDir}/${binaryName(target)}`;
    return {
      output,
      args: [
        "compile",
        "--quiet",
        ...COMPILE_PERMISSIONS,
        ...COMPILE_V8_FLAGS,
        "--target",
        target.triple,
        "--output",
        output,
        "src/main.ts",
      ],
    };
  });
}

/** `sha256sum`-format lines (`<hex>  <name>`) for the files in `dir` named `names`. */
export async function checksums(dir: string, names: string[]): Promise<string> {
  const lines: string[] = [];
  for (const name of [...names].sort()) {
    const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(`${dir}/${name}`));
    const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
    lines.push(`${hex}  ${name}`);
  }
  return lines.map((l) => `${l}\n`).join("");
}

async function main(args: string[]): Promise<number> {
  let outDir = "dist";
  let dryRun = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--dry-run") dryRun = true;
    else if (args[i] === "--out") {
      if (!args[i + 1] || args[i + 1].startsWith("-")) {
        console.error("build: --out needs a directory");
        return 2;
      }
      outDir = args[++i];
    } else {
      console.error(`build: unknown argument ${JSON.stringify(args[i])}`);
      console.error("usage: deno run -A scripts/build.ts [--out DIR] [--dry-run]");
      return 2;
    }
  }
  const steps = plan(outDir);
  for (const step of steps) {
    console.log(["deno", ...step.args].join(" "));
    if (dryRun) continue;
    const { code } = await new Deno.Command(Deno.execPath(), { args: step.args }).output();
    if (code !== 0) {
      console.error(`build failed for ${step.output}`);
      return 1;
    }
  }
  const names = steps.map((s) => s.output.slice(outDir.length + 1));
  if (dryRun) {
    console.log(`then: SHA256SUMS of ${names.join(", ")} in ${outDir}`);
    return 0;
  }
  await Deno.writeTextFile(`${outDir}/SHA256SUMS`, await checksums(outDir, names));
  console.log(`wrote ${outDir}/SHA256SUMS`);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
