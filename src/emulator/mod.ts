/**
 * An embedded, faithful fake of the Google APIs authcalator's gate calls (OAuth2 token and
 * tokeninfo, IAM Credentials, Resource Manager v3, Google's signing certs), on loopback. Every
 * API is served at its real path under one base URL, so production code talks to it by swapping
 * the base URL only.
 *
 * ```ts
 * await using emu = await startEmulator();
 * const adc = emu.authorizedUserAdc(); // write it where GOOGLE_APPLICATION_CREDENTIALS points
 * ```
 *
 * Pointing google-auth-library 11 at it (proved in tests/emulator/google_auth_library_test.ts):
 * - authorized_user: `endpoints.oauth2TokenUrl` (UserRefreshClient option, or GoogleAuth
 *   `clientOptions.endpoints`); the file's `token_uri` is ignored.
 * - Impersonated: option `endpoint` (base URL; it appends `/v1/projects/-/...`).
 * - service_account (JWT): the token URL is hard-coded; add a gaxios request interceptor that
 *   rewrites `*.googleapis.com` to the base URL on `jwt.transporter` (or pass such a transporter
 *   as GoogleAuth `clientOptions.transporter`).
 * - impersonated_service_account ADC via GoogleAuth: clientOptions are dropped; build
 *   UserRefreshClient + Impersonated from the JSON instead.
 * @module
 */
