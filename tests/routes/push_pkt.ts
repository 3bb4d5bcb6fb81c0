/** pkt-line builders for the push tests (git's framing: 4 hex digits of length, then the data). */
const enc = new TextEncoder();

/** One pkt-line of `text`. */
export function pkt(text: string | Uint8Array): Uint8Array {
  const data = typeof text === "string" ? enc.encode(text) : text;
  const out = new Uint8Array(data.length + 4);
  out.set(enc.encode((data.length + 4).toString(16).padStart(4, "0")));
  out.set(data, 4);
  return out;
}

/** The bytes of `parts`, one after another. */
export function join(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
