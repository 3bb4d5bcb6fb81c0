/**
 * Who asked for prod access, as every approval surface shows it: the kernel's view of the peer
 * (uid, pid, namespaced pid, executable, argv) beside the command the client reported, with the
 * verdict of comparing the two. The client-reported command (`X-Wrapped-Command`) is a claim; the
 * peer comes from the listener (the kernel), so a process that copies the engineer's command into
 * its header still shows its own executable, pid and argv, and a flagged MISMATCH.
 *
 * The comparison: a with-prod process runs `… with-prod [its flags] [--] cmd args`, so the wrapped
 * command is the tail of its kernel argv. A reported command matches when the peer's argv ends with
 * it, element for element (when with-prod had to cut its header, the elements it kept must sit where
 * the omitted count puts them). When the listener knows only the command line as one string (`ps
 * args`, arguments joined by spaces), it matches when that line ends with the reported arguments
 * joined the same way. This proves consistency, not honesty: a process can exec itself with any
 * argv. What it cannot choose is its pid, uid and executable, which is why they are shown, and why
 * the pairing code (printed by with-prod in the engineer's own terminal) is the real link.
 * @module
 */
import { type CommandDisplay, describeCommand, sanitizeText } from "./command_display.ts";
import type { AuditEntry } from "./audit.ts";
import type { PeerIdentity } from "./peer.ts";

/** A peer as a listener may describe it: exact argv, or only the command line as one string. */
type PeerFacts = PeerIdentity & { commandLine?: string };

/** The peer's argv as far as the listener knows it, and whether it is exact. */
function kernelArgv(peer: PeerFacts): { argv: string[]; exact: boolean } | undefined {
  if (peer.argv && peer.argv.length) return { argv: peer.argv, exact: true };
  if (peer.commandLine) return { argv: peer.commandLine.split(" "), exact: false };
  return undefined;
}

/** The outcome of comparing the reported command with the peer's kernel argv. */
export type CommandCheckStatus = "match" | "mismatch" | "unverified" | "not_reported";

/** The comparison's verdict and its one-line explanation. */
export interface CommandCheck {
  status: CommandCheckStatus;
  detail: string;
}

/** What surfaces show about the requester (JSON-safe; every string redacted and sanitised). */
export interface RequesterView {
  verified: boolean;
  /** Why the peer is unverified, or (verified) why its exe or argv are missing; sanitised. */
  reason?: string;
  uid?: number;
  pid?: number;
  /** The pid in the requester's own PID namespace, when it differs from `pid`. */
  namespacePid?: number;
  exe?: string;
  /** The peer's kernel argv, redacted and sanitised like a reported command. */
  argv?: CommandDisplay;
  /** False when the listener reported one command-line string, shown split on spaces. */
  argvExact?: boolean;
  check: CommandCheck;
}

// with-prod's marker when it cut X-Wrapped-Command (src/gate_api/wrapped_command.ts).
const OMITTED = /^… (\d+) further argument\(s\) omitted by the client \(header size limit\)$/;
const ARGV0_CUT = /chars omitted by the client from argv\[0\]\)$/;

/** Compares the client-reported argv with the peer's kernel argv (see the module doc). */
export function checkCommand(
  reported: readonly string[] | undefined,
  peer: PeerFacts,
): CommandCheck {
  const known = peer.verified ? kernelArgv(peer) : undefined;
  if (!known) {
    return {
      status: "unverified",
      detail: peer.verified
        ? "the requester's argv is unavailable: the reported command cannot be checked"
        : "requester unverified: the reported command cannot be checked against the kernel",
    };
  }
  if (!reported || reported.length === 0) {
    return { status: "not_reported", detail: "no command reported; compare the kernel argv" };
  }
  let kept: readonly string[] = reported;
  let total = reported.length;
  const omitted = OMITTED.exec(reported[reported.length - 1]);
  if (omitted) {
    kept = reported.slice(0, -1);
    total = kept.length + Number(omitted[1]);
    if (kept.some((arg) => ARGV0_CUT.test(arg))) {
      return {
        status: "unverified",
        detail: "the client cut its command too short to compare with the kernel argv",
      };
    }
  }
  let same: boolean;
  if (known.exact) {
    const argv = known.argv;
    const start = argv.length - total;
    same = start >= 0 && kept.every((arg, i) => argv[start + i] === arg);
  } else {
    // One string: the reported arguments, joined by spaces, end the line (at a word boundary).
    if (omitted) {
      return {
        status: "unverified",
        detail: "the client cut its command, and the kernel reported only a joined command line",
      };
    }
    const line = peer.commandLine!;
    const tail = kept.join(" ");
    same = line === tail || line.endsWith(` ${tail}`);
  }
  return same
    ? { status: "match", detail: "the requester's kernel argv ends with the reported command" }
    : {
      status: "mismatch",
      detail: "MISMATCH: the requester's kernel argv does not end with the reported command",
    };
}

