/**
 * The official Anthropic and OpenAI SDKs from npm, as an agent would use them, pointed at a base
 * URL (a route's URL, or a fake directly) with the CA the test trusts. Each returns the text deltas
 * in arrival order, calling `onDelta` as each arrives (a test can see the first before the
 * upstream sends the rest).
 * @module
 */
import Anthropic from "npm:@anthropic-ai/sdk@^1.14.0";
import OpenAI from "npm:openai@^7.59.0";

export interface SdkCall {
  baseURL: string;
  /** The key the SDK insists on: the real one (direct) or a placeholder (through a route). */
  apiKey: string;
  /** PEM of a CA to trust for an https baseURL. */
  caPem?: string;
  onDelta?: (text: string) => void;
  signal?: AbortSignal;
}

function fetchFor(caPem: string | undefined): typeof fetch {
  if (!caPem) return fetch;
  const client = Deno.createHttpClient({ caCerts: [caPem] });
  return ((input: RequestInfo | URL, init?: RequestInit) =>
    fetch(input, { ...init, client } as RequestInit)) as typeof fetch;
}

/** Streams a Messages answer with the Anthropic SDK. */
export async function anthropicStream(call: SdkCall): Promise<string[]> {
  const client = new Anthropic({
    baseURL: call.baseURL,
    apiKey: call.apiKey,
    fetch: fetchFor(call.caPem),
    maxRetries: 0,
    timeout: 20_000,
  });
  const stream = await client.messages.create({
    model: "claude-fake",
    max_tokens: 64,
    stream: true,
    messages: [{ role: "user", content: "hi" }],
  }, { signal: call.signal });
  const deltas: string[] = [];
  for await (const event of stream) {
    if (event.type === "content_block_delta" && event.delta.type === "text_delta") {
      deltas.push(event.delta.text);
      call.onDelta?.(event.delta.text);
    }
  }
  return deltas;
}

/** Streams a chat completion with the OpenAI SDK. */
export async function openaiStream(call: SdkCall): Promise<string[]> {
  const client = new OpenAI({
    baseURL: call.baseURL,
    apiKey: call.apiKey,
    fetch: fetchFor(call.caPem),
    maxRetries: 0,
    timeout: 20_000,
  });
  const stream = await client.chat.completions.create({
    model: "gpt-fake",
    stream: true,
    messages: [{ role: "user", content: "hi" }],
  }, { signal: call.signal });
  const deltas: string[] = [];
  for await (const chunk of stream) {
    const text = chunk.choices[0]?.delta?.content;
    if (text) {
      deltas.push(text);
      call.onDelta?.(text);
    }
  }
  return deltas;
}
