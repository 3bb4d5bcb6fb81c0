/**
 * Rewrites the kubeconfig users that run `gke-gcloud-auth-plugin` so they run kube-token
 * instead, and repairs users an earlier kube-setup wrote whose command has since moved. Works on
 * the YAML document, so comments, key order and every other entry survive.
 * @module
 */
import { type Document, isMap, isScalar, isSeq, parseDocument, type YAMLMap } from "yaml";

/** The plugin whose users kube-setup takes over. */
export const GKE_PLUGIN = "gke-gcloud-auth-plugin";

/** The hint kubectl prints when the command cannot be started. */
export const INSTALL_HINT = "This user runs authcalator kube-token, which asks the authcalator " +
  "metadata proxy for a token. Install authcalator, or go back to the GKE plugin by running " +
  "gcloud container clusters get-credentials <cluster>";

/** The exec command written for each patched user. */
export interface ExecTarget {
  command: string;
  args: string[];
}

/** The result of {@link patchKubeconfig}. */
export interface PatchResult {
  /** The rewritten file (equal to the input when nothing was patched). */
  text: string;
  /** Names of the users that were rewritten, in file order. */
  patched: string[];
  /** Names of the users that already ran exactly `target`. */
  current: string[];
}

/** A kubeconfig that cannot be patched: unparseable, empty or not a mapping. */
export class KubeconfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KubeconfigError";
  }
}

/** Whether `command` is the GKE plugin, by bare name or by path. */
export function isGkePlugin(command: unknown): boolean {
  return typeof command === "string" &&
    (command === GKE_PLUGIN || command.endsWith(`/${GKE_PLUGIN}`));
}

/**
 * Whether an exec entry is one kube-setup wrote: its install hint, or args ending in kube-token
 * (`<authcalator> kube-token`) or in kube-token's old from-source entry point.
 */
export function isKubeTokenExec(exec: YAMLMap): boolean {
  if (exec.get("installHint") === INSTALL_HINT) return true;
  const args = exec.get("args");
  if (!isSeq(args) || args.items.length === 0) return false;
  const last = args.items[args.items.length - 1];
  const value = isScalar(last) ? last.value : last;
  if (typeof value === "string" && value.endsWith("/kube/kube_token_entry.ts")) return true;
  // `<…/authcalator…> kube-token`: another tool that happens to take `kube-token` is not ours.
  const command = exec.get("command");
  const name = typeof command === "string" ? command.slice(command.lastIndexOf("/") + 1) : "";
  return value === "kube-token" && name.startsWith("authcalator");
}

function runsTarget(exec: YAMLMap, target: ExecTarget): boolean {
  const args = exec.get("args");
  return exec.get("command") === target.command && isSeq(args) &&
    JSON.stringify(args.toJSON()) === JSON.stringify(target.args) &&
    exec.get("installHint") === INSTALL_HINT && !exec.has("env");
}

/**
 * Points every user whose exec command is the GKE plugin, or a kube-token command an earlier
 * kube-setup wrote, at `target`: sets `command`, `args` and
 * `installHint`, drops `env`, and keeps `apiVersion`, `provideClusterInfo` and anything else.
 * `source` names the file in error messages, which never quote the file's content.
 */
export function patchKubeconfig(text: string, target: ExecTarget, source: string): PatchResult {
  const doc = parseDocument(text);
  const error = doc.errors[0];
  if (error) {
    const at = error.linePos?.[0];
    const where = at ? ` at line ${at.line}, column ${at.col}` : "";
    // The parser's message quotes the offending line, which may hold a credential: keep the prose.
    const prose = error.message.split(/ at line \d+/)[0].slice(0, 120);
    throw new KubeconfigError(`${source} is not valid YAML${where}: ${prose} (${error.code})`);
  }
  if (doc.contents === null) throw new KubeconfigError(`${source} is empty`);
  if (!isMap(doc.contents)) {
    throw new KubeconfigError(`${source} is not a kubeconfig: its top level is not a mapping`);
  }
  const users = doc.get("users");
  const patched: string[] = [];
  const current: string[] = [];
  if (!isSeq(users)) return { text, patched, current };
  users.items.forEach((item, index) => {
    if (!isMap(item)) return;
    const user = item.get("user");
    if (!isMap(user)) return;
    const exec = user.get("exec");
    if (!isMap(exec)) return;
    if (!isGkePlugin(exec.get("command")) && !isKubeTokenExec(exec)) return;
    const rawName = item.get("name");
    const name = typeof rawName === "string" ? rawName : `#${index + 1}`;
    if (runsTarget(exec, target)) return current.push(name);
    rewriteExec(doc, exec, target);
    patched.push(name);
  });
  if (patched.length === 0) return { text, patched, current };
  return { text: doc.toString({ indentSeq: indentsSequences(text) }), patched, current };
}

function rewriteExec(doc: Document, exec: YAMLMap, target: ExecTarget): void {
  exec.set("command", target.command);
  const args = doc.createNode(target.args);
  if (exec.has("args")) {
    exec.set("args", args);
  } else {
    // A new `args` goes right after `command`, where a reader looks for it.
    const at = exec.items.findIndex((pair) => isScalar(pair.key) && pair.key.value === "command");
    exec.items.splice(at + 1, 0, doc.createPair("args", args));
  }
  exec.set("installHint", INSTALL_HINT);
  // The plugin's env (e.g. CLOUDSDK_* settings) means nothing to kube-token.
  exec.delete("env");
}

/**
 * Whether the file indents block sequences under their key (`users:\n  - name:`) rather than
 * writing them flush as kubectl does (`users:\n- name:`), so the rewrite keeps the file's style.
 */
function indentsSequences(text: string): boolean {
  const m = /^[^\s#-][^\n]*:[ \t]*(?:#[^\n]*)?\r?\n([ \t]*)- /m.exec(text);
  return m !== null && m[1].length > 0;
}
