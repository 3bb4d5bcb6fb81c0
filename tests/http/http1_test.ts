/** The shared HTTP/1.1 codec: incremental chunked decoding and strict field lines. */
import assert from "node:assert/strict";
import {
  decodeChunked,
  Http1SyntaxError,
  indexOfHeadEnd,
  parseFieldLines,
} from "../../src/http/http1.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("decodeChunked waits for every piece, then reports the body and what it used", () => {
  const whole = "4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
  for (let cut = 0; cut < whole.length - 4; cut++) {
    assert.equal(decodeChunked(enc(whole.slice(0, cut))), undefined, `cut at ${cut}`);
  }
  const done = decodeChunked(enc(whole))!;
  assert.equal(text(done.body), "Wikipedia");
  assert.equal(whole.slice(done.consumed), "NEXT");
});

Deno.test("decodeChunked refuses malformed framing and bodies over the cap", () => {
  const bad = (s: string, status = 400, max = Infinity) =>
    assert.throws(
      () => decodeChunked(enc(s), max),
      (e: Error) => e instanceof Http1SyntaxError && e.status === status,
      JSON.stringify(s),
    );
  bad("g\r\n");
  bad("-1\r\n");
  bad("123456789\r\n"); // more than 8 hex digits
  bad("3\r\nabcd\r\n");
  bad(`${"1".repeat(2000)}`); // a size line that never ends
  bad("5\r\nhello\r\n0\r\n\r\n", 413, 4);
});

Deno.test("parseFieldLines keeps values exact and refuses what a smuggler would send", () => {
  assert.deepEqual(parseFieldLines(["Host:  a b  ", "X-Empty:"]), [["host", "a b"], [
    "x-empty",
    "",
  ]]);
  for (const line of ["Bad Name: x", " folded", "NoColon", ": x", "X: a\u0001b", "X: a\nb"]) {
    assert.throws(() => parseFieldLines([line]), Http1SyntaxError, line);
  }
});

Deno.test("indexOfHeadEnd finds the blank line, resuming from an offset", () => {
  const b = enc("GET / HTTP/1.1\r\nA: b\r\n\r\nbody");
  assert.equal(indexOfHeadEnd(b), 20);
  assert.equal(indexOfHeadEnd(b, 18), 20);
  assert.equal(indexOfHeadEnd(enc("GET / HTTP/1.1\r\n")), -1);
});

Deno.test("random framing never makes the codec throw anything but a syntax error", () => {
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  const pieces = [
    "0",
    "1",
    "a",
    "F",
    "ffffffff",
    ";",
    "x=y",
    "\r\n",
    "\r",
    "\n",
    " ",
    "\0",
    ":",
    "é",
  ];
  for (let i = 0; i < 3000; i++) {
    let s = "";
    for (let j = next() % 16; j >= 0; j--) s += pieces[next() % pieces.length];
    try {
      const out = decodeChunked(enc(s), 1 << 16);
      if (out) assert.ok(out.consumed <= enc(s).length);
    } catch (err) {
      assert.ok(err instanceof Http1SyntaxError, `${JSON.stringify(s)}: ${err}`);
    }
    try {
      parseFieldLines(s.split("\r\n"));
    } catch (err) {
      assert.ok(err instanceof Http1SyntaxError, `${JSON.stringify(s)}: ${err}`);
    }
  }
});
