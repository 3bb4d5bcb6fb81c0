/**
 * What the metadata app needs from whoever mints credentials: the gate for the dev proxy, a
 * session-backed provider for with-prod's temporary proxy.
 * @module
 */
import type { ExpiringToken } from "../token_cache.ts";

/** `format` of an identity token: `full` adds the `email` claims. */
export type IdTokenFormat = "standard" | "full";

/** The credential source behind a metadata app; failures are thrown as `HttpError`. */
export interface MetadataBackend {
  /** An access token for `scopes` (never empty: the app passes its configured default). */
  token(scopes: string[]): Promise<ExpiringToken>;
  /** A cached token for `scopes` that needs no refresh yet, answered without awaiting anything. */
  cachedToken?(scopes: string[]): ExpiringToken | undefined;
  /** A signed OIDC identity token (compact JWT) for `audience`. */
  idToken(audience: string, format: IdTokenFormat): Promise<string>;
  /** The numeric project id (digits). */
  projectNumber(): Promise<string>;
  /** The universe domain, `googleapis.com` outside sovereign clouds. */
  universeDomain(): Promise<string>;
  /** The engineer's email, served at `/identity`. */
  identityEmail(): Promise<string>;
  /** Throws unless the backing authority is still valid; `/session-health` exists only with it. */
  sessionHealth?(): Promise<void>;
}
