/**
 * The pending queue: the last link of the confirmation chain when the gate has no dialog and no
 * terminal. A request waits up to 120 s for `authcalator approve` / `deny` on the admin socket and
 * is denied when that time passes, when its client goes away, or when the gate shuts down. A request
 * whose client went away leaves the queue at once; the queue remembers (boundedly) how recent
 * requests ended, so approving one that is gone says so instead of "not found".
 * @module
 */
import type { Clock } from "../clock.ts";
import { HttpError } from "../errors.ts";
import { type CommandDisplay, sanitizeText } from "./command_display.ts";
import type { Timers } from "./confirm/timers.ts";
import { requesterSummary, type RequesterView } from "./requester.ts";
import { newPendingId, PENDING_ID } from "../gate_api/wire.ts";
import type { PushDisplay } from "../routes/git_push.ts";

/** How long a queued request waits for a human. */
export const PENDING_TTL_MS = 120_000;

/** How many ended requests the queue remembers the outcome of (oldest forgotten first). */
export const REMEMBERED_OUTCOMES = 256;

// The pending id is a wire concept (client and gate share it): its home is gate_api/wire.ts.
export { newPendingId, PENDING_ID };

/** What a queued request ended with. */
export type PendingOutcome = "approved" | "denied" | "expired" | "cancelled" | "shutdown";

/** What the queue shows about a request (the admin API's `PendingRequest`). */
export interface PendingRequestJson {
  id: string;
  email: string;
  command?: CommandDisplay;
  pamPolicy?: string;
  /** The code with-prod prints in the engineer's terminal (from the pending id). */
  pairingCode?: string;
  /** Who asked, as the kernel reports it, and whether it matches the reported command. */
  requester?: RequesterView;
  /** A git push through a route: the repository and each ref being updated. */
  push?: PushDisplay;
  createdAt: string;
  expiresAt: string;
}

/** What is queued. */
export interface PendingInput {
  email: string;
  command?: CommandDisplay;
  pamPolicy?: string;
  /** The client's `X-Pending-Id` (or the gate's own id), so it can tell the user which to approve. */
  id?: string;
  pairingCode?: string;
  requester?: RequesterView;
  /** A git push through a route (shown instead of a command). */
  push?: PushDisplay;
  /** Aborts when the client goes away: the request leaves the queue as `cancelled`. */
  signal?: AbortSignal;
}

interface Entry {
  json: PendingRequestJson;
  expiresAt: number;
  settle(outcome: PendingOutcome): void;
}

/** Options of {@link PendingQueue}. */
export interface PendingQueueOptions {
  clock: Clock;
  timers: Timers;
  /** Where the "pending approval" notice goes (the gate's stderr). */
  log: (line: string) => void;
  ttlMs?: number;
}

/** The queue of requests waiting for `authcalator approve`. */
export class PendingQueue {
  readonly #entries = new Map<string, Entry>();
  readonly #ended = new Map<string, PendingOutcome>();
  readonly #clock: Clock;
  readonly #timers: Timers;
  readonly #log: (line: string) => void;
  readonly #ttlMs: number;

  constructor(options: PendingQueueOptions) {
    this.#clock = options.clock;
    this.#timers = options.timers;
    this.#log = options.log;
    this.#ttlMs = options.ttlMs ?? PENDING_TTL_MS;
  }

