/**
 * The gate side of a held prod session (wire contract in src/gate_api/session_hold.ts): the answer
 * to `POST /session` with `x-session-hold: 1` is an NDJSON stream, the session JSON first, then a
 * heartbeat line every {@link HOLD_HEARTBEAT_MS}. The session lives only as long as this stream:
 * when the holder's connection closes, a write fails, or the gate stops, the session is revoked.
 * When the session ends on its own (TTL, `DELETE /session`), a last status line is written and
 * the stream closes.
 * @module
 */
import {
  HELD_SESSION_CONTENT_TYPE,
  HOLD_HEARTBEAT,
  HOLD_HEARTBEAT_MS,
} from "../gate_api/session_hold.ts";
import type { Timers } from "./confirm/timers.ts";

/** What ends a held session's stream. */
export type HoldEnd =
  | "holder disconnected"
  | "write to the holder failed"
  | "gate shutting down"
  | "session ended";

/** What a held stream is built from. */
export interface HeldSessionOptions {
  /** The usual session JSON (the first line). */
  first: unknown;
  timers: Timers;
  /** Aborts when the holder's request is gone. */
  requestSignal: AbortSignal;
  /** Aborts when the gate stops. */
  stopSignal: AbortSignal;
  /** Whether the session is still live (checked before each heartbeat). */
  isLive(): Promise<boolean>;
  /** Called once, when the stream ends for any reason; revokes unless the session already ended. */
  onEnd(why: HoldEnd): void;
  heartbeatMs?: number;
}

/** The NDJSON response of a held session. */
export function heldSessionResponse(options: HeldSessionOptions): Response {
  const encoder = new TextEncoder();
  const heartbeatMs = options.heartbeatMs ?? HOLD_HEARTBEAT_MS;
  let ended = false;
  let cancelBeat = () => {};
  let controller!: ReadableStreamDefaultController<Uint8Array>;

  const end = (why: HoldEnd, lastLine?: string) => {
    if (ended) return;
    ended = true;
    cancelBeat();
    options.requestSignal.removeEventListener("abort", onGone);
    options.stopSignal.removeEventListener("abort", onStop);
    try {
      if (lastLine) controller.enqueue(encoder.encode(lastLine));
      controller.close();
    } catch { /* already closed or errored */ }
    options.onEnd(why);
  };
  const onGone = () => end("holder disconnected");
  const onStop = () => end("gate shutting down", '{"status":"revoked","reason":"gate stopping"}\n');

  const write = (line: string): boolean => {
    try {
      controller.enqueue(encoder.encode(line));
      return true;
    } catch {
      end("write to the holder failed");
      return false;
    }
  };

  const beat = () => {
    cancelBeat = options.timers.setTimeout(async () => {
      if (ended) return;
      if (!(await options.isLive())) {
        end("session ended", '{"status":"ended"}\n');
        return;
      }
      if (ended) return;
      if (write(HOLD_HEARTBEAT)) beat();
    }, heartbeatMs);
  };

  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      if (!write(JSON.stringify(options.first) + "\n")) return;
      if (options.requestSignal.aborted) return onGone();
      if (options.stopSignal.aborted) return onStop();
      options.requestSignal.addEventListener("abort", onGone, { once: true });
      options.stopSignal.addEventListener("abort", onStop, { once: true });
      beat();
    },
    cancel() {
      end("holder disconnected");
    },
  });
  return new Response(body, {
    status: 200,
    headers: {
      "content-type": HELD_SESSION_CONTENT_TYPE,
      "cache-control": "no-store, no-transform",
    },
  });
}
