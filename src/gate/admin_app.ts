/**
 * The admin socket's API: list, show, approve and deny pending prod requests. It is served only on
 * the admin socket (0600, its own directory, never mounted into containers), so nothing a
 * container can reach can approve its own request.
 * @module
 */
import { Hono } from "hono";
import type { Clock } from "../clock.ts";
import { errorResponse, json } from "./app.ts";
import type { AuditLog } from "./audit.ts";
import type { PendingQueue } from "./pending.ts";

/** What the admin app is built from. */
export interface AdminAppDeps {
  pending: PendingQueue;
  audit: AuditLog;
  clock: Clock;
  startedAt: number;
  log: (line: string) => void;
}

const ID = ":id{[0-9a-f]{32}}";

/** Builds the admin app. Unknown routes are 404 whatever the method (no 405 here). */
export function createAdminApp(deps: AdminAppDeps): Hono {
  const { pending, audit } = deps;
  const app = new Hono();
  const notQueued = { error: "Request not found or expired" };

  app.get("/health", (c) =>
    json(c, {
      status: "ok",
      uptime_seconds: Math.floor((deps.clock.now() - deps.startedAt) / 1000),
    }));
  app.get("/pending", (c) => json(c, { pending: pending.list() }));
  app.get(`/pending/${ID}`, (c) => {
    const request = pending.get(c.req.param("id"));
    return request ? json(c, request) : json(c, notQueued, 404);
  });
  for (const action of ["approve", "deny"] as const) {
    app.post(`/pending/${ID}/${action}`, (c) => {
      const id = c.req.param("id");
      const request = pending.get(id);
      const done = request && (action === "approve" ? pending.approve(id) : pending.deny(id));
      if (!request || !done) return json(c, notQueued, 404);
      audit.write({
        endpoint: `/pending/${id}/${action}`,
        level: "prod",
        result: action === "approve" ? "granted" : "denied",
        socket: "admin",
        email: request.email,
        command: request.command?.summary,
        pending_id: id,
      });
      deps.log(`gate: pending request ${id} ${action === "approve" ? "approved" : "denied"}`);
      return json(c, { status: action === "approve" ? "approved" : "denied" });
    });
  }
  app.notFound((c) => json(c, { error: "Not found" }, 404));
  app.onError((err, c) => errorResponse(c, err, deps.log));
  return app;
}