import { systemClock } from "../clock.ts";
import type { ApiName } from "./api_names.ts";
import { createApp } from "./app.ts";
import {
  type AuthorizedUserAdc,
  authorizedUserAdc,
  type ImpersonatedAdc,
  impersonatedAdc,
  serviceAccountKey,
  type ServiceAccountKeyFile,
} from "./credentials.ts";
import { Faults } from "./faults.ts";
import { randomToken } from "./random.ts";
import { type EmulatorOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import { RequestLog, type RequestLogEntry } from "./request_log.ts";
import { startTcpFront } from "./tcp_front.ts";
import { ServiceAccountKeys } from "./service_account_keys.ts";
import { SigningKeys } from "./signing_keys.ts";
import { type EmulatorState, findServiceAccount } from "./state.ts";
import { TokenStore } from "./token_store.ts";

export type { ApiName } from "./api_names.ts";
export { API_NAMES } from "./api_names.ts";
export type { AuthorizedUserAdc, ImpersonatedAdc, ServiceAccountKeyFile } from "./credentials.ts";
export type { Faults, Malformation } from "./faults.ts";
export { MALFORMATIONS } from "./faults.ts";
export {
  DEFAULT_ENGINEER_EMAIL,
  DEFAULT_PROJECT_ID,
  DEFAULT_PROJECT_NUMBER,
  DEFAULT_SERVICE_ACCOUNT,
  GCLOUD_ADC_SCOPES,
  isEmail,
  isNumericId,
  isProjectId,
} from "./options.ts";
export type {
  EmulatorOptions,
  EngineerSpec,
  ProjectSpec,
  ResolvedOptions,
  ServiceAccountSpec,
} from "./options.ts";
export type { RequestLogEntry } from "./request_log.ts";

/** A running emulator. */
export interface Emulator extends AsyncDisposable {
  /** `http://127.0.0.1:PORT`: the base URL of every emulated API. */
  readonly baseUrl: string;
  readonly hostname: string;
  readonly port: number;
  /** The world it emulates (includes the engineer's secrets: for tests and ADC files only). */
  readonly options: ResolvedOptions;
  /** Fault switches. */
  readonly faults: Faults;
  /** The engineer's authorized_user ADC JSON. */
  authorizedUserAdc(): AuthorizedUserAdc;
  /**
   * What `gcloud auth application-default login` does: a new refresh token (the old one stops
   * working), reauth faults cleared; returns the new ADC JSON.
   */
  loginAgain(): AuthorizedUserAdc;
  /** A service-account key JSON with a fresh RSA key the emulator trusts. */
  serviceAccountKey(email: string): Promise<ServiceAccountKeyFile>;
  /** An impersonated_service_account ADC JSON with the engineer as source credential. */
  impersonatedAdc(target: string, delegates?: string[]): ImpersonatedAdc;
  /** Mints a live access token for a known principal directly (test setup). */
  issueAccessToken(
    principal: string,
    options?: { scopes?: string[]; lifetimeSeconds?: number },
  ): string;
  /** Connections the hang fault holds unanswered right now (0 once their clients left). */
  heldConnections(): number;
  /** Calls to `api` so far (every API when omitted), counted at arrival. */
  calls(api?: ApiName | "unknown"): number;
  /** The request log: methods, paths, statuses and principals, never secrets. */
  requests(): RequestLogEntry[];
  /** Forgets counters and the log. */
  resetLog(): void;
  /** Stops listening, ends stalled bodies and waits for the server to close. Idempotent. */
  stop(): Promise<void>;
}

/** Starts the emulator on loopback (default 127.0.0.1, any free port). */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const resolved = resolveOptions(options);
  const clock = options.clock ?? systemClock;
  const tokens = new TokenStore(clock);
  const stopper = new AbortController();
  const state: EmulatorState = {
    options: resolved,
    clock,
    tokens,
    signingKeys: await SigningKeys.create(clock),
    serviceAccountKeys: new ServiceAccountKeys(),
    faults: new Faults(() => tokens.revokeWhere((r) => r.source === "refresh_token")),
    log: new RequestLog(options.onRequest),
    baseUrl: "",
    stopSignal: stopper.signal,
    stalls: new Set(),
    trickles: new Set(),
  };
  const app = createApp(state);
  // The HTTP listener sits on a private loopback port behind the raw TCP front (tcp_front.ts),
  // which is what clients reach: only the front can close a connection without an answer.
  const server = Deno.serve({
    hostname: resolved.hostname,
    port: 0,
    onListen() {},
  }, app.fetch);
  const front = startTcpFront(resolved.hostname, resolved.port, server.addr);
  const addr = front.addr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  state.baseUrl = `http://${host}:${addr.port}`;

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      stopper.abort();
      // Closing (not erroring) the held bodies: Deno.serve would log an errored body stream.
      for (const controller of state.stalls) {
        try {
          controller.close();
        } catch { /* already closed */ }
      }
      state.stalls.clear();
      for (const end of [...state.trickles]) end();
      await front.close();
      await server.shutdown();
    })();
    return stopping;
  };

  return {
    baseUrl: state.baseUrl,
    hostname: addr.hostname,
    port: addr.port,
    options: resolved,
    faults: state.faults,
    authorizedUserAdc: () => authorizedUserAdc(state),
    loginAgain: () => {
      resolved.engineer.refreshToken = `1//${randomToken(72)}`;
      state.faults.clear();
      return authorizedUserAdc(state);
    },
    serviceAccountKey: (email) => serviceAccountKey(state, email),
    impersonatedAdc: (target, delegates) => impersonatedAdc(state, target, delegates),
    issueAccessToken(principal, opts = {}) {
      const email = principal.toLowerCase();
      const engineer = resolved.engineer;
      const sa = findServiceAccount(state, email);
      if (email !== engineer.email && !sa) {
        throw new Error(`emulator: unknown principal ${principal}`);
      }
      const subject = sa ? sa.uniqueId : engineer.uniqueId;
      return tokens.issue({
        principal: sa ? sa.email : engineer.email,
        subject,
        clientId: sa ? sa.uniqueId : engineer.clientId,
        scopes: opts.scopes ?? ["https://www.googleapis.com/auth/cloud-platform"],
        source: "test",
      }, opts.lifetimeSeconds ?? 3600).token;
    },
    heldConnections: () => front.held(),
    calls: (api) => state.log.calls(api),
    requests: () => state.log.entries(),
    resetLog: () => state.log.reset(),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
