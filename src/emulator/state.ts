/** The emulator's shared state, handed to every route module, and lookups over it. */
import type { Clock } from "../clock.ts";
import type { Faults } from "./faults.ts";
import type { ResolvedOptions, ResolvedProject } from "./options.ts";
import type { RequestLog } from "./request_log.ts";
import type { ServiceAccountKeys } from "./service_account_keys.ts";
import type { SigningKeys } from "./signing_keys.ts";
import type { TokenStore } from "./token_store.ts";

/** Everything the routes read and change. */
export interface EmulatorState {
  options: ResolvedOptions;
  clock: Clock;
  tokens: TokenStore;
  signingKeys: SigningKeys;
  serviceAccountKeys: ServiceAccountKeys;
  faults: Faults;
  log: RequestLog;
  /** `http://host:port`, known once the listener is up. */
  baseUrl: string;
  /** Aborted by stop(), so injected delays end at once. */
  stopSignal: AbortSignal;
  /** Bodies held open by the stall fault; stop() errors them so the server can shut down. */
  stalls: Set<ReadableStreamDefaultController<Uint8Array>>;
  /** Ends each slow body in progress (clears its timer); stop() calls them all. */
  trickles: Set<() => void>;
}

/** Per-request values the middleware and routes share. */
export type EmulatorEnv = {
  Variables: {
    /** The caller's (or grant subject's) email, for the request log. */
    principal: string | undefined;
  };
};

/** A resolved service account. */
export type ServiceAccount = ResolvedOptions["serviceAccounts"][number];

/** Finds a service account by email (case-insensitive) or unique id. */
export function findServiceAccount(
  state: EmulatorState,
  emailOrId: string,
): ServiceAccount | undefined {
  const key = emailOrId.toLowerCase();
  return state.options.serviceAccounts.find((sa) => sa.email === key || sa.uniqueId === key);
}

/** Finds a project by id or number. */
export function findProject(state: EmulatorState, idOrNumber: string): ResolvedProject | undefined {
  return state.options.projects.find((p) => p.id === idOrNumber || p.number === idOrNumber);
}

/** RFC 3339 in UTC with whole seconds, as Google's REST APIs write timestamps. */
export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}
