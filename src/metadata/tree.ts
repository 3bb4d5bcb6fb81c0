/**
 * The metadata tree as data, and the pure renderings a GCE metadata server gives it: directory
 * listings, `?recursive=true` JSON with GCE's camelCase keys, and `alt=text` lines.
 * @module
 */

/** A node of the metadata tree. */
export type MetaNode = MetaDir | MetaLeaf | MetaLazy | MetaEndpoint;

/** A directory; `verbatimKeys` keeps child names as-is in recursive JSON (attributes, emails). */
export interface MetaDir {
  kind: "dir";
  children: Record<string, MetaNode>;
  verbatimKeys?: boolean;
}

/** A value: text, a decimal number (kept exact, it may exceed 2^53), or a list of strings. */
export type MetaLeaf =
  | { kind: "text"; value: string }
  | { kind: "number"; value: string }
  | { kind: "list"; value: string[]; json?: boolean };

/**
 * A value fetched on demand (from the gate). `hidden` nodes are absent from listings and recursive
 * output and answer 404 when `load` gives `undefined`.
 */
export interface MetaLazy {
  kind: "lazy";
  load: () => Promise<MetaLeaf | undefined>;
  hidden?: boolean;
  /** What recursive output shows when `load` gives `undefined` (else the key is left out). */
  recursiveDefault?: Plain;
}

/** A path served by a handler (token, identity); listed, but never part of recursive output. */
export interface MetaEndpoint {
  kind: "endpoint";
  name: "token" | "identity";
}

/** A fully loaded value as plain data, ready for rendering. */
export type Plain = string | DecimalNumber | Plain[] | { [key: string]: Plain };

/** A number that renders as bare JSON digits without passing through a float. */
export class DecimalNumber {
  constructor(readonly digits: string) {}
}

/** Builds a directory node. */
export function dir(children: Record<string, MetaNode>, verbatimKeys = false): MetaDir {
  return verbatimKeys ? { kind: "dir", children, verbatimKeys } : { kind: "dir", children };
}

/** Builds a text leaf. */
export function text(value: string): MetaLeaf {
  return { kind: "text", value };
}

/** Walks `segments` down from `root`; a segment under a leaf or a missing child gives undefined. */
export function lookup(root: MetaNode, segments: string[]): MetaNode | undefined {
  let node: MetaNode = root;
  for (const segment of segments) {
    if (node.kind !== "dir" || !Object.hasOwn(node.children, segment)) return undefined;
    node = node.children[segment];
  }
  return node;
}

/** GCE's listing: one child per line, sorted, directories with a trailing `/`. */
export function listing(node: MetaDir): string {
  return Object.keys(node.children)
    .filter((name) => !isHidden(node.children[name]))
    .sort()
    .map((name) => (node.children[name].kind === "dir" ? `${name}/\n` : `${name}\n`))
    .join("");
}

function isHidden(node: MetaNode): boolean {
  return node.kind === "lazy" && node.hidden === true;
}

/** `numeric-project-id` → `numericProjectId`, as GCE names fixed keys in recursive JSON. */
export function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Loads a leaf (lazy leaves call the backend); errors propagate to the caller. */
export async function loadLeaf(node: MetaLeaf | MetaLazy): Promise<MetaLeaf | undefined> {
  return node.kind === "lazy" ? await node.load() : node;
}

function leafToPlain(leaf: MetaLeaf): Plain {
  switch (leaf.kind) {
    case "text":
      return leaf.value;
    case "number":
      return new DecimalNumber(leaf.value);
    case "list":
      return [...leaf.value];
  }
}

/**
 * The recursive value of `node`: directories become objects with camelCase keys (verbatim under
 * attributes and service accounts); endpoints and hidden nodes are left out.
 */
export async function toPlain(node: MetaNode): Promise<Plain | undefined> {
  switch (node.kind) {
    case "endpoint":
      return undefined;
    case "lazy": {
      if (node.hidden) return undefined;
      const leaf = await node.load();
      return leaf ? leafToPlain(leaf) : node.recursiveDefault;
    }
    case "dir": {
      const out: Record<string, Plain> = {};
      const names = Object.keys(node.children).sort();
      const values = await Promise.all(names.map((name) => toPlain(node.children[name])));
      names.forEach((name, i) => {
        const value = values[i];
        if (value !== undefined) out[node.verbatimKeys ? name : camelCase(name)] = value;
      });
      return out;
    }
    default:
      return leafToPlain(node);
  }
}

/** Serialises plain data as compact JSON, writing {@link DecimalNumber}s as bare digits. */
export function renderJson(value: Plain): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value instanceof DecimalNumber) return value.digits;
  if (Array.isArray(value)) return `[${value.map(renderJson).join(",")}]`;
  return `{${
    Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${renderJson(v)}`).join(",")
  }}`;
}

/**
 * `alt=text` for recursive output: one `path value` line per value, paths relative to the
 * requested directory, list items as `path/<index>`.
 */
export function renderTextLines(value: Plain, prefix = ""): string {
  if (typeof value === "string") return `${prefix} ${value}\n`.replace(/^ /, "");
  if (value instanceof DecimalNumber) return `${prefix} ${value.digits}\n`.replace(/^ /, "");
  const join = (key: string) => (prefix ? `${prefix}/${key}` : key);
  if (Array.isArray(value)) {
    return value.map((item, i) => renderTextLines(item, join(String(i)))).join("");
  }
  return Object.entries(value).map(([k, v]) => renderTextLines(v, join(k))).join("");
}

/** A leaf's text form: lists one item per line with a trailing newline, as GCE lists scopes. */
export function leafText(leaf: MetaLeaf): string {
  if (leaf.kind === "list") return leaf.value.map((item) => `${item}\n`).join("");
  return leaf.value;
}

/** A leaf's JSON form (`alt=json`, and the default for JSON lists such as `instance/tags`). */
export function leafJson(leaf: MetaLeaf): string {
  return renderJson(leafToPlain(leaf));
}
