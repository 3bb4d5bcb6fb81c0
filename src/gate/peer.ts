/**
 * Who is on the other end of a gate connection. On Linux the Unix-socket listener learns it from
 * the kernel (never from the request); where it cannot, the identity says "unverified" and why,
 * and nothing downstream guesses.
 * @module
 */
import type { Context } from "hono";

/** A caller as the kernel reports it, or an unverified one. */
export interface PeerIdentity {
  /** True only when uid and pid came from the kernel for this very connection. */
  verified: boolean;
  /**
   * Why the peer could not be verified (always set when `verified` is false), or, when it is
   * verified, why `exe` and `argv` are missing.
   */
  reason?: string;
  /** The caller's uid, as seen from the gate's user namespace. */
  uid?: number;
  /** The caller's pid, as seen from the gate's PID namespace. */
  pid?: number;
  /** The pid in each nested PID namespace, outermost first (from `NSpid`), when it differs. */
  nsPid?: number[];
  /** `/proc/<pid>/exe`. */
  exe?: string;
  /** `/proc/<pid>/cmdline`, split on NUL. */
  argv?: string[];
  /**
   * An unverified peer that authenticated otherwise (the TCP listener's client certificate or
   * bearer token): `<how>:<name>`, so each remote client is its own requester (rate-limit slot).
   * Never set from anything the request says about itself.
   */
  client?: string;
}

/** What a listener that knows its peers hands each request as Hono's `c.env`. */
export interface PeerEnv {
  /** Resolves the connection's peer (memoised per connection by the listener). */
  peer?: () => Promise<PeerIdentity>;
}

/** An identity for requests whose listener cannot tell who is calling. */
export function unverified(reason: string): PeerIdentity {
  return { verified: false, reason };
}

/** The request's peer; "unverified" when the listener provides none (e.g. `app.request` in tests). */
export function peerOf(c: Context): Promise<PeerIdentity> {
  const env = c.env as PeerEnv | undefined;
  if (env && typeof env.peer === "function") return env.peer();
  return Promise.resolve(unverified("this listener does not report its peers"));
}
