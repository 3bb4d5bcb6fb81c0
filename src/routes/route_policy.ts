/**
 * The gate's route policy (issue 11 items 4 and 5), the hooks src/gate/routes_app.ts calls before
 * a routed call leaves: a `level = "prod"` route is served only to a call carrying an approved,
 * live with-prod session (the with-prod temporary proxy sends it; the container's long-lived proxy
 * has none, so the rest of the container never reaches a prod credential), and a git push on a
 * `push = "approve"` route goes through the prod confirmation chain (src/routes/git_push.ts).
 * Both fail closed: no session, an unknown or ended one, or any answer but a human's yes refuses.
 * @module
 */
import type { Context } from "hono";
import type { Timers } from "../gate/confirm/timers.ts";
import type { RoutePolicy } from "../gate/routes_app.ts";
import type { ApiListener } from "../gate/types.ts";
import {
  cleanRequester,
  ROUTE_ERROR_CODES,
  ROUTE_HEADERS,
  type RouteTarget,
} from "../gate_api/routes_wire.ts";
import { RouteError } from "./forwarder.ts";
import { guardGitPush, type PushDecision, type PushDisplay } from "./git_push.ts";
import type { RouteConfig } from "./route_config.ts";

/**
 * A push the gate answers itself in git's own terms (a `report-status` rejection or a text/plain
 * refusal git prints as `remote:` lines): routes_app sends {@link response} instead of its JSON.
 */
export class PushAnswer extends RouteError {
  constructor(readonly response: Response) {
    super(
      response.status,
      ROUTE_ERROR_CODES.pushDenied,
      response.status === 200 ? "git push not approved" : "git push refused",
    );
  }
}

/** What the policy needs from the prod layer (src/gate/prod.ts). */
export interface RoutePolicyDeps {
  listener: ApiListener;
  /** Whether `id` is an approved with-prod session that is still live. */
  sessionActive(id: string): Promise<boolean>;
  confirmGitPush(
    c: Context,
    listener: ApiListener,
    push: PushDisplay,
    signal: AbortSignal,
  ): Promise<PushDecision>;
  timers: Timers;
  log: (line: string) => void;
}

/** The route policy of one API listener. */
export function createRoutePolicy(deps: RoutePolicyDeps): RoutePolicy {
  return {
    async requireProdSession(c: Context, route: RouteConfig): Promise<void> {
      const id = c.req.header(ROUTE_HEADERS.session);
      if (id === undefined || id === "") {
        throw new RouteError(
          403,
          ROUTE_ERROR_CODES.prodSessionRequired,
          `route ${route.name} is a prod route: it is served only inside an approved with-prod ` +
            "session; run the client as `authcalator with-prod -- <command>` and use the routes " +
            "URL with-prod gives it (AUTHCALATOR_ROUTES_URL)",
        );
      }
      // The id is never echoed or logged: only whether it is live.
      if (!(await deps.sessionActive(id))) {
        throw new RouteError(
          403,
          ROUTE_ERROR_CODES.prodSessionRequired,
          `route ${route.name} is a prod route and the with-prod session this call carries has ` +
            "ended or is unknown; re-run the command under a new with-prod",
        );
      }
    },

    async approvePush(
      c: Context,
      route: RouteConfig,
      target: RouteTarget,
      body: ReadableStream<Uint8Array> | null,
    ): Promise<ReadableStream<Uint8Array> | null> {
      const raw = c.req.raw;
      const request = new Request(raw.url, {
        method: raw.method,
        headers: raw.headers,
        body,
        signal: raw.signal,
        // @ts-ignore: duplex is required for a streamed body and missing from older lib typings
        duplex: "half",
      });
      const verdict = await guardGitPush(
        request,
        target.path,
        target.query === "" ? "" : `?${target.query}`,
        {
          route: route.name,
          policy: route.push,
          confirm: (push, signal) => deps.confirmGitPush(c, deps.listener, push, signal),
          timers: deps.timers,
          signal: raw.signal,
          log: deps.log,
          reportedBy: cleanRequester(c.req.header(ROUTE_HEADERS.requester) ?? null),
        },
      );
      if (verdict.action === "answer") throw new PushAnswer(verdict.response);
      return verdict.request.body;
    },
  };
}
