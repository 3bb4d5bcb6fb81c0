/** A raw HTTP/1.1 client over a Unix socket, and a bounded poll, for the prod socket tests. */

/** Polls `check` every 5 ms for at most 5 s (every wait bounded). */
export async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>) {
  for (let i = 0; i < 1000; i++) {
    const value = await check();
    if (value !== undefined && value !== false) return value as T;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A raw HTTP/1.1 client on a Unix socket that collects everything the server writes. */
export class RawClient {
  text = "";
  ended = false;
  readonly #conn: Deno.UnixConn;
  readonly #reading: Promise<void>;
  private constructor(conn: Deno.UnixConn) {
    this.#conn = conn;
    this.#reading = (async () => {
      const decoder = new TextDecoder();
      const buf = new Uint8Array(16 * 1024);
      try {
        while (true) {
          const n = await conn.read(buf);
          if (n === null) break;
          this.text += decoder.decode(buf.subarray(0, n), { stream: true });
        }
      } catch { /* closed by us */ }
      this.ended = true;
    })();
  }
  static async open(path: string): Promise<RawClient> {
    return new RawClient(await Deno.connect({ transport: "unix", path }));
  }
  async send(text: string): Promise<void> {
    const bytes = new TextEncoder().encode(text);
    for (let at = 0; at < bytes.length;) at += await this.#conn.write(bytes.subarray(at));
  }
  /** The JSON lines of the body written so far (chunk framing skipped). */
  jsonLines(): Record<string, unknown>[] {
    return [...this.text.matchAll(/^\{.*\}$/gm)].map((m) => JSON.parse(m[0]));
  }
  async close(): Promise<void> {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    await this.#reading;
  }
}

export function post(path: string, headers: Record<string, string>, body = ""): string {
  const lines = [`POST ${path} HTTP/1.1`, "host: gate"];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  if (!("content-length" in headers)) lines.push(`content-length: ${body.length}`);
  return lines.join("\r\n") + "\r\n\r\n" + body;
}