  /**
   * Queues a request and returns its id and the human's decision. A malformed client id is a 400,
   * an id already queued a 409 (both before anything is queued).
   */
  enqueue(input: PendingInput): { id: string; outcome: Promise<PendingOutcome> } {
    const id = input.id ?? newPendingId();
    if (!PENDING_ID.test(id)) {
      throw new HttpError(400, "X-Pending-Id must be exactly 32 lowercase hex characters");
    }
    this.#prune();
    if (this.#entries.has(id)) throw new HttpError(409, "X-Pending-Id is already queued");
    this.#ended.delete(id);
    const now = this.#clock.now();
    const expiresAt = now + this.#ttlMs;
    const email = sanitizeText(input.email);
    const pamPolicy = input.pamPolicy === undefined ? undefined : sanitizeText(input.pamPolicy);
    const json: PendingRequestJson = {
      id,
      email,
      ...(input.command ? { command: input.command } : {}),
      ...(pamPolicy ? { pamPolicy } : {}),
      ...(input.pairingCode ? { pairingCode: input.pairingCode } : {}),
      ...(input.requester ? { requester: input.requester } : {}),
      ...(input.push ? { push: input.push } : {}),
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(expiresAt).toISOString(),
    };
    let resolve!: (outcome: PendingOutcome) => void;
    const outcome = new Promise<PendingOutcome>((r) => resolve = r);
    const onAbort = () => entry.settle("cancelled");
    const cancelTimer = this.#timers.setTimeout(() => entry.settle("expired"), this.#ttlMs);
    const entry: Entry = {
      json,
      expiresAt,
      settle: (result) => {
        if (this.#entries.get(id) !== entry) return;
        this.#entries.delete(id);
        this.#remember(id, result);
        cancelTimer();
        input.signal?.removeEventListener("abort", onAbort);
        if (result !== "approved" && result !== "denied") {
          this.#log(
            `gate: pending request ${id} ${result}; ${
              input.push ? "git push" : "prod access"
            } denied`,
          );
        }
        resolve(result);
      },
    };
    this.#entries.set(id, entry);
    if (input.signal?.aborted) {
      entry.settle("cancelled");
      return { id, outcome };
    }
    input.signal?.addEventListener("abort", onAbort, { once: true });
    const summary = input.push
      ? ` (git push to ${input.push.repository} via route '${input.push.route}', ${input.push.totalRefs} ref(s))`
      : input.command
      ? ` (${input.command.summary})`
      : "";
    const pam = pamPolicy ? ` [PAM: ${pamPolicy}]` : "";
    const code = input.pairingCode ? ` [code ${input.pairingCode}]` : "";
    const who = input.requester
      ? ` — from ${requesterSummary(input.requester)}${
        input.requester.check.status === "mismatch" ? " — COMMAND MISMATCH" : ""
      }`
      : "";
    this.#log(
      `gate: pending approval ${id}${code} — ${email}${summary}${pam}${who} — expires in ${
        Math.round(this.#ttlMs / 1000)
      }s`,
    );
    this.#log(
      `gate: run 'authcalator pending ${id}' to see the full command, ` +
        `'authcalator approve ${id}' to approve, or 'authcalator deny ${id}' to deny`,
    );
    return { id, outcome };
  }

  /** Approves a queued request; false when it is unknown or expired. */
  approve(id: string): boolean {
    return this.#decide(id, "approved");
  }

  /** Denies a queued request; false when it is unknown or expired. */
  deny(id: string): boolean {
    return this.#decide(id, "denied");
  }

  /** One queued request, if it is still waiting. */
  get(id: string): PendingRequestJson | undefined {
    this.#prune();
    return this.#entries.get(id)?.json;
  }

  /** How a request that is no longer waiting ended, while the queue remembers it. */
  outcomeOf(id: string): PendingOutcome | undefined {
    this.#prune();
    return this.#ended.get(id);
  }

  /** Every request still waiting, oldest first. */
  list(): PendingRequestJson[] {
    this.#prune();
    return [...this.#entries.values()].map((e) => e.json);
  }

  /** Denies everything (gate shutdown). */
  denyAll(): void {
    for (const entry of [...this.#entries.values()]) entry.settle("shutdown");
  }

  /** How many requests wait. */
  get size(): number {
    return this.#entries.size;
  }

  #decide(id: string, outcome: "approved" | "denied"): boolean {
    this.#prune();
    const entry = this.#entries.get(id);
    if (!entry) return false;
    entry.settle(outcome);
    return true;
  }

  #remember(id: string, outcome: PendingOutcome): void {
    this.#ended.set(id, outcome);
    while (this.#ended.size > REMEMBERED_OUTCOMES) {
      this.#ended.delete(this.#ended.keys().next().value!);
    }
  }

  // Expiry is also checked against the clock, so a late timer can never let an expired request
  // be approved.
  #prune(): void {
    const now = this.#clock.now();
    for (const entry of [...this.#entries.values()]) {
      if (entry.expiresAt <= now) entry.settle("expired");
    }
  }
}
