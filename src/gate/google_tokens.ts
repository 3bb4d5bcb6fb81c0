import type { AuthClient } from "google-auth-library";
import type { Clock } from "../clock.ts";
import { type Adc, adcPath, readAdc } from "../google/adc.ts";
import { impersonated, sourceClient } from "../google/auth_clients.ts";
import type { GoogleEndpoints } from "../google/endpoints.ts";
import { withDeadline } from "../http/deadline_fetch.ts";
import { projectNumber, tokenInfoEmail } from "../google/rest_calls.ts";
import { type ExpiringToken, TokenCache } from "../token_cache.ts";
import { CLOUD_PLATFORM_SCOPE } from "../cli/config.ts";
import type { GateTokenService } from "./types.ts";
import { googleFailure, needsReauth } from "./credentials_error.ts";

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

interface Source {
  adc: Adc;
  client: AuthClient;
  /** Identity of the ADC file this source was built from, to notice a replaced file. */
  fileStamp: string;
  generation: number;
}

/**
 * The gate's Google side: dev tokens by impersonation (cached, coalesced), prod tokens from the
 * ADC itself, ID tokens, identity, project number and universe domain. When ADC needs a new login
 * it answers `credentials_expired` and drops every cache, so the next request after the engineer
 * logs in again succeeds without a restart.
 */
export class GoogleTokenService implements GateTokenService {
  readonly #options: Required<GoogleTokenServiceOptions>;
  readonly #devCache: TokenCache;
  #source?: Promise<Source>;
  #generation = 0;
  #email?: Promise<string>;
  #projectNumber?: Promise<string>;

  constructor(options: GoogleTokenServiceOptions) {
    this.#options = { ...options, timeoutMs: options.timeoutMs ?? 30_000 };
    this.#devCache = new TokenCache(options.clock);
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

  /** The current source client, rebuilt when the ADC file was replaced or after a reset. */
  async #currentSource(): Promise<Source> {
    const stamp = await this.#stamp();
    const existing = this.#source;
    const current = existing && await existing.catch(() => undefined);
    if (current && current.fileStamp === stamp && current.generation === this.#generation) {
      return current;
    }
    // Only the first caller to notice rebuilds; the others await what it started.
    if (this.#source === existing) {
      if (current && current.fileStamp !== stamp) this.#resetCaches();
      const generation = this.#generation;
      this.#source = withDeadline(readAdc(this.#path), this.#options.timeoutMs, "loading ADC")
        .then((adc) => ({
          adc,
          client: sourceClient(adc, this.#clientOptions()),
          fileStamp: stamp,
          generation,
        }));
      this.#source.catch(() => {});
    }
    return await this.#source!;
  }

  #clientOptions() {
    return {
      endpoints: this.#options.endpoints,
      timeoutMs: this.#options.timeoutMs,
      now: () => this.#options.clock.now(),
    };
  }

  #resetCaches(): void {
    this.#generation++;
    this.#devCache.clear();
    this.#email = undefined;
  }

  /**
   * Runs a Google call; maps failures, and on `credentials_expired` forgets every credential.
   * A 401 means Google no longer accepts the cached ADC access token (revoked, or a new login
   * elsewhere): the source is rebuilt and the call tried once more, which either heals or ends in
   * the refresh failure that names the real cause.
   */
  async #google<T>(what: string, call: () => Promise<T>, retried = false): Promise<T> {
    const generation = this.#generation;
    try {
      return await withDeadline(call(), this.#options.timeoutMs, what);
    } catch (err) {
      if (!retried && isUnauthenticated(err)) {
        if (generation === this.#generation) this.#source = undefined;
        return await this.#google(what, call, true);
      }
      if (needsReauth(err) && generation === this.#generation) {
        this.#resetCaches();
        this.#source = undefined;
      }
      throw googleFailure(err, this.#options.hostname, what);
    }
  }

  devToken(scopes: string[], ttlSeconds: number): Promise<ExpiringToken> {
    const key = `${[...scopes].sort().join(",")}:${ttlSeconds}`;
    return this.#devCache.get(key, () =>
      this.#google("minting a dev token", async () => {
        const { client } = await this.#currentSource();
        const target = impersonated(
          client,
          this.#options.serviceAccount,
          scopes,
          ttlSeconds,
          this.#clientOptions(),
        );
        const { token } = await target.getAccessToken();
        if (!token) throw new Error("iamcredentials returned no access token");
        const expiry = target.credentials.expiry_date;
        return {
          accessToken: token,
          expiresAt: expiry ?? this.#options.clock.now() + ttlSeconds * 1000,
        };
      }));
  }

  prodToken(scopes: string[], ttlSeconds: number): Promise<ExpiringToken> {
    return this.#google("minting a prod token", async () => {
      const source = await this.#currentSource();
      const isDefault = scopes.length === 1 && scopes[0] === CLOUD_PLATFORM_SCOPE;
      const client = isDefault
        ? source.client
        : sourceClient(source.adc, this.#clientOptions(), scopes);
      const { token } = await client.getAccessToken();
      if (!token) throw new Error("the credential returned no access token");
      const now = this.#options.clock.now();
      const expiry = (client as { credentials?: { expiry_date?: number | null } }).credentials
        ?.expiry_date ?? now + ttlSeconds * 1000;
      return { accessToken: token, expiresAt: Math.min(expiry, now + ttlSeconds * 1000) };
    });
  }

  idToken(audience: string, includeEmail: boolean): Promise<string> {
    return this.#google("minting an identity token", async () => {
      const { client } = await this.#currentSource();
      const target = impersonated(
        client,
        this.#options.serviceAccount,
        [CLOUD_PLATFORM_SCOPE],
        3600,
        this.#clientOptions(),
      );
      return await target.fetchIdToken(audience, { includeEmail });
    });
  }

  identityEmail(): Promise<string> {
    this.#email ??= this.#google("looking up the ADC identity", async () => {
      const { client } = await this.#currentSource();
      const { token } = await client.getAccessToken();
      return await tokenInfoEmail(
        this.#options.endpoints.oauth2,
        token ?? "",
        this.#options.timeoutMs,
      );
    });
    this.#email.catch(() => (this.#email = undefined));
    return this.#email;
  }

  projectNumber(): Promise<string> {
    this.#projectNumber ??= this.#google("looking up the project number", async () => {
      const { client } = await this.#currentSource();
      const { token } = await client.getAccessToken();
      return await projectNumber(
        this.#options.endpoints.cloudresourcemanager,
        this.#options.projectId,
        token ?? "",
        this.#options.timeoutMs,
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
      throw googleFailure(err, this.#options.hostname, "reading the universe domain");
    }
  }
}

/** Whether Google refused the credential itself (HTTP 401 / UNAUTHENTICATED). */
function isUnauthenticated(err: unknown): boolean {
  const status = (err as { status?: number; response?: { status?: number } })?.response?.status ??
    (err as { status?: number })?.status;
  return status === 401 || /\bUNAUTHENTICATED\b/.test(String((err as Error)?.message));
}
