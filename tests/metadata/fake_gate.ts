/** A stand-in for the gate on a Unix socket, speaking the gate's wire API, scripted by tests. */
import { Hono } from "hono";

/** One request the fake gate saw. */
export interface SeenRequest {
  path: string;
  query: string;
}

/** Scripted behaviour: override any route's answer; `hold` parks requests until released. */
export interface FakeGateScript {
  token?: (scopes: string) => Response | Promise<Response>;
  idToken?: (query: URLSearchParams) => Response | Promise<Response>;
  projectNumber?: () => Response;
  health?: () => Response | Promise<Response>;
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

/** A running fake gate. */
export class FakeGate {
  readonly seen: SeenRequest[] = [];
  script: FakeGateScript = {};
  #server?: Deno.HttpServer;
  #serial = 0;
  readonly app = new Hono();

  constructor(readonly socketPath: string) {
    this.app.use("*", async (c, next) => {
      const url = new URL(c.req.url);
      this.seen.push({ path: url.pathname, query: url.search });
      await next();
    });
    this.app.get(
      "/health",
      () => this.script.health?.() ?? json({ status: "ok", uptime_seconds: 1 }),
    );
    this.app.get("/identity", () => json({ email: "engineer@example.com" }));
    this.app.get(
      "/project-number",
      () => this.script.projectNumber?.() ?? json({ project_number: "123456789012" }),
    );
    this.app.get("/universe-domain", () => json({ universe_domain: "googleapis.com" }));
    this.app.get("/token", (c) => {
      const scopes = c.req.query("scopes") ?? "";
      if (this.script.token) return this.script.token(scopes);
      return json({
        access_token: `ya29.gate-${++this.#serial}`,
        expires_in: 3600,
        token_type: "Bearer",
      });
    });
    this.app.get("/id-token", (c) => {
      const q = new URL(c.req.url).searchParams;
      if (this.script.idToken) return this.script.idToken(q);
      if (!q.get("audience")) return json({ error: "audience is required" }, 400);
      return json({
        id_token: `h.${btoa(JSON.stringify({ aud: q.get("audience"), exp: 1767229200 + 3600 }))}.s`,
      });
    });
    this.app.notFound(() => json({ error: "Not found" }, 404));
  }

  /** Requests seen for `path`. */
  count(path: string): number {
    return this.seen.filter((r) => r.path === path).length;
  }

  /** Starts listening (again) on the socket. */
  start(): this {
    this.#server = Deno.serve(
      { transport: "unix", path: this.socketPath, onListen() {} },
      this.app.fetch,
    );
    return this;
  }

  /** Stops listening; Deno removes the socket file. */
  async stop(): Promise<void> {
    await this.#server?.shutdown();
    this.#server = undefined;
  }
}

/** A latch a scripted handler can await; tests open it to let parked requests finish. */
export function latch(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

export { json };
