/**
 * Who is calling over the gate's TCP listener, once authenticated (a client certificate's name, a
 * bearer token's name from the hashes file, or a Kubernetes service account from TokenReview), and
 * how that identity reaches what the gate shows and records. The kernel peer is not available over
 * TCP, so a remote requester is always "unverified" for the approval surfaces, with a reason that
 * names the authenticated client and its address instead of guessing a process.
 *
 * The audit lines are written deep inside the routes, which know their listener but not the
 * connection; the TCP listener runs each request inside {@link runAsRemoteClient}, and
 * {@link auditWithRemoteClient} adds the client's fields to every line written during it. Requests
 * of the Unix sockets run outside it and get no client fields.
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { AuditEntry, AuditLog } from "./audit.ts";
import { type PeerIdentity, unverified } from "./peer.ts";
import { sanitizeText } from "./command_display.ts";

/** How a remote client proved who it is. */
export type RemoteAuth = "certificate" | "bearer_file" | "token_review";

/** An authenticated remote client. */
export interface RemoteClient {
  auth: RemoteAuth;
  /** The certificate's name, the token's name, or `system:serviceaccount:<ns>:<name>`. */
  name: string;
  /** The TCP peer address, `host:port` as the gate's socket saw it (a proxy's, if one is between). */
  address: string;
}

const current = new AsyncLocalStorage<RemoteClient>();

/** Runs `work` with `client` as the requester of everything it audits. */
export function runAsRemoteClient<T>(client: RemoteClient, work: () => T): T {
  return current.run(client, work);
}

/** The remote client of the request being handled, if it came over TCP. */
export function currentRemoteClient(): RemoteClient | undefined {
  return current.getStore();
}

/** The audit fields naming a remote client. */
export function remoteAuditFields(client: RemoteClient): Partial<AuditEntry> {
  return { client: client.name, client_auth: client.auth, client_address: client.address };
}

/** Wraps `audit` so lines written while a remote client's request runs carry its identity. */
export function auditWithRemoteClient(audit: AuditLog): AuditLog {
  return {
    write(entry) {
      const client = current.getStore();
      audit.write(client ? { ...entry, ...remoteAuditFields(client) } : entry);
    },
    healthy: () => audit.healthy?.() ?? true,
  };
}

/** Human wording of each proof, for approval surfaces. */
const PROOF: Record<RemoteAuth, string> = {
  certificate: "client certificate",
  bearer_file: "bearer token from the gate's token list",
  token_review: "Kubernetes service-account token (TokenReview)",
};

/**
 * The peer identity a TCP request presents to the prod layer: unverified (no kernel peer over
 * TCP), its reason naming the authenticated client, how it proved it, and its address.
 */
export function remotePeer(client: RemoteClient): PeerIdentity {
  return {
    ...unverified(
      `tcp client "${sanitizeText(client.name)}" (${PROOF[client.auth]}) from ${
        sanitizeText(client.address)
      }; the kernel peer is not available over TCP`,
    ),
    client: `${client.auth}:${client.name}`,
  };
}
