/**
 * Kubernetes TokenReview as the gate's bearer verifier: a workspace pod sends its projected
 * service-account token, and the gate asks the cluster's API server whether the token is genuine,
 * for the gate's audience, and whose it is, then admits only the service accounts it allows. The
 * gate authenticates to the API server with its own service-account token (re-read on every call:
 * Kubernetes rotates it) and trusts only the cluster CA.
 *
 * Bounds: every call has a deadline and is cancelled with its requester; at most 16 are in flight
 * (more are refused at once); an answer is at most 64 KiB; a positive answer is cached for at most a minute and never past the token's own expiry,
 * in a bounded LRU keyed by the token's SHA-256 (the token itself is never kept). Negative answers
 * are not cached. The API server echoes the token in its answer, so no answer body and no token
 * ever reaches a log line, an error or the audit.
 * @module
 */
import type { Clock } from "../clock.ts";
import { systemClock } from "../clock.ts";
import { HttpError } from "../errors.ts";
import { cleanMessage, scrubSecrets } from "../secrets.ts";
import { realTimers, type Timers } from "../gate/confirm/timers.ts";
import { BEARER_CODES, type BearerVerifier, sha256Hex } from "../gate/bearer_auth.ts";

/** The TokenReview endpoint, relative to the API server's URL. */
export const TOKEN_REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews";
/** A service-account username: `system:serviceaccount:<namespace>:<name>` (DNS-1123 labels). */
export const SERVICE_ACCOUNT_USER =
  /^system:serviceaccount:[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?:[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/;

const MAX_ANSWER_BYTES = 64 * 1024;
const MAX_CACHE_MS = 60_000;

/** Options of {@link TokenReviewer}. */
export interface TokenReviewOptions {
  /** The API server, `https://host[:port]` (in cluster: from KUBERNETES_SERVICE_HOST/PORT). */
  apiUrl: string;
  /** PEM of the CA the API server's certificate must chain to. */
  caPem: string;
  /** File holding the gate's own service-account token (re-read on every call). */
  reviewerTokenFile: string;
  /** The audience tokens must have been issued for (the gate's, never the API server's). */
  audience: string;
  /** The `system:serviceaccount:<ns>:<name>` identities admitted. */
  allowed: readonly string[];
  /** Longest wait for one review (default 5 s). */
  deadlineMs?: number;
  /** Longest a positive answer is reused (default and maximum 60 s). */
  cacheMs?: number;
  /** Most cached answers (default 1024; least recently used go first). */
  cacheSize?: number;
  /**
   * Most reviews in flight at once (default 16); past it a request is refused at once (503), so
   * a flood of unknown tokens (never cached) cannot pile up calls to the API server.
   */
  maxInFlight?: number;
  clock?: Clock;
  timers?: Timers;
  /** The gate's log (never given a token or an answer body). */
  log?: (message: string) => void;
}

/** Checks an API server URL: https, a host, nothing but an optional path prefix. */
export function checkApiUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${JSON.stringify(raw)} is not a URL`);
  }
  if (url.protocol !== "https:") throw new Error("must be an https URL");
  if (url.username || url.password || url.search || url.hash) {
    throw new Error("must not carry credentials, a query or a fragment");
  }
  return url.href.replace(/\/+$/, "");
}

/** The unverified `exp` (seconds) of a JWT-shaped token, used only to bound caching. */
export function tokenExpiry(token: string): number | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  try {
    const b64 = parts[1].replaceAll("-", "+").replaceAll("_", "/");
    const payload = JSON.parse(atob(b64 + "=".repeat((4 - b64.length % 4) % 4)));
    return typeof payload?.exp === "number" && Number.isFinite(payload.exp)
      ? payload.exp
      : undefined;
  } catch {
    return undefined;
  }
}

const unavailable = (message: string, logDetail?: string) =>
  new HttpError(503, message, BEARER_CODES.unavailable, { logDetail });

/** Verifies bearer tokens with the Kubernetes TokenReview API; see the module doc. */
export class TokenReviewer implements BearerVerifier {
  readonly auth = "token_review" as const;
  readonly #options: Required<Omit<TokenReviewOptions, "log">> & Pick<TokenReviewOptions, "log">;
  readonly #client: Deno.HttpClient;
  readonly #allowed: Set<string>;
  readonly #cache = new Map<string, { name: string; until: number }>();
  #inFlight = 0;
  /** Reviews sent to the API server (for tests and health). */
  reviews = 0;

  constructor(options: TokenReviewOptions) {
    for (const id of options.allowed) {
      if (!SERVICE_ACCOUNT_USER.test(id)) {
        throw new Error(`${JSON.stringify(id)} is not system:serviceaccount:<namespace>:<name>`);
      }
    }
    if (!options.audience.trim()) throw new Error("a TokenReview audience is required");
    this.#options = {
      deadlineMs: 5_000,
      cacheSize: 1024,
      maxInFlight: 16,
      clock: systemClock,
      timers: realTimers,
      ...options,
      apiUrl: checkApiUrl(options.apiUrl),
      cacheMs: Math.min(options.cacheMs ?? MAX_CACHE_MS, MAX_CACHE_MS),
    };
    this.#allowed = new Set(options.allowed);
    this.#client = Deno.createHttpClient({ caCerts: [options.caPem] });
  }

  /** Answers cached now (for tests). */
  get cached(): number {
    return this.#cache.size;
  }

  close(): void {
    this.#client.close();
  }

  async verify(token: string, signal: AbortSignal): Promise<string> {
    const key = await sha256Hex(token);
    const now = this.#options.clock.now();
    const hit = this.#cache.get(key);
    if (hit) {
      this.#cache.delete(key);
      if (hit.until > now) {
        this.#cache.set(key, hit);
        return hit.name;
      }
    }
    if (this.#inFlight >= this.#options.maxInFlight) {
      throw new HttpError(
        503,
        "too many Kubernetes token reviews in flight; try again",
        BEARER_CODES.unavailable,
        { headers: { "retry-after": "1" } },
      );
    }
    this.#inFlight++;
    let name: string;
    try {
      name = await this.#review(token, signal);
    } finally {
      this.#inFlight--;
    }
    const exp = tokenExpiry(token);
    const until = Math.min(now + this.#options.cacheMs, exp !== undefined ? exp * 1000 : Infinity);
    if (until > now) {
      this.#cache.set(key, { name, until });
      while (this.#cache.size > this.#options.cacheSize) {
        this.#cache.delete(this.#cache.keys().next().value!);
      }
    }
    return name;
  }

  async #review(token: string, signal: AbortSignal): Promise<string> {
    const { apiUrl, deadlineMs, audience } = this.#options;
    let reviewer: string;
    try {
      reviewer = (await Deno.readTextFile(this.#options.reviewerTokenFile)).trim();
    } catch (err) {
      throw unavailable(
        "the gate cannot read its own Kubernetes service-account token; see the gate's log",
        `${this.#options.reviewerTokenFile}: ${(err as Error).message}`,
      );
    }
    if (!reviewer) {
      throw unavailable(
        "the gate's own Kubernetes service-account token is empty; see the gate's log",
        `${this.#options.reviewerTokenFile} is empty`,
      );
    }
    const deadline = new AbortController();
    const cancelTimer = this.#options.timers.setTimeout(() => deadline.abort(), deadlineMs);
    const both = AbortSignal.any([signal, deadline.signal]);
    this.reviews++;
    let status: number;
    let text: string;
    try {
      const res = await fetch(`${apiUrl}${TOKEN_REVIEW_PATH}`, {
        method: "POST",
        client: this.#client,
        signal: both,
        headers: {
          authorization: `Bearer ${reviewer}`,
          "content-type": "application/json",
          accept: "application/json",
        },
        body: JSON.stringify({
          apiVersion: "authentication.k8s.io/v1",
          kind: "TokenReview",
          spec: { token, audiences: [audience] },
        }),
      });
      status = res.status;
      text = await readCapped(res, MAX_ANSWER_BYTES);
    } catch (err) {
      if (signal.aborted) throw new HttpError(499, "the client went away", "client_gone");
      if (deadline.signal.aborted) {
        throw unavailable(
          `Kubernetes TokenReview did not answer within ${deadlineMs} ms; try again`,
          `TokenReview at ${apiUrl} timed out after ${deadlineMs} ms`,
        );
      }
      throw unavailable(
        "Kubernetes TokenReview is unreachable; see the gate's log",
        `TokenReview at ${apiUrl} failed: ${cleanMessage(scrubSecrets((err as Error).message))}`,
      );
    } finally {
      cancelTimer();
    }
    if (status === 401 || status === 403) {
      throw unavailable(
        "the Kubernetes API refused the gate's own credentials for TokenReview; see the gate's log",
        `TokenReview answered ${status}: the gate's service account (${this.#options.reviewerTokenFile}) ` +
          (status === 401
            ? "token is not accepted by the API server"
            : "may not create tokenreviews: bind it to the ClusterRole system:auth-delegator"),
      );
    }
    if (status !== 201 && status !== 200) {
      throw unavailable(
        `Kubernetes TokenReview failed (HTTP ${status}); try again`,
        `TokenReview at ${apiUrl} answered HTTP ${status}`,
      );
    }
    const review = parseReview(text);
    if (!review) {
      throw unavailable(
        "Kubernetes TokenReview answered something that is not a TokenReview",
        `TokenReview at ${apiUrl} answered ${text.length} bytes that are not a TokenReview`,
      );
    }
    if (!review.authenticated) {
      // The API server's error is about the token (expired, wrong audience); it names no secret,
      // but is scrubbed anyway and kept to the gate's log.
      this.#options.log?.(
        `TokenReview: token not authenticated${
          review.error ? ` (${cleanMessage(scrubSecrets(review.error), 300)})` : ""
        }`,
      );
      throw new HttpError(
        401,
        "the bearer token was not accepted by Kubernetes (expired, revoked or for another audience)",
        BEARER_CODES.refused,
        { headers: { "www-authenticate": 'Bearer error="invalid_token"' } },
      );
    }
    if (!review.audiences.includes(audience)) {
      throw new HttpError(
        401,
        `the bearer token is not for this gate's audience (${audience})`,
        BEARER_CODES.refused,
        { headers: { "www-authenticate": 'Bearer error="invalid_token"' } },
      );
    }
    if (!this.#allowed.has(review.username)) {
      throw new HttpError(
        403,
        `${review.username} is not allowed to use this gate (gate_allowed_service_accounts)`,
        BEARER_CODES.forbidden,
      );
    }
    return review.username;
  }
}

interface Review {
  authenticated: boolean;
  username: string;
  audiences: string[];
  error?: string;
}

/** The parts of a TokenReview answer the gate uses, or undefined when it is not one. */
function parseReview(text: string): Review | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof body !== "object" || body === null) return undefined;
  const { kind, status } = body as { kind?: unknown; status?: unknown };
  if (kind !== "TokenReview" || typeof status !== "object" || status === null) return undefined;
  const s = status as {
    authenticated?: unknown;
    user?: { username?: unknown };
    audiences?: unknown;
    error?: unknown;
  };
  const authenticated = s.authenticated === true;
  const username = typeof s.user?.username === "string" ? s.user.username : "";
  if (authenticated && !username) return undefined;
  const audiences = Array.isArray(s.audiences)
    ? s.audiences.filter((a): a is string => typeof a === "string")
    : [];
  return {
    authenticated,
    username,
    audiences,
    error: typeof s.error === "string" ? s.error : undefined,
  };
}

/** Reads at most `max` bytes of a body (then cancels it and throws). */
async function readCapped(res: Response, max: number): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > max) {
      await reader.cancel().catch(() => {});
      throw new Error(`the answer is larger than ${max} bytes`);
    }
    parts.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return new TextDecoder().decode(out);
}
