/**
 * `authcalator pending [id]`: lists the prod requests waiting for approval on the admin socket, or
 * shows one in full. Also the admin calls (through the one gate client, src/gate_api/client.ts)
 * and the request printer that `approve` and `deny` share.
 * @module
 */
import type { Invocation } from "../cli/commands.ts";
import { type Clock, systemClock } from "../clock.ts";
import { UsageError } from "../errors.ts";
import { argumentCount, sanitizeText } from "../gate/command_display.ts";
import type { PendingRequestJson } from "../gate/pending.ts";
import { type CommandCheckStatus, requesterLines, type RequesterView } from "../gate/requester.ts";
import { DeadlineError } from "../http/deadline_fetch.ts";
import { GateApi, jsonObject } from "../gate_api/client.ts";
import { GateUnreachableError, UnixSocketTransport } from "../gate_api/transport.ts";
import { ADMIN_PATHS, PENDING_ID } from "../gate_api/wire.ts";

/** Every admin request's whole-response deadline. */
export const ADMIN_TIMEOUT_MS = 5_000;

/** A failure the CLI prints as `error: <message>` and exits 1 on. */
export class AdminError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AdminError";
  }
}

/** An answer from the admin socket. */
export interface AdminAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** Talks to the gate's admin socket. */
export type AdminCall = (method: "GET" | "POST", path: string) => Promise<AdminAnswer>;

/** The hint when the admin socket cannot be reached. */
const ADMIN_SOCKET_HINT = "is 'authcalator gate' running on this host? The admin socket exists " +
  "only on the host, never inside a container; pass --admin-socket-path if it is elsewhere.";

/** The real calls: the gate client on the admin socket, 5 s per request, body included. */
export function unixAdminCall(socketPath: string): AdminCall & { close(): void } {
  const gate = new GateApi(new UnixSocketTransport(socketPath, { hint: ADMIN_SOCKET_HINT }));
  const call = async (method: "GET" | "POST", path: string): Promise<AdminAnswer> => {
    let res;
    try {
      res = await gate.call(path, {
        method,
        timeoutMs: ADMIN_TIMEOUT_MS,
        what: "talking to the admin socket",
      });
    } catch (err) {
      if (err instanceof DeadlineError) {
        throw new AdminError(
          `admin socket not responding (timed out after ${ADMIN_TIMEOUT_MS / 1000}s)`,
        );
      }
      if (err instanceof GateUnreachableError) {
        throw new AdminError(
          `could not connect to the admin socket at ${socketPath} (${err.reason})\n` +
            `hint: ${ADMIN_SOCKET_HINT}`,
        );
      }
      throw err;
    }
    return { status: res.status, body: jsonObject(res.text) ?? {} };
  };
  return Object.assign(call, { close: () => gate.close() });
}

/** Refuses a missing or malformed id before anything is sent: a usage error (exit 2). */
export function checkId(id: string | undefined, command = "approve"): string {
  if (id === undefined) {
    throw new UsageError(
      `missing the pending request ID: authcalator ${command} <id> ` +
        "(run 'authcalator pending' to list them)",
    );
  }
  if (!PENDING_ID.test(id)) {
    throw new UsageError(
      "invalid pending request ID (expected exactly 32 lowercase hex characters)",
    );
  }
  return id;
}

/** The message for a 410: the gate says why the request is no longer waiting. */
export function goneMessage(id: string, answer: AdminAnswer): string {
  return `request ${id} is no longer waiting: ${answerError(answer)}`;
}

/** The `error` of a non-2xx answer, or a generic one. */
export function answerError(answer: AdminAnswer): string {
  const error = answer.body.error;
  return typeof error === "string"
    ? sanitizeText(error)
    : `admin socket returned HTTP ${answer.status}`;
}

/** Fetches one queued request; a 404 says which kind of "not there" it is. */
export async function fetchRequest(call: AdminCall, id: string): Promise<PendingRequestJson> {
  const answer = await call("GET", ADMIN_PATHS.pendingOne(id));
  if (answer.status === 410) throw new AdminError(goneMessage(id, answer));
  if (answer.status === 404) {
    if (answer.body.error === "Not found") {
      throw new AdminError(
        "this gate does not serve GET /pending/<id>; the running daemon predates this " +
          "subcommand — restart it",
      );
    }
    throw new AdminError(
      `no queued request ${id}: it may have already been approved or denied, expired, or never ` +
        "been queued at all — the gate only queues a request when it has no desktop dialog or " +
        "terminal prompt available",
    );
  }
  if (answer.status !== 200) throw new AdminError(answerError(answer));
  return answer.body as unknown as PendingRequestJson;
}

/** Seconds left before `expiresAt`, floored, never negative. */
export function secondsLeft(request: PendingRequestJson, clock: Clock): number {
  const expires = Date.parse(request.expiresAt);
  return Number.isFinite(expires) ? Math.max(0, Math.floor((expires - clock.now()) / 1000)) : 0;
}

/**
 * Renders a request for the operator's terminal. Every string is sanitised again here: the gate
 * already did, but this is what reaches a terminal, so it does not trust the wire.
 */
