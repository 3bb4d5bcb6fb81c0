/** A minimal HTTP/1.1 client over TCP, for requests fetch will not send (any Host, raw paths). */

/** A parsed raw response. */
export interface RawResponse {
  status: number;
  headers: Headers;
  body: string;
}

/** Sends `request` verbatim (it should ask for `Connection: close`) and reads to EOF, bounded. */
export async function rawRequest(
  port: number,
  request: string,
  timeoutMs = 5000,
  hostname = "127.0.0.1",
): Promise<RawResponse> {
  const conn = await Deno.connect({ hostname, port });
  const timer = setTimeout(() => conn.close(), timeoutMs);
  try {
    await conn.write(new TextEncoder().encode(request));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(16384);
    while (true) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch {
        break;
      }
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    const text = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
    const split = text.indexOf("\r\n\r\n");
    if (split < 0) throw new Error(`no complete response within ${timeoutMs} ms: ${text}`);
    const [statusLine, ...lines] = text.slice(0, split).split("\r\n");
    const headers = new Headers();
    for (const line of lines) {
      const i = line.indexOf(":");
      headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
    }
    return { status: Number(statusLine.split(" ")[1]), headers, body: text.slice(split + 4) };
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer or the peer */ }
  }
}

/** A GET request line plus headers, with `Connection: close`. */
export function getRequest(path: string, headers: Record<string, string>): string {
  const lines = [`GET ${path} HTTP/1.1`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return `${lines.join("\r\n")}\r\nConnection: close\r\n\r\n`;
}

/** Polls `condition` every 10 ms until it holds, failing after `timeoutMs`. */
export async function eventually(
  condition: () => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
