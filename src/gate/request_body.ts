/**
 * Reads a prod request's body whole, bounded in size and time, before anything is queued or shown
 * to a human. The gate's prod routes take no body, but a client that announces one and never
 * finishes it (`Content-Length: 1000`, 3 bytes sent) must be dropped, not left holding a slot: the
 * deadline cancels the read (the stream is cancelled, not merely raced) and the request is refused.
 * @module
 */
import { HttpError } from "../errors.ts";
import { PROD_OUTCOME_CODES } from "../gate_api/prod_outcome.ts";
import type { Timers } from "./confirm/timers.ts";
import { concatChunks } from "../http/read_capped.ts";

/** Largest body a prod request may carry (they carry none; a little slack for odd clients). */
export const MAX_PROD_BODY_BYTES = 4096;
/** How long the whole body may take to arrive. */
export const PROD_BODY_TIMEOUT_MS = 5_000;

/** Why a body read failed, so the caller can audit it. */
export class BodyError extends HttpError {
  /** `gone` when the client disconnected mid-body, `slow` on the deadline, `large` over the cap. */
  readonly kind: "gone" | "slow" | "large";
  constructor(kind: "gone" | "slow" | "large", status: number, message: string) {
    super(status, message, PROD_OUTCOME_CODES.badBody);
    this.kind = kind;
  }
}

/** Options of {@link readBoundedBody}. */
export interface BodyLimits {
  maxBytes?: number;
  timeoutMs?: number;
  timers: Timers;
}

/** Reads `request`'s body within the limits; throws {@link BodyError} otherwise. */
export async function readBoundedBody(request: Request, limits: BodyLimits): Promise<Uint8Array> {
  const maxBytes = limits.maxBytes ?? MAX_PROD_BODY_BYTES;
  const timeoutMs = limits.timeoutMs ?? PROD_BODY_TIMEOUT_MS;
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw new BodyError("large", 413, `Request body too large (max ${maxBytes} bytes)`);
  }
  if (!request.body) return new Uint8Array();
  const reader = request.body.getReader();
  let timedOut = false;
  const cancel = limits.timers.setTimeout(() => {
    timedOut = true;
    reader.cancel("body deadline").catch(() => {});
  }, timeoutMs);
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (true) {
      let step: ReadableStreamReadResult<Uint8Array>;
      try {
        step = await reader.read();
      } catch {
        if (timedOut) break;
        throw new BodyError("gone", 400, "The client went away before sending its whole request");
      }
      if (timedOut) break;
      if (step.done) break;
      size += step.value.byteLength;
      if (size > maxBytes) {
        reader.cancel("body too large").catch(() => {});
        throw new BodyError("large", 413, `Request body too large (max ${maxBytes} bytes)`);
      }
      chunks.push(step.value);
    }
    if (timedOut) {
      throw new BodyError(
        "slow",
        408,
        `Request body incomplete after ${timeoutMs / 1000}s; the request was dropped`,
      );
    }
  } finally {
    cancel();
    reader.releaseLock();
  }
  return concatChunks(chunks, size);
}
