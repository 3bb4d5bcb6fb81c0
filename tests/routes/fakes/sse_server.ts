/**
 * A fake model API speaking the two streaming shapes agents use: Anthropic's Messages stream
 * (`POST /v1/messages`, `x-api-key` or a bearer token, named server-sent events message_start … message_stop) and
 * OpenAI's chat completions stream (`POST /v1/chat/completions`, `Authorization: Bearer`,
 * `data: {chunk}` … `data: [DONE]`). Between the first text delta and the rest it can hold the
 * stream open until the test releases it, so a test proves events arrive as they are sent (not
 * buffered to the end). Also: `GET /bytes/<n>` (n bytes, for the download benchmark),
 * `GET /reset` (one event, then the stream is torn down mid-way when the test says so), and a count of streams
 * the client cancelled (a disconnect must reach the upstream). For the safety rules: `/echo`
 * reflects the credential it got in a response header and body, `/hang` never answers,
 * `/stall` sends one event then nothing (its cancellation counts), `/paced?n=&ms=` sends n events
 * ms apart (slow but moving), `/redirect?to=` answers 302,
 * `POST /upload` counts the bytes it received.
 * @module
 */
import { type FakeUpstream, serveFake, type TestCa, text } from "./upstream.ts";

/** The words the fake answers with, one text delta each. */
export const ANSWER_WORDS = ["Hello", " from", " the", " fake", " model."];
export const ANSWER = ANSWER_WORDS.join("");

/** Largest `/bytes/<n>` served. */
const MAX_BYTES = 1 << 30;
const CHUNK = 64 * 1024;

export interface SseServerOptions {
  /** The Anthropic key (`x-api-key`). */
  anthropicKey: string;
  /** The OpenAI key (`Authorization: Bearer`). */
  openaiKey: string;
}

export interface FakeModelApi extends FakeUpstream {
  /**
   * From now on, each stream pauses after its first text delta until `release()` (or the client
   * goes away). Returns a promise that resolves when a stream has reached the pause.
   */
  hold(): Promise<void>;
  /** Lets held streams continue. */
  release(): void;
  /** Tears down every open `/reset` stream (after its first event). */
  resetStreams(): void;
  /** Streams whose reader went away before the end. */
  cancelledStreams(): number;
  /** Streams that ran to their last event. */
  completedStreams(): number;
}

