/**
 * `deno task install`: installs one `authcalator` command from this checkout. Unlike
 * `deno install -g`, the shim it writes names deno by its absolute path (so it works where deno
 * came from npx), applies this checkout's deno.json (import map and per-role permission sets),
 * and starts kube-token, which kubectl runs on every call, straight from its own entry point
 * under its pinned loopback flags. Every other subcommand runs under its role's deno.json
 * permission set, and main.ts then drops each kind its role does not use.
 *
 * usage: deno task install [--root DIR] [--dry-run]
 *   --root DIR   install into DIR/bin (default $DENO_INSTALL_ROOT, else $HOME/.deno)
 *   --dry-run    print the shim instead of writing it
 * @module
 */
import {
  COMMAND_ROLES,
  denoFlags,
  type Role,
  runtimeFlags,
  sampleContext,
} from "../src/permissions.ts";
import { EXECUTABLE_ENV, transienceOf } from "../src/kube/exec_target.ts";
import { shellQuote } from "../src/commands/permissions.ts";

/** The repository root this script belongs to. */
export const CHECKOUT = decodeURIComponent(new URL("../", import.meta.url).pathname).replace(
  /\/$/,
  "",
);

/** What the shim needs to know. */
export interface ShimInputs {
  /** Absolute path of the deno executable. */
  deno: string;
  /** Absolute path of the checkout. */
  checkout: string;
  version: string;
}

/** The `deno run` flags kube-token runs under from the shim: no config, loopback only. */
export function kubeTokenFlags(): string[] {
  return ["--quiet", "--no-config", ...denoFlags("kube-token", sampleContext())];
}

/** The shim's text: a POSIX sh script dispatching each subcommand to its permission set. */
export function shimText(inputs: ShimInputs): string {
  const byRole = new Map<string, string[]>();
  for (const [command, role] of Object.entries(COMMAND_ROLES)) {
    byRole.set(role, [...(byRole.get(role) ?? []), command]);
  }
  // A role's runtime flags (the daemons' V8 options) are words without spaces or glob characters,
  // so the unquoted $flags below splits them as written.
  const cases = [...byRole].map(([role, commands]) => {
    const flags = runtimeFlags(role as Role);
    return `  ${commands.join("|")}) set=${role}${
      flags.length ? ` flags=${shellQuote(flags.join(" "))}` : ""
    } ;;`;
  });
  const q = shellQuote;
  return `#!/bin/sh
# authcalator ${inputs.version}: written by \`deno task install\` in ${inputs.checkout}.
# Rerun \`deno task install\` after moving the checkout or deno; then \`authcalator kube-setup\`.
DENO=${q(inputs.deno)}
CHECKOUT=${q(inputs.checkout)}
case "$0" in
  /*) self="$0" ;;
  *) self="$(cd "$(dirname "$0")" && pwd -P)/$(basename "$0")" ;;
esac
if [ "$1" = kube-token ] && [ $# -eq 1 ]; then
  exec "$DENO" run ${kubeTokenFlags().map(q).join(" ")} "$CHECKOUT/src/kube/kube_token_entry.ts"
fi
flags=
case "$1" in
${cases.join("\n")}
  *) set=version ;;
esac
if [ "$1" = kube-setup ]; then
  ${EXECUTABLE_ENV}="$self"
  export ${EXECUTABLE_ENV}
fi
exec "$DENO" run --quiet --no-prompt --config "$CHECKOUT/deno.json" -P="$set" $flags "$CHECKOUT/src/main.ts" "$@"
`;
}

/** Where the shim goes: `<root>/bin/authcalator`. */
export function installPath(root: string): string {
  return `${root.replace(/\/+$/, "")}/bin/authcalator`;
}

async function main(args: string[]): Promise<number> {
  let root = Deno.env.get("DENO_INSTALL_ROOT") || `${Deno.env.get("HOME")}/.deno`;
  let dryRun = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--dry-run") dryRun = true;
    else if (args[i] === "--root") {
      if (!args[i + 1] || args[i + 1].startsWith("-")) {
        console.error(
          "install: --root needs a directory\nusage: deno task install [--root DIR] [--dry-run]",
        );
        return 2;
      }
      root = args[++i];
    } else {
      console.error(`install: unknown argument ${JSON.stringify(args[i])}`);
      console.error("usage: deno task install [--root DIR] [--dry-run]");
      return 2;
    }
  }
  // `deno task` runs in the checkout; a relative --root means the user's directory (INIT_CWD).
  if (!root.startsWith("/")) root = `${Deno.env.get("INIT_CWD") ?? Deno.cwd()}/${root}`;
  const deno = await Deno.realPath(Deno.execPath());
  const { VERSION } = await import("../src/version.ts");
  const text = shimText({ deno, checkout: CHECKOUT, version: VERSION });
  if (dryRun) {
    console.log(text);
    return 0;
  }
  const transient = ["/tmp", "/var/tmp", Deno.env.get("TMPDIR") ?? ""].filter(Boolean);
  for (const [what, path] of [["the checkout", CHECKOUT], ["deno", deno]]) {
    const why = transienceOf(path, transient);
    if (why) {
      console.error(
        `install: warning: ${what} ${path} may not last (${why}); authcalator stops working when ` +
          "it goes: install deno (https://deno.land) or move the checkout, then rerun",
      );
    }
  }
  // Fill the module cache now, so the first kubectl call does not download anything.
  const cache = await new Deno.Command(deno, {
    args: ["cache", "--quiet", "--config", `${CHECKOUT}/deno.json`, `${CHECKOUT}/src/main.ts`],
    stdout: "inherit",
    stderr: "inherit",
    signal: AbortSignal.timeout(300_000),
  }).output();
  if (!cache.success) {
    console.error("install: `deno cache` of src/main.ts failed; nothing installed");
    return 1;
  }
  const path = installPath(root);
  await Deno.mkdir(`${root}/bin`, { recursive: true });
  const temp = `${path}.tmp-${Deno.pid}`;
  await Deno.writeTextFile(temp, text, { mode: 0o755 });
  await Deno.chmod(temp, 0o755);
  await Deno.rename(temp, path);
  console.log(`installed ${path} (deno: ${deno})`);
  const onPath = (Deno.env.get("PATH") ?? "").split(":").includes(`${root}/bin`);
  if (!onPath) console.log(`add it to your PATH:  export PATH="${root}/bin:$PATH"`);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
