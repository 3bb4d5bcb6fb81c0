/** Bounded body reads: whole when within the bound, refused and cancelled past it. */
import assert from "node:assert/strict";
import { concatChunks, readCapped } from "../../src/http/read_capped.ts";

function chunked(parts: Uint8Array[], onCancel?: () => void) {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < parts.length) c.enqueue(parts[i++]);
      else c.close();
    },
    cancel: onCancel,
  }, { highWaterMark: 0 });
}

Deno.test("a body within the bound is read whole; exactly the bound is within it", async () => {
  const parts = [new Uint8Array([1, 2]), new Uint8Array([3]), new Uint8Array([4, 5])];
  assert.deepEqual(await readCapped(chunked(parts), 5), new Uint8Array([1, 2, 3, 4, 5]));
  assert.deepEqual(await readCapped(null, 5), new Uint8Array(0));
  assert.deepEqual(await readCapped(chunked([]), 0), new Uint8Array(0));
});

Deno.test("a body past the bound is undefined, its stream cancelled, nothing further read", async () => {
  let cancelled = false;
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled++;
      c.enqueue(new Uint8Array(4));
    },
    cancel() {
      cancelled = true;
    },
  }, { highWaterMark: 0 });
  assert.equal(await readCapped(body, 10), undefined);
  assert.equal(cancelled, true);
  assert.equal(pulled, 3); // 4 + 4 + 4 > 10: the third chunk is the last one read
});

Deno.test("a stream error is thrown as raised", async () => {
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.error(new Error("reset"));
    },
  });
  await assert.rejects(readCapped(body, 10), /reset/);
});

Deno.test("concatChunks joins in order", () => {
  assert.deepEqual(
    concatChunks([new Uint8Array([1]), new Uint8Array([]), new Uint8Array([2, 3])], 3),
    new Uint8Array([1, 2, 3]),
  );
});
