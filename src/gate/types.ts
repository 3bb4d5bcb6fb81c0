import type { Clock } from "../clock.ts";
import type { Config } from "../cli/config.ts";
import type { ExpiringToken } from "../token_cache.ts";
import type { AuditLog } from "./audit.ts";

/** Which listener a request arrived on; routes a listener must not serve are not mounted there. */
export type ListenerName = "main" | "tcp" | "admin";

/** A listener serving the gate's API (dev, prod and session routes; never the admin routes). */
export type ApiListener = Exclude<ListenerName, "admin">;

/** Everything the gate can ask Google for, behind one seam (real: google-auth-library + fetch). */
export interface GateTokenService {
  /** A dev token: the configured service account impersonated with `scopes` for `ttlSeconds`. */
  devToken(scopes: string[], ttlSeconds: number): Promise<ExpiringToken>;
  /** A prod token: the engineer's own ADC credential (never cached by the gate). */
  prodToken(scopes: string[], ttlSeconds: number): Promise<ExpiringToken>;
  /** An OIDC identity token for the dev service account. */
  idToken(audience: string, includeEmail: boolean): Promise<string>;
  /** The engineer's email (ADC identity via tokeninfo; cached). */
  identityEmail(): Promise<string>;
  /** The numeric id of the gate's project (Resource Manager; cached). */
  projectNumber(): Promise<string>;
  /** The ADC universe domain (googleapis.com unless the credential names another). */
  universeDomain(): Promise<string>;
}

/** The parts every gate route module is built from. */
export interface GateDeps {
  config: Config;
  clock: Clock;
  tokens: GateTokenService;
  audit: AuditLog;
  /** Process start, for `uptime_seconds`. */
  startedAt: number;
  /**
   * What `/health` warns about (e.g. TLS material expiring within 14 days), worded for clients:
   * no host path. Absent: no warnings.
   */
  healthWarnings?: () => Promise<string[]>;
}
