import assert from "node:assert/strict";
import {
  encodeWrappedCommand,
  HEADER_BYTES,
  parseWrappedCommand,
} from "../../src/gate_api/wrapped_command.ts";

Deno.test("a small argv is sent whole, ASCII-only, and parses back to the same strings", () => {
  const argv = ["gcloud", "ünïcödé 🙂", "tab\there", "del\u007f"];
  const header = encodeWrappedCommand(argv);
  assert.match(header, /^[\x20-\x7e]*$/);
  assert.deepEqual(parseWrappedCommand(header), argv);
  new Headers({ "X-Wrapped-Command": header }); // a valid header value
});

Deno.test("a large argv is trimmed under the limit and ends with the omission marker", () => {
  const argv = ["tool", ...Array.from({ length: 2000 }, (_, i) => `argument-${i}`)];
  const header = encodeWrappedCommand(argv);
  assert.ok(header.length <= HEADER_BYTES);
  const parsed = parseWrappedCommand(header)!;
  assert.equal(parsed[0], "tool");
  const kept = parsed.length - 1;
  assert.equal(
    parsed.at(-1),
    `… ${argv.length - kept} further argument(s) omitted by the client (header size limit)`,
  );
});

Deno.test("a huge argv[0] is cut with a marker", () => {
  const header = encodeWrappedCommand(["x".repeat(10_000), "a"]);
  assert.ok(header.length <= HEADER_BYTES);
  assert.deepEqual(parseWrappedCommand(header), [
    `${"x".repeat(200)} …(+9800 chars omitted by the client from argv[0])`,
    "… 1 further argument(s) omitted by the client (header size limit)",
  ]);
});

Deno.test("multi-byte arguments are counted as their escaped size", () => {
  const argv = ["t", ...Array.from({ length: 100 }, () => "🙂".repeat(40))];
  const header = encodeWrappedCommand(argv);
  assert.ok(header.length <= HEADER_BYTES);
  assert.match(parseWrappedCommand(header)!.at(-1)!, /further argument\(s\) omitted/);
});

Deno.test("parseWrappedCommand accepts only a non-empty JSON array of strings", () => {
  assert.deepEqual(parseWrappedCommand('["a","b"]'), ["a", "b"]);
  for (const bad of [null, "", "[]", "{}", '"a"', '["a",1]', "not json", '[["a"]]']) {
    assert.deepEqual(parseWrappedCommand(bad), undefined, String(bad));
  }
});
