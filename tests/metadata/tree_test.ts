import assert from "node:assert/strict";
import {
  camelCase,
  DecimalNumber,
  dir,
  listing,
  lookup,
  renderJson,
  renderTextLines,
  text,
  toPlain,
} from "../../src/metadata/tree.ts";

const tree = dir({
  b: text("x"),
  a: dir({ "ssh-keys": text("k") }, true),
  "machine-type": text("m"),
  hidden: { kind: "lazy", hidden: true, load: () => Promise.resolve(text("h")) },
  token: { kind: "endpoint", name: "token" },
  id: { kind: "number", value: "18446744073709551615" },
  scopes: { kind: "list", value: ["s1", "s2"] },
});

Deno.test("listing: sorted, directories with a slash, hidden nodes left out", () => {
  assert.equal(listing(tree), "a/\nb\nid\nmachine-type\nscopes\ntoken\n");
  assert.equal(listing(dir({})), "");
});

Deno.test("lookup walks directories and refuses to descend into leaves", () => {
  assert.deepEqual(lookup(tree, ["a", "ssh-keys"]), text("k"));
  assert.equal(lookup(tree, ["b", "c"]), undefined);
  assert.equal(lookup(tree, ["nope"]), undefined);
  assert.equal(lookup(tree, ["toString"]), undefined, "no prototype keys");
  assert.equal(lookup(tree, []), tree);
});

Deno.test("camelCase converts GCE's hyphenated keys", () => {
  assert.equal(camelCase("numeric-project-id"), "numericProjectId");
  assert.equal(camelCase("service-accounts"), "serviceAccounts");
  assert.equal(camelCase("network-interfaces"), "networkInterfaces");
  assert.equal(camelCase("zone"), "zone");
});

Deno.test("recursive output: camelCase except verbatim dirs, exact big numbers, no endpoints", async () => {
  const plain = (await toPlain(tree))!;
  assert.equal(
    renderJson(plain),
    '{"a":{"ssh-keys":"k"},"b":"x","id":18446744073709551615,"machineType":"m","scopes":["s1","s2"]}',
  );
});

Deno.test("renderJson escapes strings and keys", () => {
  assert.equal(renderJson({ 'q"': ['a"\n'] }), '{"q\\"":["a\\"\\n"]}');
  assert.equal(renderJson(new DecimalNumber("7")), "7");
});

Deno.test("alt=text lines: path value, list items indexed", async () => {
  const plain = (await toPlain(tree))!;
  assert.equal(
    renderTextLines(plain),
    "a/ssh-keys k\nb x\nid 18446744073709551615\nmachineType m\nscopes/0 s1\nscopes/1 s2\n",
  );
});
