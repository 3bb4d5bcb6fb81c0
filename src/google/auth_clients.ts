import {
  type AuthClient,
  Impersonated,
  OAuth2Client,
  UserRefreshClient,
} from "google-auth-library";
// The library warns on every Impersonated construction; the gate builds them from its own ADC.
import * as gaxUtil from "google-auth-library/build/src/util.js";
import type { Adc, AuthorizedUserAdc, ServiceAccountAdc } from "./adc.ts";
import { impersonationTarget } from "./adc.ts";
import type { GoogleEndpoints } from "./endpoints.ts";
import { exchangeAssertion, signAssertion } from "./service_account_jwt.ts";
import { CLOUD_PLATFORM_SCOPE } from "../cli/config.ts";
import type { GoogleTransport } from "./transport.ts";

/** Options shared by the clients built here. */
export interface ClientOptions {
  endpoints: GoogleEndpoints;
  /** Deadline for one token exchange, body included. */
  timeoutMs: number;
  now: () => number;
  /**
   * The bounded, cancellable transport every client built from one ADC shares (transport.ts):
   * aborting it cancels all their exchanges.
   */
  transport: GoogleTransport;
}

const suppress = (gaxUtil as { suppressAdcWarning?: <T>(fn: () => T) => T }).suppressAdcWarning ??
  (<T>(fn: () => T) => fn());

function userClient(adc: AuthorizedUserAdc, options: ClientOptions): OAuth2Client {
  return new UserRefreshClient({
    clientId: adc.client_id,
    clientSecret: adc.client_secret,
    refreshToken: adc.refresh_token,
    endpoints: { oauth2TokenUrl: `${options.endpoints.oauth2}/token` },
    universeDomain: adc.universe_domain,
    transporter: options.transport.gaxios,
  });
}

/** A service account key client whose token exchange goes to the configured OAuth2 endpoint. */
function serviceAccountClient(
  adc: ServiceAccountAdc,
  scopes: string[],
  options: ClientOptions,
): OAuth2Client {
  const client = new OAuth2Client({
    universeDomain: adc.universe_domain,
    transporter: options.transport.gaxios,
  });
  // google-auth-library's JWT client has Google's token URL built in; a refresh handler keeps the
  // library's caching while the exchange honours the endpoint override.
  client.refreshHandler = async () => {
    try {
      return await exchangeAssertion(
        `${options.endpoints.oauth2}/token`,
        await signAssertion(adc, scopes, options.now()),
        options.timeoutMs,
        options.now,
        options.transport.fetch,
      );
    } catch (err) {
      // Impersonated rewrites `error.message` of what its source throws; a DOMException's
      // message is a getter, which turned a bad key into "Cannot set property message ...".
      throw err instanceof Error && !(err instanceof DOMException)
        ? err
        : new Error(`service account token exchange failed: ${String(err)}`);
    }
  };
  return client;
}

/** The source client for the engineer's ADC, scoped to `scopes` where the credential type allows. */
export function sourceClient(
  adc: Adc,
  options: ClientOptions,
  scopes = [CLOUD_PLATFORM_SCOPE],
): AuthClient {
  switch (adc.type) {
    case "authorized_user":
      // A user refresh token's scopes are fixed at login; Google ignores a scope parameter.
      return userClient(adc, options);
    case "service_account":
      return serviceAccountClient(adc, scopes, options);
    case "impersonated_service_account": {
      const source = adc.source_credentials.type === "authorized_user"
        ? userClient(adc.source_credentials, options)
        : serviceAccountClient(adc.source_credentials, [CLOUD_PLATFORM_SCOPE], options);
      return impersonated(
        source,
        impersonationTarget(adc),
        scopes,
        3600,
        options,
        adc.delegates ?? [],
      );
    }
  }
}

/** An impersonation client for `target` with the given scopes and lifetime. */
export function impersonated(
  source: AuthClient,
  target: string,
  scopes: string[],
  lifetimeSeconds: number,
  options: ClientOptions,
  delegates: string[] = [],
): Impersonated {
  return suppress(() =>
    new Impersonated({
      sourceClient: source,
      targetPrincipal: target,
      targetScopes: scopes,
      lifetime: lifetimeSeconds,
      delegates,
      endpoint: options.endpoints.iamcredentials,
      transporter: options.transport.gaxios,
    })
  );
}