export function renderRequest(request: PendingRequestJson, clock: Clock): string {
  const s = (v: unknown) => sanitizeText(String(v ?? ""));
  const out = [
    `Request:  ${s(request.id)}`,
    `Code:     ${request.pairingCode ? s(request.pairingCode) : "(none)"}` +
    "  (with-prod printed this code in the terminal that asked)",
    `Email:    ${s(request.email)}`,
  ];
  // The requester as the kernel reported it to the gate; MISMATCH and UNVERIFIED stand out.
  for (const line of requesterLines(requesterFromWire(request.requester))) out.push(s(line));
  if (request.pamPolicy) out.push(`PAM:      ${s(request.pamPolicy)}`);
  out.push(`Expires:  ${s(request.expiresAt)} (${secondsLeft(request, clock)}s left)`);
  const push = request.push;
  const command = request.command;
  if (push && typeof push === "object" && Array.isArray(push.refs)) {
    // A git push through a route: the repository and each ref, as the gate read them from the push.
    out.push(`Push:     git push to ${s(push.repository)} through route '${s(push.route)}'`);
    if (push.reportedBy) {
      out.push(`Asked by: ${s(push.reportedBy)} (as the routes proxy reports it)`);
    }
    out.push(
      `Refs:     ${
        Number(push.totalRefs) || push.refs.length
      } ref(s), old → new, read from the push`,
    );
    for (const line of push.refs) out.push(s(line));
  } else if (!command || !Array.isArray(command.lines)) {
    out.push("Command:  (none reported)");
  } else {
    out.push(
      `Command:  ${
        argumentCount(Number(command.totalArgs) || command.lines.length)
      }, as reported by the client`,
    );
    for (const line of command.lines) out.push(s(line));
  }
  return out.join("\n");
}

/**
 * Rebuilds a requester from the admin socket's JSON, keeping only well-typed fields, so a gate that
 * sends something odd gets an "UNVERIFIED"/"unavailable" line, never a crash or a claim of a match.
 */
export function requesterFromWire(value: unknown): RequesterView | undefined {
  if (!value || typeof value !== "object" || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  const int = (x: unknown) => Number.isSafeInteger(x) ? x as number : undefined;
  const str = (x: unknown) => typeof x === "string" ? x : undefined;
  const check = v.check && typeof v.check === "object" ? v.check as Record<string, unknown> : {};
  const status = ["match", "mismatch", "unverified", "not_reported"].includes(String(check.status))
    ? check.status as CommandCheckStatus
    : "unverified";
  const argv = v.argv && typeof v.argv === "object" ? v.argv as Record<string, unknown> : undefined;
  const lines = Array.isArray(argv?.lines) ? argv.lines.map((l) => String(l)) : undefined;
  const view: RequesterView = {
    verified: v.verified === true,
    reason: str(v.reason),
    uid: int(v.uid),
    pid: int(v.pid),
    namespacePid: int(v.namespacePid),
    exe: str(v.exe),
    argvExact: v.argvExact === false ? false : undefined,
    check: {
      status,
      detail: str(check.detail) ?? "the gate did not say how the command compares",
    },
  };
  if (lines) {
    view.argv = {
      argv: [],
      lines,
      summary: "",
      totalArgs: int(argv?.totalArgs) ?? lines.length,
      capped: argv?.capped === true,
    };
  }
  return view;
}

/** What a CLI run prints to and reads from (injected by tests). */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
}

/** The process's stdout and stderr. */
export const processIO: CliIO = {
  out: (text) => console.log(text),
  err: (text) => console.error(text),
};

/** Runs `body` with an admin client on the configured socket; AdminError → `error: …`, exit 1. */
export async function withAdmin(
  invocation: Invocation,
  io: CliIO,
  body: (call: AdminCall) => Promise<number>,
): Promise<number> {
  let call: (AdminCall & { close(): void }) | undefined;
  try {
    call = unixAdminCall(invocation.config!.admin_socket_path);
    return await body(call);
  } catch (err) {
    if (err instanceof AdminError) {
      io.err(`error: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    call?.close();
  }
}

/** Lists every pending request, or shows one. */
export async function pendingCommand(
  call: AdminCall,
  id: string | undefined,
  io: CliIO,
  clock: Clock,
): Promise<number> {
  if (id !== undefined) {
    io.out(renderRequest(await fetchRequest(call, checkId(id)), clock));
    return 0;
  }
  const answer = await call("GET", ADMIN_PATHS.pending);
  if (answer.status !== 200) throw new AdminError(answerError(answer));
  const list = Array.isArray(answer.body.pending)
    ? answer.body.pending as PendingRequestJson[]
    : [];
  if (list.length === 0) {
    io.out("No pending requests.");
    return 0;
  }
  io.out(list.map((r) => renderRequest(r, clock)).join("\n\n"));
  return 0;
}

/** `authcalator pending [id]`. */
export function run(invocation: Invocation): Promise<number> {
  const id = invocation.positionals[0];
  if (id !== undefined) checkId(id, "pending");
  return withAdmin(invocation, processIO, async (call) => {
    return await pendingCommand(call, id, processIO, systemClock);
  });
}
