/**
 * The admin socket's API: list, show, approve and deny pending prod requests. It is served only on
 * the admin socket (0600, its own directory, never mounted into containers), so nothing a
 * container can reach can approve its own request. A request that is no longer waiting answers 410
 * with a code saying why (its requester went away, it expired, it was already decided), so an
 * orphaned request can never be approved and the operator is told the truth.
 * @module
 */
import { type Context, Hono } from "hono";
import type { Clock } from "../clock.ts";
import { errorResponse, json } from "./app.ts";
import type { AuditLog } from "./audit.ts";
import { peerAuditFields } from "./requester.ts";
import { GONE_CODES } from "../gate_api/prod_outcome.ts";
import { ADMIN_PATHS } from "../gate_api/wire.ts";
import type { PendingOutcome, PendingQueue } from "./pending.ts";

/** What the admin app is built from. */
export interface AdminAppDeps {
  pending: PendingQueue;
  audit: AuditLog;
  clock: Clock;
  startedAt: number;
  log: (line: string) => void;
}

/** The pending-id route parameter (wire.ts's PENDING_ID): any other id is not routed at all. */
const ID = ":id{[0-9a-f]{32}}";

/** The 410 body for a request that ended as `outcome`. */
export function goneBody(outcome: PendingOutcome): { error: string; code: string } {
  switch (outcome) {
    case "cancelled":
      return {
        error: "The requester has gone: it disconnected, so there is nothing to approve",
        code: GONE_CODES.requesterGone,
      };
    case "expired":
      return {
        error: "The request expired: nobody decided within its time",
        code: GONE_CODES.expired,
      };
    case "approved":
      return { error: "The request was already approved", code: GONE_CODES.approved };
    case "denied":
      return { error: "The request was already denied", code: GONE_CODES.denied };
    case "shutdown":
      return { error: "The gate shut down while the request waited", code: GONE_CODES.shutdown };
  }
}

/** Builds the admin app. Unknown routes are 404 whatever the method (no 405 here). */
export function createAdminApp(deps: AdminAppDeps): Hono {
  const { pending, audit } = deps;
  const app = new Hono();
  const notQueued = { error: "Request not found or expired" };

  app.get(ADMIN_PATHS.health, (c) =>
    json(c, {
      status: "ok",
      uptime_seconds: Math.floor((deps.clock.now() - deps.startedAt) / 1000),
    }));
  app.get(ADMIN_PATHS.pending, (c) => json(c, { pending: pending.list() }));
  /** 410 with the reason when the queue remembers how `id` ended, else 404. */
  const notWaiting = (c: Context, id: string) => {
    const ended = pending.outcomeOf(id);
    return ended ? json(c, goneBody(ended), 410) : json(c, notQueued, 404);
  };
  app.get(ADMIN_PATHS.pendingOne(ID), (c) => {
    const id = c.req.param("id");
    const request = pending.get(id);
    return request ? json(c, request) : notWaiting(c, id);
  });
  for (const action of ["approve", "deny"] as const) {
    app.post(ADMIN_PATHS.decide(ID, action), (c) => {
      const id = c.req.param("id");
      const request = pending.get(id);
      if (!request) return notWaiting(c, id);
      // The line is written first (synchronously, so nothing can change the queue meanwhile): an
      // approval the audit log cannot record throws 503 here and approves nothing.
      audit.write({
        endpoint: ADMIN_PATHS.decide(id, action),
        level: "prod",
        result: action === "approve" ? "granted" : "denied",
        socket: "admin",
        email: request.email,
        command: request.command?.summary ??
          (request.push
            ? `git push to ${request.push.repository} via route '${request.push.route}'`
            : undefined),
        pending_id: id,
        pairing_code: request.pairingCode,
        ...(request.requester ? peerAuditFields(request.requester) : {}),
      });
      const done = action === "approve" ? pending.approve(id) : pending.deny(id);
      if (!done) return notWaiting(c, id);
      deps.log(`gate: pending request ${id} ${action === "approve" ? "approved" : "denied"}`);
      return json(c, { status: action === "approve" ? "approved" : "denied" });
    });
  }
  app.notFound((c) => json(c, { error: "Not found" }, 404));
  app.onError((err, c) => errorResponse(c, err, deps.log));
  return app;
}
