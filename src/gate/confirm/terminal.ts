/**
 * The terminal prompt, used when the gate runs in a terminal: the whole command is printed, and
 * only `yes` typed in full approves (one re-prompt for anything else that is not a no), within one
 * 60 s budget.
 * @module
 */
import { commandLines, type ConfirmRequest, heading, headline, requestDetails } from "./text.ts";
import type { Timers } from "./timers.ts";

/** The budget for the whole exchange. */
export const TERMINAL_TIMEOUT_MS = 60_000;

/** The gate's terminal, behind a seam. */
export interface TerminalIO {
  write(text: string): void;
  /** The next line typed, or null at end of input or when `signal` aborts. */
  readLine(signal: AbortSignal): Promise<string | null>;
  /** Forgets lines typed before the question was asked, so type-ahead cannot answer it. */
  discardTypeAhead(): void;
}

const PREFIX = "authcalator gate: ";

/** Asks on the terminal; resolves with the decision and why. */
export async function terminalPrompt(
  req: ConfirmRequest,
  io: TerminalIO,
  timers: Timers,
  budgetMs = TERMINAL_TIMEOUT_MS,
): Promise<{ outcome: "approved" | "denied" | "timed_out" | "cancelled"; why: string }> {
  const controller = new AbortController();
  let timedOut = false;
  const cancel = timers.setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, budgetMs);
  const onAbort = () => controller.abort();
  req.signal?.addEventListener("abort", onAbort, { once: true });
  if (req.signal?.aborted) controller.abort();
  try {
    io.discardTypeAhead();
    io.write(
      `\n${PREFIX}${[...requestDetails(req), heading(req), ...commandLines(req)].join("\n")}\n`,
    );
    io.write(`${PREFIX}${headline(req)} Type 'yes' to approve: `);
    let answer = await io.readLine(controller.signal);
    const noAnswer = () => {
      io.write("\n");
      if (timedOut) {
        io.write(`${PREFIX}timed out waiting for a response, denying prod access\n`);
        return { outcome: "timed_out" as const, why: "terminal prompt timed out" };
      }
      if (req.signal?.aborted) {
        io.write(`${PREFIX}the requester went away; nothing to decide\n`);
        return { outcome: "cancelled" as const, why: "client went away" };
      }
      return { outcome: "denied" as const, why: "terminal input closed" };
    };
    if (answer === null) return noAnswer();
    let word = answer.trim().toLowerCase();
    if (word !== "yes" && word !== "" && word !== "n" && word !== "no") {
      io.write(`${PREFIX}please type 'yes' in full to approve, or 'n' to deny: `);
      answer = await io.readLine(controller.signal);
      if (answer === null) return noAnswer();
      word = answer.trim().toLowerCase();
    }
    if (word === "yes") return { outcome: "approved", why: "approved on the terminal" };
    io.write(`${PREFIX}prod access denied\n`);
    return { outcome: "denied", why: "denied on the terminal" };
  } finally {
    cancel();
    req.signal?.removeEventListener("abort", onAbort);
  }
}

/** Lines from a byte stream (the gate's stdin), read in the background once first asked for. */
export class StreamLineReader {
  readonly #open: () => ReadableStream<Uint8Array>;
  #lines: string[] = [];
  #partial = "";
  #ended = false;
  #started = false;
  readonly #waiters = new Set<() => void>();

  constructor(open: () => ReadableStream<Uint8Array>) {
    this.#open = open;
  }

  /** The next line, or null at end of input or when `signal` aborts. */
  async readLine(signal: AbortSignal): Promise<string | null> {
    this.#start();
    while (true) {
      if (signal.aborted) return null;
      const line = this.#lines.shift();
      if (line !== undefined) return line;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#waiters.delete(wake);
          signal.removeEventListener("abort", wake);
          resolve();
        };
        this.#waiters.add(wake);
        signal.addEventListener("abort", wake, { once: true });
      });
    }
  }

  /** Drops lines read but not yet asked for. */
  discard(): void {
    this.#lines = [];
  }

  /** Starts reading now, so lines typed before the first question count as type-ahead. */
  start(): void {
    this.#start();
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of this.#open()) {
          this.#partial += decoder.decode(chunk, { stream: true });
          const parts = this.#partial.split(/\r?\n/);
          this.#partial = parts.pop()!;
          this.#lines.push(...parts);
          for (const wake of [...this.#waiters]) wake();
        }
      } catch { /* closed */ }
      this.#ended = true;
      for (const wake of [...this.#waiters]) wake();
    })();
  }
}

/** The gate's own terminal: prompts on stdout, answers from stdin. */
export function processTerminal(): TerminalIO {
  const reader = new StreamLineReader(() => Deno.stdin.readable);
  reader.start();
  const encoder = new TextEncoder();
  return {
    write: (text) => {
      Deno.stdout.writeSync(encoder.encode(text));
    },
    readLine: (signal) => reader.readLine(signal),
    discardTypeAhead: () => reader.discard(),
  };
}
