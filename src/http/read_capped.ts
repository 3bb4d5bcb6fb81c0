/**
 * Reading a body no further than a bound: an answer or a request larger than its bound is
 * refused after `max` bytes and its stream cancelled, so a peer cannot fill memory. One copy for
 * every bounded read (the gate client's answers, TokenReview's answers, …).
 * @module
 */

/**
 * The bytes of `body`, or `undefined` when it holds more than `max` bytes (the stream is then
 * cancelled and nothing past the bound is read). A null body is empty. Errors of the stream
 * (a connection lost, an abort) are thrown as the stream raised them.
 */
export async function readCapped(
  body: ReadableStream<Uint8Array> | null,
  max: number,
): Promise<Uint8Array | undefined> {
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        reader.cancel().catch(() => {});
        return undefined;
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return concatChunks(chunks, size);
}

/** `chunks` joined into one array of `size` bytes (their total). */
export function concatChunks(chunks: readonly Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