/** Starts the fake model API. */
export function serveModelApi(ca: TestCa, options: SseServerOptions): FakeModelApi {
  let held: { reached: () => void; released: Promise<void>; release: () => void } | undefined;
  let cancelled = 0;
  let completed = 0;
  const resets: (() => void)[] = [];
  let unhang!: () => void;
  const hang = new Promise<void>((resolve) => unhang = resolve);

  const stream = (events: string[], firstHoldAfter: number) => {
    const encoder = new TextEncoder();
    let index = 0;
    let stop = false;
    const hold = held;
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (stop) return;
        if (index === firstHoldAfter && hold) {
          hold.reached();
          await hold.released;
          if (stop) return;
        }
        if (index >= events.length) {
          completed++;
          controller.close();
          return;
        }
        controller.enqueue(encoder.encode(events[index++]));
      },
      cancel() {
        stop = true;
        cancelled++;
      },
    }, { highWaterMark: 0 });
  };

  const fake = serveFake(ca, async (request, url) => {
    if (request.method === "POST" && url.pathname === "/v1/messages") {
      // Anthropic's API takes the key as x-api-key; newer SDKs send it as a bearer token.
      const key = request.headers.get("x-api-key") ??
        request.headers.get("authorization")?.replace(/^Bearer /, "");
      if (key !== options.anthropicKey) {
        return json(401, {
          type: "error",
          error: { type: "authentication_error", message: "invalid x-api-key" },
        });
      }
      const body = await request.json() as { model?: string; stream?: boolean };
      const events = anthropicEvents(body.model ?? "claude-fake");
      return sse(stream(events, 4));
    }
    if (request.method === "POST" && url.pathname === "/v1/chat/completions") {
      if (request.headers.get("authorization") !== `Bearer ${options.openaiKey}`) {
        return json(401, {
          error: { message: "Incorrect API key", type: "invalid_request_error" },
        });
      }
      const body = await request.json() as { model?: string };
      return sse(stream(openaiEvents(body.model ?? "gpt-fake"), 2));
    }
    if (url.pathname === "/echo") {
      // A careless upstream that reflects the credential in a response header and body.
      const seen = request.headers.get("x-api-key") ?? request.headers.get("authorization") ?? "";
      return new Response(`you sent: ${seen}\n`, {
        headers: { "x-echo-credential": seen, "content-type": "text/plain" },
      });
    }
    if (url.pathname === "/hang") {
      // Never answers (until the server closes): the gate's headers timeout must fire.
      await hang;
      return text(503, "closing\n");
    }
    if (url.pathname === "/redirect") {
      // An upstream sending the client elsewhere: the gate must not follow it with the credential.
      return new Response(null, {
        status: 302,
        headers: { location: url.searchParams.get("to") ?? "/" },
      });
    }
    if (url.pathname === "/paced") {
      // `n` events, one every `ms` milliseconds: slow, but always making progress.
      const n = Math.min(Number(url.searchParams.get("n") ?? "5"), 100);
      const ms = Math.min(Number(url.searchParams.get("ms") ?? "100"), 5_000);
      let sent = 0;
      return sse(
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (sent > 0) await new Promise((resolve) => setTimeout(resolve, ms));
            if (sent === n) return controller.close();
            controller.enqueue(new TextEncoder().encode(`data: {"n":${sent++}}\n\n`));
          },
        }, { highWaterMark: 0 }),
      );
    }
    if (url.pathname === "/stall") {
      // One event, then silence until the reader goes away (or the server closes).
      let sent = false;
      return sse(
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (!sent) {
              sent = true;
              controller.enqueue(new TextEncoder().encode("event: ping\ndata: {}\n\n"));
              return;
            }
            await hang;
            controller.close();
          },
          cancel() {
            cancelled++;
          },
        }, { highWaterMark: 0 }),
      );
    }
    if (request.method === "POST" && url.pathname === "/upload") {
      const size = (await request.arrayBuffer()).byteLength;
      return text(200, `received ${size}\n`);
    }
    const bytes = url.pathname.match(/^\/bytes\/(\d+)$/);
    if (request.method === "GET" && bytes) {
      const total = Number(bytes[1]);
      if (total > MAX_BYTES) return text(400, "too many bytes\n");
      return new Response(byteStream(total), {
        headers: {
          "content-type": "application/octet-stream",
          "content-length": String(total),
        },
      });
    }
    if (request.method === "GET" && url.pathname === "/reset") {
      // One event now; torn down when the test calls resetStreams().
      let resetThis!: () => void;
      const torn = new Promise<void>((resolve) => resetThis = resolve);
      resets.push(resetThis);
      let sent = false;
      return sse(
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (!sent) {
              sent = true;
              controller.enqueue(new TextEncoder().encode("event: ping\ndata: {}\n\n"));
              return;
            }
            await torn;
            controller.error(new Error("upstream reset mid-stream"));
          },
        }, { highWaterMark: 0 }),
      );
    }
    return text(404, "not found\n");
  });

  return {
    ...fake,
    close: async () => {
      unhang();
      await fake.close();
    },
    hold() {
      let reached!: () => void;
      let release!: () => void;
      const reachedPromise = new Promise<void>((resolve) => reached = resolve);
      const released = new Promise<void>((resolve) => release = resolve);
      held = { reached, released, release };
      return reachedPromise;
    },
    release() {
      held?.release();
      held = undefined;
    },
    resetStreams() {
      for (const reset of resets.splice(0)) reset();
    },
    cancelledStreams: () => cancelled,
    completedStreams: () => completed,
  };
}

function sse(body: ReadableStream<Uint8Array>): Response {
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
    },
  });
}

function json(status: number, value: unknown): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Anthropic's Messages stream; the first text delta is events[3] (held after it). */
export function anthropicEvents(model: string): string[] {
  return [
    event("message_start", {
      type: "message_start",
      message: {
        id: "msg_fake_1",
        type: "message",
        role: "assistant",
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 5, output_tokens: 1 },
      },
    }),
    event("content_block_start", {
      type: "content_block_start",
      index: 0,
      content_block: { type: "text", text: "" },
    }),
    event("ping", { type: "ping" }),
    ...ANSWER_WORDS.map((word) =>
      event("content_block_delta", {
        type: "content_block_delta",
        index: 0,
        delta: { type: "text_delta", text: word },
      })
    ),
    event("content_block_stop", { type: "content_block_stop", index: 0 }),
    event("message_delta", {
      type: "message_delta",
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { output_tokens: ANSWER_WORDS.length },
    }),
    event("message_stop", { type: "message_stop" }),
  ];
}

/** OpenAI's chat completion chunks; the first content delta is events[1]. */
export function openaiEvents(model: string): string[] {
  const chunk = (delta: Record<string, string>, finish: string | null) =>
    `data: ${
      JSON.stringify({
        id: "chatcmpl-fake-1",
        object: "chat.completion.chunk",
        created: 1_700_000_000,
        model,
        choices: [{ index: 0, delta, finish_reason: finish }],
      })
    }\n\n`;
  return [
    chunk({ role: "assistant", content: "" }, null),
    ...ANSWER_WORDS.map((word) => chunk({ content: word }, null)),
    chunk({}, "stop"),
    "data: [DONE]\n\n",
  ];
}

function byteStream(total: number): ReadableStream<Uint8Array> {
  const block = new Uint8Array(CHUNK).fill(0x61);
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) {
        controller.close();
        return;
      }
      const size = Math.min(CHUNK, total - sent);
      controller.enqueue(size === CHUNK ? block.slice() : block.slice(0, size));
      sent += size;
    },
  });
}
