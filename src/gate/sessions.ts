/**
 * Prod sessions for `with-prod`: created once a human approves, refreshed without asking again
 * until they expire or are revoked. They live only in the gate's memory, keyed by a SHA-256 of the
 * id, so the table itself holds no bearer secret; shutdown revokes them all.
 * @module
 */
import type { Clock } from "../clock.ts";

/** What a session remembers. */
export interface Session {
  email: string;
  scopes: string[];
  /** Token lifetime asked for on each refresh. */
  tokenTtlSeconds: number;
  /** The command summary (for refresh audit lines). */
  commandSummary?: string;
  pamPolicy?: string;
  targetProject?: string;
  createdAt: number;
  expiresAt: number;
}

/** What a new session is made of. */
export type SessionInput = Omit<Session, "createdAt" | "expiresAt"> & {
  sessionTtlSeconds: number;
};

/** A session id: 32 random bytes as 64 lowercase hex characters. */
export const SESSION_ID = /^[0-9a-f]{64}$/;

async function keyOf(id: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(id));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The in-memory session table. */
export class SessionStore {
  readonly #clock: Clock;
  readonly #sessions = new Map<string, Session>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Creates a session and returns its id (the only copy of it the gate hands out). */
  async create(input: SessionInput): Promise<{ id: string; session: Session }> {
    this.#prune();
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    const id = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    const now = this.#clock.now();
    const { sessionTtlSeconds, ...rest } = input;
    const session: Session = { ...rest, createdAt: now, expiresAt: now + sessionTtlSeconds * 1000 };
    this.#sessions.set(await keyOf(id), session);
    return { id, session };
  }

  /** The live session with this id; an expired one is removed (the boundary counts as expired). */
  async validate(id: string): Promise<Session | undefined> {
    if (!SESSION_ID.test(id)) return undefined;
    const key = await keyOf(id);
    const session = this.#sessions.get(key);
    if (!session) return undefined;
    if (session.expiresAt <= this.#clock.now()) {
      this.#sessions.delete(key);
      return undefined;
    }
    return session;
  }

  /** Revokes a session; false when there was none (expired ones count as none). */
  async revoke(id: string): Promise<boolean> {
    const live = await this.validate(id);
    if (!live) return false;
    return this.#sessions.delete(await keyOf(id));
  }

  /** Revokes every session (gate shutdown). */
  revokeAll(): number {
    const n = this.#sessions.size;
    this.#sessions.clear();
    return n;
  }

  /** How many sessions are stored (expired ones included until pruned). */
  get size(): number {
    return this.#sessions.size;
  }

  #prune(): void {
    const now = this.#clock.now();
    for (const [key, s] of this.#sessions) if (s.expiresAt <= now) this.#sessions.delete(key);
  }
}
