/**
 * The emulator's Hono app: one base URL serving every emulated Google API at its real path, behind
 * a middleware that counts, logs (without secrets) and applies injected faults.
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { type ApiName, classify } from "./api_names.ts";
import { jsonResponse, rpcError } from "./google_errors.ts";
import type { RequestLogEntry } from "./request_log.ts";
import { certsRoutes } from "./routes/certs.ts";
import { iamCredentialsRoutes } from "./routes/iamcredentials.ts";
import { tokenRoutes } from "./routes/oauth2_token.ts";
import { resourceManagerRoutes } from "./routes/resource_manager.ts";
import { tokeninfoRoutes } from "./routes/tokeninfo.ts";
import { type EmulatorEnv, type EmulatorState, rfc3339 } from "./state.ts";
import { HANG_MARKER, RESET_MARKER } from "./tcp_front.ts";
import type { Malformation } from "./faults.ts";

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

/** An answer the raw TCP front turns into a closed connection (tcp_front.ts). */
function resetResponse(): Response {
  return new Response(null, { status: 502, headers: { [RESET_MARKER]: "1" } });
}

/** A 200 `application/json` whose body is cut short: what a broken proxy or truncation sends. */
function badJsonResponse(): Response {
  return new Response('{\n  "error": "truncat', {
    status: 200,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

const EXPIRY_FIELDS = ["expireTime", "expires_in"];
const TOKEN_FIELDS = ["accessToken", "access_token", "token", "id_token"];

/** Breaks a successful JSON answer the way `kind` says (faults.ts). */
async function malformed(res: Response, kind: Malformation, state: EmulatorState) {
  const body = await res.json() as Record<string, unknown>;
  if (kind === "not_object") return jsonResponse(200, "ok");
  for (const field of EXPIRY_FIELDS) {
    if (!(field in body)) continue;
    if (kind === "missing_expiry") delete body[field];
    if (kind === "past_expiry") {
      body[field] = field === "expires_in" ? -3600 : rfc3339(state.clock.now() - 3_600_000);
    }
    if (kind === "garbled_expiry") body[field] = field === "expires_in" ? "soon" : "tomorrow-ish";
  }
  if (kind === "missing_token") { for (const field of TOKEN_FIELDS) delete body[field]; }
  return jsonResponse(200, body);
}

/**
 * The same answer with its body sent one byte every `intervalMs`: headers at once, the body
 * slowly but steadily (a client with only an idle timeout never gives up). The timer ends when the
 * client leaves, the body is done or the emulator stops.
 */
async function trickled(res: Response, intervalMs: number, state: EmulatorState) {
  const bytes = new Uint8Array(await res.arrayBuffer());
  let sent = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let end = () => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      end = () => {
        clearTimeout(timer);
        state.trickles.delete(end);
        try {
          controller.close();
        } catch { /* already closed or cancelled */ }
      };
      state.trickles.add(end);
      const tick = () => {
        if (sent >= bytes.length) return end();
        controller.enqueue(bytes.subarray(sent, ++sent));
        timer = setTimeout(tick, intervalMs);
      };
      tick();
    },
    cancel() {
      clearTimeout(timer);
      state.trickles.delete(end);
    },
  });
  const headers = new Headers(res.headers);
  headers.delete("content-length");
  headers.set("cache-control", "no-transform"); // Deno.serve would gzip and buffer it
  return new Response(body, { status: res.status, headers });
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
        const res = rpcError(failure.status, failure.message, undefined, failure.headers);
        record(res.status);
        return res;
      }
      if (state.faults.take("reset", api)) {
        fault = "reset";
        record(0);
        return resetResponse();
      }
      if (state.faults.take("hang", api)) {
        fault = "hang";
        record(0);
        return new Response(null, { status: 504, headers: { [HANG_MARKER]: "1" } });
      }
      if (state.faults.take("bad_json", api)) {
        fault = "bad_json";
        record(200);
        return badJsonResponse();
      }
      if (state.faults.takeStall(api)) {
        fault = "stall";
        const res = stalledResponse(state);
        record(res.status);
        return res;
      }
    }
    await next();
    if (api !== "unknown" && c.res.status === 200) {
      const kind = state.faults.takeMalformation(api);
      if (kind) {
        fault = kind;
        c.res = await malformed(c.res, kind, state);
      }
    }
    const intervalMs = api === "unknown" ? undefined : state.faults.takeSlowBody(api);
    if (intervalMs !== undefined) {
      fault = "slow_body";
      const slow = await trickled(c.res, intervalMs, state);
      c.res = undefined; // replace, not merge: Hono would copy the old headers back
      c.res = slow;
    }
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
