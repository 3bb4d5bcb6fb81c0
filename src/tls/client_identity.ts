/**
 * Who a verified TLS client is. The handshake (node:https with `requestCert`,
 * `rejectUnauthorized` and the gate's CA) already refuses certificates that are expired, not yet
 * valid, from another CA or without the clientAuth EKU; a certificate that passes it may still be
 * unnamed or revoked, which only this check sees. The gate's TCP listener calls it once per
 * connection and audits the name it returns.
 * @module
 */
import type { HasSerial, RevocationList } from "./revocation.ts";
import { clientNameOfPeer } from "./verify.ts";

/** What node:tls `getPeerCertificate()` reports that this check reads. */
export interface PeerCertificateFacts {
  subject?: { CN?: string | string[] };
  subjectaltname?: string;
  serialNumber?: string;
}

/** The outcome: the client's name, or why it is refused (safe to log and to answer with). */
export type ClientIdentity = { ok: true; name: string } | { ok: false; reason: string };

/**
 * Names the client of an authorized TLS connection, or refuses it: no certificate, no name, a
 * revoked serial, or a revocation list that cannot be read (fail closed).
 */
export async function identifyClient(
  peer: PeerCertificateFacts | undefined,
  revocation: RevocationList,
): Promise<ClientIdentity> {
  if (!peer?.serialNumber) return { ok: false, reason: "no client certificate" };
  const name = clientNameOfPeer(peer);
  if (name === undefined) {
    return {
      ok: false,
      reason: "the client certificate carries no client name; issue one with " +
        "'authcalator init-tls --client NAME'",
    };
  }
  if (await revocation.isRevoked(peer as HasSerial)) {
    return revocation.problem
      ? { ok: false, reason: "the gate's revocation list is unusable; see the gate's log" }
      : { ok: false, reason: `client ${name} is revoked` };
  }
  return { ok: true, name };
}
