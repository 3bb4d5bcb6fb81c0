import type { AuthClient } from "google-auth-library";
import type { Clock } from "../clock.ts";
import { type Adc, adcPath, readAdc } from "../google/adc.ts";
import { impersonated, sourceClient } from "../google/auth_clients.ts";
import type { GoogleEndpoints } from "../google/endpoints.ts";
import { GoogleAnswerError } from "../google/google_answers.ts";
import { GoogleTransport } from "../google/transport.ts";
import { DeadlineError } from "../http/deadline_fetch.ts";
import { projectNumber, tokenInfoEmail } from "../google/rest_calls.ts";
import { type ExpiringToken, TokenCache } from "../token_cache.ts";
import { CLOUD_PLATFORM_SCOPE } from "../cli/config.ts";
import type { GateTokenService } from "./types.ts";
import {
  containerRedactor,
  googleFailure,
  needsReauth,
  shouldRebuild,
} from "./credentials_error.ts";

/** Options of {@link GoogleTokenService}. */
export interface GoogleTokenServiceOptions {
  projectId: string;
  serviceAccount: string;
  endpoints: GoogleEndpoints;
  env: Record<string, string | undefined>;
  clock: Clock;
  /** The gate host's name, shown in `credentials_expired` messages. */
  hostname: string;
  /** Deadline of each Google exchange, body included (30 s). */
  timeoutMs?: number;
}

/**
 * Bounds of the dev-token cache, keyed by (scope set, TTL) which clients choose freely: 256
 * tokens (~2 KB each, well under 1 MB) is far above real use (a handful of scope sets), and at
 * most 64 distinct keys are minted at once (more get a 503 rather than queue without bound).
 */
export const DEV_TOKEN_CACHE_BOUNDS = { maxEntries: 256, maxFetches: 64 } as const;

interface Source {
  adc: Adc;
  client: AuthClient;
  /** The transport every client of this source uses; aborting it cancels their exchanges. */
  transport: GoogleTransport;
  /** Identity of the ADC file this source was built from, to notice a replaced file. */
  fileStamp: string;
  generation: number;
  /** Set when a call on it timed out or failed below HTTP: the next caller rebuilds. */
  discarded: boolean;
}

/**
 * The gate's Google side: dev tokens by impersonation (cached, coalesced), prod tokens from the
 * ADC itself, ID tokens, identity, project number and universe domain. When ADC needs a new login
 * it answers `credentials_expired` and drops every cache, so the next request after the engineer
 * logs in again succeeds without a restart.
 *
 * No call can wedge it: each runs under a deadline that, when it passes, aborts the call's HTTP
 * exchanges (transport.ts) and throws the source client away, as does a connection failure or a
 * malformed answer; the next request builds a new one. Without this, one hung refresh inside
 * google-auth-library stayed in its single-flight map and every later call joined it.
 */
export class GoogleTokenService implements GateTokenService {
  readonly #options: Required<GoogleTokenServiceOptions>;
  readonly #devCache: TokenCache;
  readonly #redact: (text: string) => string;
  #source?: Promise<Source>;
  #generation = 0;
  #email?: Promise<string>;
  #projectNumber?: Promise<string>;

