/**
 * The client side of the held prod session (wire in src/gate_api/session_hold.ts): the answer to
 * `POST /session` with `x-session-hold: 1` is NDJSON whose first line is the session and whose
 * later lines are heartbeats. with-prod keeps that connection open for its whole life, so the gate
 * revokes the session the moment with-prod dies, however it dies. This module reads the stream:
 * the first line is returned, then every later line is checked, and the hold is declared lost
 * (once, with a reason) when the stream ends, breaks, carries anything but a heartbeat, or goes
 * silent for {@link SILENCE_LIMIT_MS}. Reading is bounded: a line longer than
 * {@link MAX_LINE_BYTES} is a protocol error, never buffered without end.
 * @module
 */
import { HOLD_HEARTBEAT_MS } from "../gate_api/session_hold.ts";
import type { Timers } from "../gate/confirm/timers.ts";

/** A held stream silent for this long (three missed heartbeats) is treated as lost. */
export const SILENCE_LIMIT_MS = 3 * HOLD_HEARTBEAT_MS;
/** Longest accepted line (the session JSON is well under 8 KiB). */
export const MAX_LINE_BYTES = 64 * 1024;

/** A held session's connection, after its first line. */
export interface SessionHold {
  /** Resolves (never rejects) with the reason, once, if the hold ends without {@link release}. */
  readonly lost: Promise<string>;
  /** Closes the connection on purpose (the gate revokes the session). Idempotent. */
  release(): void;
}

/** Raised when the stream ends or misbehaves before its first line. */
export class HoldProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HoldProtocolError";
  }
}

/** Splits a byte stream into lines, bounded. */
class LineReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = "";

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /** The next complete line (without `\n`), or undefined at the end of the stream. */
  async next(): Promise<string | undefined> {
    for (;;) {
      const newline = this.#buffer.indexOf("\n");
      if (newline >= 0) {
        const line = this.#buffer.slice(0, newline);
        this.#buffer = this.#buffer.slice(newline + 1);
        return line;
      }
      if (this.#buffer.length > MAX_LINE_BYTES) {
        throw new HoldProtocolError(`a line of the held session exceeded ${MAX_LINE_BYTES} bytes`);
      }
      const { done, value } = await this.#reader.read();
      if (done) {
        if (this.#buffer !== "") {
          throw new HoldProtocolError("the held session ended in the middle of a line");
        }
        return undefined;
      }
      this.#buffer += this.#decoder.decode(value, { stream: true });
    }
  }

  cancel(): void {
    this.#reader.cancel().catch(() => {});
  }
}

function heartbeatProblem(line: string): string | undefined {
  if (line.trim() === "") return undefined; // tolerated keep-alive
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return "the gate sent a line that is not JSON";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "the gate sent a line that is not a JSON object";
  }
  const { status, reason } = value as Record<string, unknown>;
  if (status === "active") return undefined;
  if (typeof status !== "string" || !/^[a-z_]{1,40}$/.test(status)) {
    return "the gate sent a line that is not a heartbeat";
  }
  // Only a short plain reason is repeated to the user; anything else is left out.
  const why = typeof reason === "string" && /^[\w .,:'-]{1,80}$/.test(reason) ? `: ${reason}` : "";
  return `the gate ended the session (${status}${why})`;
}

/**
 * Reads the first line of a held session's `body`, then watches the rest in the background.
 * `abort` closes the underlying connection (the fetch's controller). Rejects with
 * {@link HoldProtocolError} if the stream ends or misbehaves before the first line.
 */
export async function holdSession(
  body: ReadableStream<Uint8Array>,
  abort: () => void,
  timers: Timers,
): Promise<{ first: string; hold: SessionHold }> {
  const lines = new LineReader(body);
  let first: string | undefined;
  try {
    do first = await lines.next(); while (first !== undefined && first.trim() === "");
  } catch (err) {
    abort();
    if (err instanceof HoldProtocolError) throw err;
    throw new HoldProtocolError("the held session's connection broke before the session arrived");
  }
  if (first === undefined) {
    abort();
    throw new HoldProtocolError("the held session ended before the session arrived");
  }

  let released = false;
  let settle!: (reason: string) => void;
  const lost = new Promise<string>((resolve) => settle = resolve);
  let cancelSilence: (() => void) | undefined;
  let done = false;
  const finish = (reason: string | undefined) => {
    if (done) return;
    done = true;
    cancelSilence?.();
    lines.cancel();
    abort();
    if (!released && reason !== undefined) settle(reason);
  };
  const armSilence = () => {
    cancelSilence?.();
    cancelSilence = timers.setTimeout(
      () => finish(`no heartbeat from the gate for ${SILENCE_LIMIT_MS / 1000} s`),
      SILENCE_LIMIT_MS,
    );
  };
  armSilence();
  (async () => {
    for (;;) {
      let line: string | undefined;
      try {
        line = await lines.next();
      } catch (err) {
        return finish(
          err instanceof HoldProtocolError
            ? err.message
            : "the connection to the gate broke (the gate stopped or revoked the session)",
        );
      }
      if (line === undefined) {
        return finish("the gate closed the held session (it stopped or revoked the session)");
      }
      const problem = heartbeatProblem(line);
      if (problem) return finish(problem);
      armSilence();
    }
  })();
  return {
    first,
    hold: {
      lost,
      release() {
        released = true;
        finish(undefined);
      },
    },
  };
}
