/**
 * What kube-setup writes as a user's exec command: the upstream shape kubectl users and tools
 * expect, `command: <the authcalator executable>` with `args: [kube-token]`. The executable is the
 * one that ran kube-setup (a compiled binary, or the shim `deno task install` wrote), so rerunning
 * kube-setup after an upgrade or a move repairs the entries. A command from a place that will not
 * last (an npx cache, a temp dir) is refused unless the user names one with `--command PATH`.
 * @module
 */
import type { ExecTarget } from "./kubeconfig_patch.ts";

/** The environment variable an installed `authcalator` shim sets to its own absolute path. */
export const EXECUTABLE_ENV = "AUTHCALATOR_EXECUTABLE";

/** How the running authcalator was started. */
export interface Launch {
  /** True for a `deno compile`d binary. */
  standalone: boolean;
  /** The real path of the running executable (the binary, or `deno`). */
  executable: string;
  /** The module that runs authcalator (a file path for a checkout, a URL for a published one). */
  mainModule: string;
  /** The shim's own path, from {@link EXECUTABLE_ENV}, if an installed shim started us. */
  shim?: string;
  /** `--command PATH`: the user's explicit choice, taken as is. */
  override?: string;
  /** Directories whose content does not last (the temp dir, `/tmp`, …). */
  transientDirs: string[];
}

/** kube-setup cannot name a command that will keep working. */
export class UnstableCommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnstableCommandError";
  }
}

const NPX_CACHE = /\/(?:\.npm\/)?_npx\/|\/\.npm\/|\/node_modules\/\.bin\//;

/** Why `path` will not last, or undefined when it will. */
export function transienceOf(path: string, transientDirs: string[]): string | undefined {
  if (NPX_CACHE.test(path)) return "it is in an npx cache, which npm may clean at any time";
  for (const dir of transientDirs) {
    const root = dir.replace(/\/+$/, "");
    if (root && (path === root || path.startsWith(`${root}/`))) {
      return `it is under ${root}, a temporary directory`;
    }
  }
  return undefined;
}

const HINT = "Install authcalator (a release binary, or `deno task install` in a checkout), then " +
  "run `authcalator kube-setup` again; or name the command with `--command PATH`.";

/** The exec command kubectl should run for kube-token, or an {@link UnstableCommandError}. */
export function execTarget(launch: Launch): ExecTarget {
  if (launch.override !== undefined) {
    if (!launch.override.startsWith("/")) {
      throw new UnstableCommandError(
        `--command must be an absolute path (kubectl runs it from any directory), got ${
          JSON.stringify(launch.override)
        }`,
      );
    }
    return { command: launch.override, args: ["kube-token"] };
  }
  const check = (what: string, path: string) => {
    const why = transienceOf(path, launch.transientDirs);
    if (why) {
      throw new UnstableCommandError(
        `will not write ${what} ${path} into kubeconfig: ${why}. ${HINT}`,
      );
    }
  };
  if (launch.standalone) {
    check("the authcalator binary", launch.executable);
    return { command: launch.executable, args: ["kube-token"] };
  }
  if (launch.shim) {
    if (!launch.shim.startsWith("/")) {
      throw new UnstableCommandError(
        `${EXECUTABLE_ENV} must be an absolute path, got ${JSON.stringify(launch.shim)}`,
      );
    }
    check("the authcalator command", launch.shim);
    // The shim runs this module: a checkout in a temp dir breaks it as surely as a temp shim.
    if (launch.mainModule.startsWith("/")) check("a command running", launch.mainModule);
    return { command: launch.shim, args: ["kube-token"] };
  }
  throw new UnstableCommandError(
    `this is \`deno run\` of ${launch.mainModule}, not an installed command, and kubeconfig ` +
      `needs the \`authcalator\` command that will run kube-token. ${HINT}`,
  );
}
