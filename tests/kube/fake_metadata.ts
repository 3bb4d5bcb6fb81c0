/** A tiny GCE metadata server for kube tests: answers the token route with a fixed token. */
import { TOKEN_PATH } from "../../src/kube/metadata_token.ts";

/** A running fake; `host` is `127.0.0.1:PORT` for GCE_METADATA_HOST. */
export interface FakeMetadata {
  host: string;
  /** Requests seen: path and the Metadata-Flavor header. */
  requests: { path: string; flavor: string | null }[];
  close(): Promise<void>;
}

/** How the fake answers the token route. */
export type TokenAnswer =
  | { token: string }
  | { status: number; body: string };

/** Starts the fake on a free loopback port. */
export function startFakeMetadata(answer: TokenAnswer): FakeMetadata {
  const requests: FakeMetadata["requests"] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const url = new URL(req.url);
    requests.push({ path: url.pathname, flavor: req.headers.get("metadata-flavor") });
    const headers = { "Metadata-Flavor": "Google", "Content-Type": "application/json" };
    if (req.headers.get("metadata-flavor") !== "Google") {
      return new Response("missing Metadata-Flavor", { status: 403, headers });
    }
    if (url.pathname !== TOKEN_PATH) return new Response("not found", { status: 404, headers });
    if ("token" in answer) {
      const body = { access_token: answer.token, expires_in: 3599, token_type: "Bearer" };
      return new Response(JSON.stringify(body), { headers });
    }
    return new Response(answer.body, { status: answer.status, headers });
  });
  return {
    host: `127.0.0.1:${server.addr.port}`,
    requests,
    close: () => server.shutdown(),
  };
}

/** A TCP listener that accepts connections and sends `prefix` (maybe nothing), then stalls. */
export function startStallingServer(prefix = ""): { host: string; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        conns.push(conn);
        if (prefix) await conn.write(new TextEncoder().encode(prefix)).catch(() => {});
      }
    } catch { /* listener closed */ }
  })();
  return {
    host: `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed by the peer */ }
      }
      await accepting;
    },
  };
}

/** A loopback port with nothing listening (bound, then released). */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}
