/**
 * The emulator's Hono app: one base URL serving every emulated Google API at its real path, behind
 * a middleware that counts, logs (without secrets) and applies injected faults.
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { type ApiName, classify } from "./api_names.ts";
import { rpcError } from "./google_errors.ts";
import type { RequestLogEntry } from "./request_log.ts";
import { certsRoutes } from "./routes/certs.ts";
import { iamCredentialsRoutes } from "./routes/iamcredentials.ts";
import { tokenRoutes } from "./routes/oauth2_token.ts";
import { resourceManagerRoutes } from "./routes/resource_manager.ts";
import { tokeninfoRoutes } from "./routes/tokeninfo.ts";
import { type EmulatorEnv, type EmulatorState, rfc3339 } from "./state.ts";

/** Largest request body accepted (Google's limits are larger; nothing here needs more). */
export const MAX_BODY_BYTES = 64 * 1024;

/** Waits `ms`, ending early (false) when any signal aborts. */
function delay(ms: number, signals: AbortSignal[]): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (completed: boolean) => {
      clearTimeout(timer);
      for (const s of signals) s.removeEventListener("abort", onAbort);
      resolve(completed);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    for (const s of signals) {
      if (s.aborted) return done(false);
      s.addEventListener("abort", onAbort, { once: true });
    }
  });
}

/** A 200 whose body starts and never ends, until the client leaves or the emulator stops. */
function stalledResponse(state: EmulatorState): Response {
  let held: ReadableStreamDefaultController<Uint8Array> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      held = controller;
      state.stalls.add(controller);
      controller.enqueue(new TextEncoder().encode('{\n  "'));
    },
    cancel() {
      if (held) state.stalls.delete(held);
    },
  });
  return new Response(body, {
    status: 200,
    // no-transform: Deno.serve would otherwise gzip and buffer the partial body.
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-transform" },
  });
}

/** Builds the app over `state`. */
export function createApp(state: EmulatorState): Hono<EmulatorEnv> {
  const app = new Hono<EmulatorEnv>();

  app.use("*", async (c, next) => {
    const path = new URL(c.req.url).pathname;
    const api: ApiName | "unknown" = classify(c.req.method, path) ?? "unknown";
    state.log.count(api);
    let fault: RequestLogEntry["fault"];
    const record = (status: number) =>
      state.log.record({
        at: rfc3339(state.clock.now()),
        api,
        method: c.req.method,
        path,
        status,
        ...(c.get("principal") ? { principal: c.get("principal") } : {}),
        ...(fault ? { fault } : {}),
      });
    if (api !== "unknown") {
      const ms = state.faults.latencyFor(api);
      if (ms > 0) {
        fault = "latency";
        if (!(await delay(ms, [c.req.raw.signal, state.stopSignal]))) {
          const res = rpcError(503, "The service is currently unavailable.");
          record(res.status);
          return res;
        }
      }
      const failure = state.faults.takeFailure(api);
      if (failure) {
        fault = "fail";
        const res = rpcError(failure.status, failure.message);
        record(res.status);
        return res;
      }
      if (state.faults.takeStall(api)) {
        fault = "stall";
        const res = stalledResponse(state);
        record(res.status);
        return res;
      }
    }
    await next();
    record(c.res.status);
  });

  app.use(
    "*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () =>
        rpcError(413, `Request payload size exceeds the limit: ${MAX_BODY_BYTES} bytes.`),
    }),
  );

  app.route("/", tokenRoutes(state));
  app.route("/", tokeninfoRoutes(state));
  app.route("/", iamCredentialsRoutes(state));
  app.route("/", resourceManagerRoutes(state));
  app.route("/", certsRoutes(state));

  app.notFound((c) =>
    rpcError(404, `The requested URL ${new URL(c.req.url).pathname} was not found on this server.`)
  );
  // Never echo the exception: it could quote a request body.
  app.onError(() => rpcError(500, "Internal error encountered."));
  return app;
}
