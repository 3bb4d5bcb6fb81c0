/**
 * What the gate's `/health` warns its clients about: its TLS material expiring within 14 days.
 * Checked at request time, so a gate that runs for weeks starts warning when the date comes, but
 * re-read at most once a minute, so `/health` stays cheap. Worded for the container: no host path.
 * @module
 */
import type { Clock } from "../clock.ts";
import { describeExpiringForClients, expiringMaterial } from "../tls/expiry.ts";

/** How long one look at the TLS material is reused. */
export const HEALTH_WARNINGS_TTL_MS = 60_000;

/** A `GateDeps.healthWarnings` for the TLS material in `dir`. */
export function tlsExpiryWarnings(
  dir: string,
  clock: Clock,
  log: (line: string) => void,
  ttlMs = HEALTH_WARNINGS_TTL_MS,
): () => Promise<string[]> {
  let cached: { at: number; warnings: Promise<string[]> } | undefined;
  return () => {
    const now = clock.now();
    if (!cached || now - cached.at >= ttlMs) {
      const warnings = expiringMaterial(dir, new Date(now)).then(
        (items) => items.map(describeExpiringForClients),
        (err) => {
          log(`gate: cannot check the TLS material's expiry: ${(err as Error).message}`);
          return ["the gate cannot check its TLS material's expiry; see the gate's log"];
        },
      );
      cached = { at: now, warnings };
    }
    return cached.warnings;
  };
}