/** The peer as surfaces show it, with the verdict of {@link checkCommand}. */
export function describeRequester(
  peer: PeerFacts,
  reported: readonly string[] | undefined,
): RequesterView {
  const check = checkCommand(reported, peer);
  if (!peer.verified) {
    return {
      verified: false,
      reason: sanitizeText(peer.reason ?? "the listener could not tell"),
      check,
    };
  }
  const inner = peer.nsPid?.at(-1);
  const known = kernelArgv(peer);
  return {
    verified: true,
    // When verified, the reason says why exe or argv are missing.
    ...(peer.reason ? { reason: sanitizeText(peer.reason) } : {}),
    uid: peer.uid,
    pid: peer.pid,
    ...(inner !== undefined && inner !== peer.pid ? { namespacePid: inner } : {}),
    ...(peer.exe !== undefined ? { exe: sanitizeText(peer.exe) } : {}),
    // A wrapper's argv holds another command line after its `--`: redact through it.
    ...(known
      ? { argv: describeCommand(known.argv, { throughDashes: true }), argvExact: known.exact }
      : {}),
    check,
  };
}

/** One line naming the requester: `uid 1000, pid 4242 (pid 17 in its namespace), /usr/bin/deno`. */
export function requesterSummary(view: RequesterView): string {
  if (!view.verified) return `unverified (${view.reason ?? "unknown"})`;
  const parts = [`uid ${view.uid ?? "?"}`];
  parts.push(
    `pid ${view.pid ?? "?"}${
      view.namespacePid !== undefined ? ` (pid ${view.namespacePid} in its namespace)` : ""
    }`,
  );
  parts.push(view.exe ?? "(executable unknown)");
  return parts.join(", ");
}

/**
 * The lines every surface prints about the requester: who, the kernel argv (numbered, redacted)
 * and the verdict. A MISMATCH or an unverified requester is said in capitals on its own line.
 */
export function requesterLines(view: RequesterView | undefined): string[] {
  if (!view) return ["Requested by: UNVERIFIED (no peer information)"];
  if (!view.verified) {
    return [
      `Requested by: UNVERIFIED — ${view.reason ?? "unknown"}`,
      "  The gate cannot tell which process asked; the reported command is only a claim.",
    ];
  }
  const out = [`Requested by: ${requesterSummary(view)}`];
  if (view.argv) {
    out.push(
      view.argvExact === false
        ? `Kernel command line of the requester, split on spaces (${view.argv.totalArgs}):`
        : `Kernel argv of the requester (${view.argv.totalArgs}):`,
      ...view.argv.lines,
    );
  } else {
    out.push(`Kernel argv of the requester: (unavailable${view.reason ? `: ${view.reason}` : ""})`);
  }
  out.push(
    view.check.status === "mismatch"
      ? `!!! ${view.check.detail}`
      : `Command check: ${view.check.detail}`,
  );
  return out;
}

/**
 * The rate limiter's key for this requester: its kernel pid, so one process cannot hold another's
 * slot; a remote client its authenticated identity; every other unverified requester shares the
 * one "unverified" key (it cannot be told apart).
 */
export function requesterKey(peer: PeerIdentity): string {
  if (peer.verified && peer.pid !== undefined) return `pid:${peer.pid}`;
  return !peer.verified && peer.client ? `remote:${peer.client}` : "unverified";
}

/** The audit fields naming the requester (peer) and the command check. */
export function peerAuditFields(view: RequesterView): Partial<AuditEntry> {
  return {
    peer_verified: view.verified,
    peer_uid: view.uid,
    peer_pid: view.pid,
    peer_ns_pid: view.namespacePid,
    peer_exe: view.exe,
    peer_argv: view.argv?.argv,
    command_mismatch: view.check.status === "match"
      ? false
      : view.check.status === "mismatch"
      ? true
      : undefined,
  };
}