  constructor(options: GoogleTokenServiceOptions) {
    this.#options = { ...options, timeoutMs: options.timeoutMs ?? 30_000 };
    this.#devCache = new TokenCache(options.clock, DEV_TOKEN_CACHE_BOUNDS);
    this.#redact = containerRedactor([
      adcPath(options.env),
      ...Object.values(options.endpoints),
    ]);
  }

  get #path(): string {
    return adcPath(this.#options.env);
  }

  async #stamp(): Promise<string> {
    try {
      const info = await Deno.stat(this.#path);
      return `${info.ino}:${info.size}:${info.mtime?.getTime()}`;
    } catch {
      return "missing";
    }
  }

  /** The current source client, rebuilt when the ADC file was replaced, after a reset or a fault. */
  async #currentSource(): Promise<Source> {
    const stamp = await this.#stamp();
    const existing = this.#source;
    const current = existing && await existing.catch(() => undefined);
    if (
      current && !current.discarded && current.fileStamp === stamp &&
      current.generation === this.#generation
    ) {
      return current;
    }
    // Only the first caller to notice rebuilds; the others await what it started.
    if (this.#source === existing) {
      if (current && current.fileStamp !== stamp) this.#resetCaches();
      const generation = this.#generation;
      this.#source = readAdc(this.#path).then((adc) => {
        const transport = new GoogleTransport({
          timeoutMs: this.#options.timeoutMs,
          now: () => this.#options.clock.now(),
        });
        return {
          adc,
          client: sourceClient(adc, this.#clientOptions(transport)),
          transport,
          fileStamp: stamp,
          generation,
          discarded: false,
        };
      });
      this.#source.catch(() => {});
    }
    return await this.#source!;
  }

  #clientOptions(transport: GoogleTransport) {
    return {
      endpoints: this.#options.endpoints,
      timeoutMs: this.#options.timeoutMs,
      now: () => this.#options.clock.now(),
      transport,
    };
  }

  /**
   * Throws `source` away so the next call rebuilds it. With a `reason` (a deadline passed) its
   * exchanges in flight are cancelled too; without one they finish under their own deadlines,
   * so a blip on one call does not fail the others.
   */
  #discard(source: Source | undefined, reason?: Error): void {
    if (!source) return;
    source.discarded = true;
    if (reason) source.transport.abort(reason);
  }

  #resetCaches(): void {
    this.#generation++;
    this.#devCache.clear();
    this.#email = undefined;
  }

  /**
   * Runs a Google call on the current source under the deadline, which cancels the call's work
   * when it passes; maps failures, and on `credentials_expired` forgets every credential.
   * A 401 means Google no longer accepts the cached ADC access token (revoked, or a new login
   * elsewhere): the source is rebuilt and the call tried once more, which either heals or ends in
   * the refresh failure that names the real cause.
   */
  async #google<T>(
    what: string,
    call: (source: Source) => Promise<T>,
    retried = false,
  ): Promise<T> {
    const generation = this.#generation;
    const { timeoutMs } = this.#options;
    let source: Source | undefined;
    const deadline = new AbortController();
    const timer = setTimeout(() => {
      const reason = new DeadlineError(what, timeoutMs);
      deadline.abort(reason);
      this.#discard(source, reason);
    }, timeoutMs);
    try {
      const work = (async () => {
        source = await this.#currentSource();
        deadline.signal.throwIfAborted();
        return await call(source);
      })();
      return await untilAborted(work, deadline.signal);
    } catch (err) {
      if (shouldRebuild(err)) this.#discard(source);
      if (!retried && isUnauthenticated(err)) {
        if (generation === this.#generation) this.#discard(source);
        return await this.#google(what, call, true);
      }
      if (needsReauth(err) && generation === this.#generation) {
        this.#resetCaches();
        this.#discard(source);
      }
      throw googleFailure(err, this.#options.hostname, what, this.#redact);
    } finally {
      clearTimeout(timer);
    }
  }

  devToken(scopes: string[], ttlSeconds: number): Promise<ExpiringToken> {
    const key = `${[...scopes].sort().join(",")}:${ttlSeconds}`;
    return this.#devCache.get(key, () =>
      this.#google("minting a dev token", async (source) => {
        const target = impersonated(
          source.client,
          this.#options.serviceAccount,
          scopes,
          ttlSeconds,
          this.#clientOptions(source.transport),
        );
        // The transport checked the answer: a non-empty token and an expireTime in the future.
        const { token } = await target.getAccessToken();
        const expiry = target.credentials.expiry_date;
        if (!token || !expiry) throw new Error("iamcredentials returned no access token");
        return { accessToken: token, expiresAt: expiry };
      }));
  }

  prodToken(scopes: string[], ttlSeconds: number): Promise<ExpiringToken> {
    return this.#google("minting a prod token", async (source) => {
      const isDefault = scopes.length === 1 && scopes[0] === CLOUD_PLATFORM_SCOPE;
      const client = isDefault
        ? source.client
        : sourceClient(source.adc, this.#clientOptions(source.transport), scopes);
      const { token } = await client.getAccessToken();
      if (!token) throw new Error("the credential returned no access token");
      const now = this.#options.clock.now();
      const expiry = (client as { credentials?: { expiry_date?: number | null } }).credentials
        ?.expiry_date;
      if (typeof expiry !== "number" || !(expiry > now)) {
        // The library serves a cached token until it expires; one without a future expiry
        // would be served forever, so it is thrown away with its client.
        throw new GoogleAnswerError("OAuth2 token", "left a token without a future expiry");
      }
      return { accessToken: token, expiresAt: Math.min(expiry, now + ttlSeconds * 1000) };
    });
  }

  idToken(audience: string, includeEmail: boolean): Promise<string> {
    return this.#google("minting an identity token", async (source) => {
      const target = impersonated(
        source.client,
        this.#options.serviceAccount,
        [CLOUD_PLATFORM_SCOPE],
        3600,
        this.#clientOptions(source.transport),
      );
      return await target.fetchIdToken(audience, { includeEmail });
    });
  }

  identityEmail(): Promise<string> {
    this.#email ??= this.#google("looking up the ADC identity", async (source) => {
      const { token } = await source.client.getAccessToken();
      return await tokenInfoEmail(this.#options.endpoints.oauth2, token ?? "", {
        timeoutMs: this.#options.timeoutMs,
        fetchFn: source.transport.fetch,
      });
    });
    this.#email.catch(() => (this.#email = undefined));
    return this.#email;
  }

  projectNumber(): Promise<string> {
    this.#projectNumber ??= this.#google("looking up the project number", async (source) => {
      const { token } = await source.client.getAccessToken();
      return await projectNumber(
        this.#options.endpoints.cloudresourcemanager,
        this.#options.projectId,
        token ?? "",
        { timeoutMs: this.#options.timeoutMs, fetchFn: source.transport.fetch },
      );
    });
    this.#projectNumber.catch(() => (this.#projectNumber = undefined));
    return this.#projectNumber;
  }

  async universeDomain(): Promise<string> {
    try {
      const { adc } = await this.#currentSource();
      return adc.universe_domain ?? "googleapis.com";
    } catch (err) {
      throw googleFailure(err, this.#options.hostname, "reading the universe domain", this.#redact);
    }
  }
}

/** Settles with `work`, or rejects with the signal's reason as soon as it aborts. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => {}); // settles after an abort too; nobody awaits it then
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** Whether Google refused the credential itself (HTTP 401 / UNAUTHENTICATED). */
function isUnauthenticated(err: unknown): boolean {
  const status = (err as { status?: number; response?: { status?: number } })?.response?.status ??
    (err as { status?: number })?.status;
  return status === 401 || /\bUNAUTHENTICATED\b/.test(String((err as Error)?.message));
}
