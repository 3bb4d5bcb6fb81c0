/**
 * git push over a route. Smart-HTTP push (`GET …/info/refs?service=git-receive-pack` and
 * `POST …/git-receive-pack`, plus the WebDAV verbs of git's old dumb-HTTP push) is refused with a
 * 403 whose text/plain body git prints as `remote: …` lines, unless the route says
 * `push = "approve"`. Then the push's command section (the pkt-lines naming each ref's old and new
 * object) is read from the request itself, bounded, and shown to a human through the same
 * confirmation chain as prod tokens; on approval the request is forwarded with those exact bytes
 * followed by the rest of the body, streamed; on any other answer the client gets git's own
 * report-status (`! [remote rejected] main -> main (why)`) or a 403 it prints.
 *
 * Why read the pkt-lines rather than trust a header: the refs a push updates are only in its body,
 * and a human approving "a push" without seeing which refs would approve anything. A command
 * section that is malformed, oversized, signed (push certificate) or compressed is refused: the
 * gate never forwards a push it could not show.
 * @module
 */
import { sanitizeText, truncate } from "../gate/command_display.ts";
import type { Timers } from "../gate/confirm/timers.ts";

/** What a route does with a git push. */
export type PushPolicy = "refuse" | "approve";

/** The longest pkt-line git writes (65520 bytes including its 4-byte length). */
export const MAX_PKT_LINE = 65520;
/** The most bytes of command section (shallow lines, commands, flush) read before refusing. */
export const MAX_COMMAND_SECTION_BYTES = 512 * 1024;
/** The most ref updates one push may carry. */
export const MAX_REF_UPDATES = 2000;
/** How many ref lines a human is shown (the rest are counted). */
export const SHOWN_REF_UPDATES = 20;
/** How long the client has to send the whole command section. */
export const COMMAND_SECTION_DEADLINE_MS = 30_000;
/** How much of a refused push's packfile is read and discarded so git reads the answer. */
export const MAX_DISCARDED_BYTES = 64 * 1024 * 1024;
/** A ref name longer than this is refused. */
export const MAX_REF_NAME = 1024;

/** Which git smart-HTTP service a request is, as far as push is concerned. */
export type GitRequestKind = "push" | "push-discovery" | "other";

// WebDAV verbs: git's dumb-HTTP push speaks them; no API a route serves does.
const WEBDAV_METHODS = new Set([
  "PROPFIND",
  "PROPPATCH",
  "MKCOL",
  "COPY",
  "MOVE",
  "LOCK",
  "UNLOCK",
]);

/**
 * Classifies a request by its route-relative path and query. Percent-encoding is decoded first and
 * matching ignores case, so `git%2Dreceive-pack` or `GIT-RECEIVE-PACK` are still a push; a path
 * that does not decode is treated as a push (refused), never as harmless.
 */
export function gitRequestKind(method: string, path: string, search: string): GitRequestKind {
  if (WEBDAV_METHODS.has(method.toUpperCase())) return "push";
  let decoded: string;
  try {
    decoded = decodeURIComponent(path).toLowerCase();
  } catch {
    return "push";
  }
  const last = decoded.replace(/\/+$/, "").split("/").pop() ?? "";
  if (last === "git-receive-pack") return "push";
  if (last === "refs" && decoded.replace(/\/+$/, "").endsWith("/info/refs")) {
    let params: URLSearchParams;
    try {
      params = new URLSearchParams(search.startsWith("?") ? search.slice(1) : search);
    } catch {
      return "push-discovery";
    }
    for (const value of params.getAll("service")) {
      if (value.trim().toLowerCase() === "git-receive-pack") return "push-discovery";
    }
  }
  return "other";
}

/** The repository a git request is about: its path without the service suffix, sanitised. */
export function repositoryOf(path: string): string {
  let p = path;
  try {
    p = decodeURIComponent(path);
  } catch { /* shown as sent */ }
  p = p.replace(/\/+(git-receive-pack|git-upload-pack|info\/refs)\/*$/i, "");
  return truncate(sanitizeText(p || "/"), 512);
}

/** One ref a push updates. */
export interface RefUpdate {
  ref: string;
  oldId: string;
  newId: string;
  kind: "create" | "update" | "delete";
}

/** A parsed command section. */
export interface PushCommands {
  updates: RefUpdate[];
  capabilities: string[];
  /** Bytes of the section, including its flush-pkt. */
  length: number;
}

/** A push the gate refuses to forward because its command section cannot be shown. */
export class PushParseError extends Error {
  override name = "PushParseError";
}

const OID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const ZERO = /^0+$/;
// git's check_refname_format, the parts that matter for showing a ref honestly: printable ASCII,
// no space, no `..`, no `@{`, no control characters, under refs/.
const REF_NAME = /^refs\/[\x21-\x7e]+$/;
const REF_FORBIDDEN = /\.\.|@\{|[~^:?*[\\]|\/\/|\/$|\.lock$|\.$/;

function checkRef(ref: string): void {
  if (ref.length > MAX_REF_NAME) throw new PushParseError("a ref name in the push is too long");
  if (!REF_NAME.test(ref) || REF_FORBIDDEN.test(ref)) {
    throw new PushParseError(`the push names an invalid ref: ${truncate(sanitizeText(ref), 80)}`);
  }
}

/**
 * Parses the command section at the start of a receive-pack request body: optional `shallow`
 * lines, then `old new ref` commands (the first carrying NUL and the capabilities), then a flush.
 * Returns undefined when `bytes` ends before the flush (more is needed); throws
 * {@link PushParseError} for anything malformed or over the caps.
 */
export function parsePushCommands(bytes: Uint8Array): PushCommands | undefined {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const updates: RefUpdate[] = [];
  let capabilities: string[] | undefined;
  let offset = 0;
  let seenCommand = false;
  while (true) {
    if (offset > MAX_COMMAND_SECTION_BYTES) {
      throw new PushParseError("the push's command section is over its size limit");
    }
    if (bytes.length - offset < 4) return undefined;
    const head = String.fromCharCode(...bytes.subarray(offset, offset + 4));
    if (!/^[0-9a-f]{4}$/.test(head)) {
      throw new PushParseError("the push is not a git receive-pack request (bad pkt-line length)");
    }
    const size = parseInt(head, 16);
    if (size === 0) {
      // A lone flush is git's probe (sent before a body over http.postBuffer): no ref changes.
      if (offset === 0) return { updates: [], capabilities: [], length: 4 };
      if (!seenCommand) throw new PushParseError("the push names no ref to update");
      offset += 4;
      if (offset > MAX_COMMAND_SECTION_BYTES) {
        throw new PushParseError("the push's command section is over its size limit");
      }
      return { updates, capabilities: capabilities ?? [], length: offset };
    }
    if (size < 5 || size > MAX_PKT_LINE) {
      throw new PushParseError(`the push has a malformed pkt-line (length ${size})`);
    }
    if (offset + size > MAX_COMMAND_SECTION_BYTES) {
      throw new PushParseError("the push's command section is over its size limit");
    }
    if (bytes.length - offset < size) return undefined;
    let line: string;
    try {
      line = decoder.decode(bytes.subarray(offset + 4, offset + size));
    } catch {
      throw new PushParseError("the push's command section is not valid UTF-8");
    }
    offset += size;
    if (line.endsWith("\n")) line = line.slice(0, -1);
    if (!seenCommand && line.startsWith("push-cert")) {
      throw new PushParseError(
        "signed pushes (push certificates) are not supported through a route; push unsigned",
      );
    }
    if (!seenCommand && line.startsWith("shallow ")) {
      if (!OID.test(line.slice(8))) {
        throw new PushParseError("the push has a malformed shallow line");
      }
      continue;
    }
    let command = line;
    if (!seenCommand) {
      const nul = line.indexOf("\0");
      if (nul >= 0) {
        command = line.slice(0, nul);
        capabilities = line.slice(nul + 1).split(" ").filter((c) => c.length > 0);
      } else {
        capabilities = [];
      }
    } else if (line.includes("\0")) {
      throw new PushParseError("the push has a malformed command (NUL after the first)");
    }
    const parts = command.split(" ");
    if (parts.length !== 3) throw new PushParseError("the push has a malformed command line");
    const [oldId, newId, ref] = parts;
    if (!OID.test(oldId) || !OID.test(newId) || oldId.length !== newId.length) {
      throw new PushParseError("the push has a malformed object id");
    }
    if (ZERO.test(oldId) && ZERO.test(newId)) {
      throw new PushParseError("the push has a command with two zero object ids");
    }
    checkRef(ref);
    seenCommand = true;
    if (updates.length >= MAX_REF_UPDATES) {
      throw new PushParseError(`the push updates more than ${MAX_REF_UPDATES} refs`);
    }
    updates.push({
      ref,
      oldId,
      newId,
      kind: ZERO.test(oldId) ? "create" : ZERO.test(newId) ? "delete" : "update",
    });
  }
}

/** What a human is shown about a push (JSON-safe, every string sanitised). */
export interface PushDisplay {
  route: string;
  repository: string;
  /** One line per ref shown: `refs/heads/main: 1a2b3c4d5e6f → 9f8e7d6c5b4a (update)`. */
  refs: string[];
  totalRefs: number;
  /** Who asked, as the container's routes proxy reports it (a claim, not the kernel's word). */
  reportedBy?: string;
}

const short = (id: string) => ZERO.test(id) ? "(none)" : id.slice(0, 12);

/** The display of a parsed push (at most {@link SHOWN_REF_UPDATES} ref lines, then a count). */
export function describePush(
  route: string,
  repository: string,
  updates: RefUpdate[],
  reportedBy?: string,
): PushDisplay {
  const refs = updates.slice(0, SHOWN_REF_UPDATES).map((u) =>
    `  ${sanitizeText(u.ref)}: ${short(u.oldId)} → ${short(u.newId)} (${u.kind})`
  );
  if (updates.length > SHOWN_REF_UPDATES) {
    refs.push(`  … and ${updates.length - SHOWN_REF_UPDATES} more ref(s)`);
  }
  return {
    route: sanitizeText(route),
    repository: sanitizeText(repository),
    refs,
    totalRefs: updates.length,
    ...(reportedBy ? { reportedBy: truncate(sanitizeText(reportedBy), 256) } : {}),
  };
}

/** The text of a refused push (git prints each line as `remote: …`). */
export function pushRefusedText(route: string): string {
  return [
    `git push is refused by authcalator: route '${sanitizeText(route)}' does not allow pushes.`,
    "The gate on the host holds the credential and only lets this container fetch and clone.",
    `To push, run git push on the host, or set push = "approve" on [routes.${
      sanitizeText(route)
    }] in the gate's configuration so each push is shown to a human for approval.`,
  ].join("\n") + "\n";
}

/** A 403 git prints: text/plain, one `remote:` line per line of text. */
export function gitTextRefusal(text: string, status = 403): Response {
  return new Response(text, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
  });
}

const encoder = new TextEncoder();

function pkt(data: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(data.length + 4);
  out.set(encoder.encode((data.length + 4).toString(16).padStart(4, "0")));
  out.set(data, 4);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const FLUSH = encoder.encode("0000");

/**
 * A rejected push in git's own protocol, so git prints `! [remote rejected] <ref> (<why>)` for
 * each ref and the explanation as `remote:` lines. Needs the client's `report-status` (every git
 * since 1.6 asks for it); without it, a 403 text answer.
 */
export function rejectedPushResponse(commands: PushCommands, why: string, text: string): Response {
  const caps = new Set(commands.capabilities);
  if (!caps.has("report-status") && !caps.has("report-status-v2")) return gitTextRefusal(text);
  const reason = truncate(sanitizeText(why), 200).replace(/\n/g, " ");
  const status = concat([
    pkt(encoder.encode("unpack ok\n")),
    ...commands.updates.map((u) => pkt(encoder.encode(`ng ${u.ref} ${reason}\n`))),
    FLUSH,
  ]);
  const band = caps.has("side-band-64k") ? 65515 : caps.has("side-band") ? 995 : 0;
  let body: Uint8Array<ArrayBuffer>;
  if (band === 0) {
    body = status;
  } else {
    const parts: Uint8Array[] = [];
    for (const line of text.split("\n").filter((l) => l.length > 0)) {
      parts.push(pkt(concat([Uint8Array.of(2), encoder.encode(`${line}\n`.slice(0, band))])));
    }
    for (let at = 0; at < status.length; at += band) {
      parts.push(pkt(concat([Uint8Array.of(1), status.subarray(at, at + band)])));
    }
    parts.push(FLUSH);
    body = concat(parts);
  }
  return new Response(body, {
    status: 200,
    headers: {
      "content-type": "application/x-git-receive-pack-result",
      "cache-control": "no-cache",
    },
  });
}

/** A human's answer about a push (the chain's Decision, narrowed to what this module needs). */
export interface PushDecision {
  approved: boolean;
  /** How it ended: approved, denied, timed_out, expired, cancelled, shutdown, rate_limited. */
  outcome: string;
  why: string;
}

/** What {@link guardGitPush} needs. */
export interface PushGuardOptions {
  /** The route's name, as the client addressed it. */
  route: string;
  /** The route's `push` setting (absent: refuse). */
  policy?: PushPolicy;
  /** Asks a human through the confirmation chain. */
  confirm(push: PushDisplay, signal: AbortSignal): Promise<PushDecision>;
  timers: Timers;
  /** Aborts when the client goes away or the gate stops. */
  signal: AbortSignal;
  /** The gate's log (never given a credential). */
  log?: (line: string) => void;
  /** Who asked, as the routes proxy reports it (`x-route-requester`), shown as a claim. */
  reportedBy?: string;
}

/** What to do with a request: forward it (maybe rebuilt), or answer it here. */
export type PushVerdict =
  | { action: "forward"; request: Request }
  | { action: "answer"; response: Response };

const OUTCOME_WHY: Record<string, string> = {
  denied: "push denied on the host",
  expired: "nobody approved the push on the host in time",
  timed_out: "the approval prompt on the host got no answer",
  cancelled: "the push was cancelled",
  shutdown: "the gate is shutting down",
};

/**
 * Applies the route's push policy to a request whose route-relative path and query are given.
 * Anything that is not a push is forwarded untouched. A push discovery is refused unless pushes
 * may be approved; a push's command section is read (bounded by size and
 * {@link COMMAND_SECTION_DEADLINE_MS}), shown to a human, and forwarded only on approval.
 */
export async function guardGitPush(
  request: Request,
  path: string,
  search: string,
  options: PushGuardOptions,
): Promise<PushVerdict> {
  const kind = gitRequestKind(request.method, path, search);
  if (kind === "other") return { action: "forward", request };
  const refusal = pushRefusedText(options.route);
  if (options.policy !== "approve") {
    await discardBody(request.body, options);
    return { action: "answer", response: gitTextRefusal(refusal) };
  }
  if (kind === "push-discovery") return { action: "forward", request };
  if (request.method.toUpperCase() !== "POST") {
    await discardBody(request.body, options);
    return {
      action: "answer",
      response: gitTextRefusal(
        "git push over dumb HTTP (WebDAV) is refused by authcalator; use smart HTTP.\n",
      ),
    };
  }
  const encoding = request.headers.get("content-encoding")?.trim().toLowerCase();
  if (encoding && encoding !== "identity") {
    await discardBody(request.body, options);
    return {
      action: "answer",
      response: gitTextRefusal(
        "a compressed git push cannot be shown for approval; authcalator refuses it.\n",
        415,
      ),
    };
  }
  if (!request.body) {
    return { action: "answer", response: gitTextRefusal("the push has no body.\n", 400) };
  }
  const reader = request.body.getReader();
  let section: { commands: PushCommands; buffered: Uint8Array<ArrayBuffer> };
  try {
    section = await readCommandSection(reader, options);
  } catch (err) {
    await reader.cancel().catch(() => {});
    const message = err instanceof PushParseError
      ? err.message
      : "the push's command section did not arrive";
    options.log?.(`gate: route '${sanitizeText(options.route)}' push refused: ${message}`);
    return {
      action: "answer",
      response: gitTextRefusal(`authcalator refused the push: ${message}.\n`, 400),
    };
  }
  if (section.commands.updates.length === 0) {
    // git's probe: a lone flush-pkt, which updates nothing. It is forwarded without asking, and
    // only when nothing follows it (anything after a lone flush is not git's probe).
    let probe: Uint8Array<ArrayBuffer> | undefined;
    try {
      probe = await readProbe(reader, section.buffered, options);
    } catch {
      probe = undefined;
    }
    if (!probe) {
      await reader.cancel().catch(() => {});
      return {
        action: "answer",
        response: gitTextRefusal(
          "authcalator refused the push: a push that names no ref must carry nothing else.\n",
          400,
        ),
      };
    }
    return { action: "forward", request: rebuilt(request, replayed(probe, emptyReader())) };
  }
  const display = describePush(
    options.route,
    repositoryOf(path),
    section.commands.updates,
    options.reportedBy,
  );
  let decision: PushDecision;
  try {
    decision = await options.confirm(display, options.signal);
  } catch (err) {
    await reader.cancel().catch(() => {});
    throw err;
  }
  if (!decision.approved || options.signal.aborted) {
    const outcome = options.signal.aborted ? "cancelled" : decision.outcome;
    const why = outcome === "rate_limited"
      ? `no approval asked: ${truncate(sanitizeText(decision.why), 160)}`
      : OUTCOME_WHY[outcome] ?? "push not approved on the host";
    await discardBody(reader, options);
    const text = `authcalator: ${why}; nothing was sent to the upstream.\n`;
    return { action: "answer", response: rejectedPushResponse(section.commands, why, text) };
  }
  return { action: "forward", request: rebuilt(request, replayed(section.buffered, reader)) };
}

/** `request` with `body` (the same bytes the client sent, replayed). */
function rebuilt(request: Request, body: ReadableStream<Uint8Array>): Request {
  return new Request(request.url, {
    method: request.method,
    headers: request.headers,
    body,
    signal: request.signal,
    // @ts-ignore: duplex is required for a streamed body and missing from older lib typings
    duplex: "half",
  });
}

function emptyReader(): ReadableStreamDefaultReader<Uint8Array> {
  return new ReadableStream<Uint8Array>({ start: (c) => c.close() }).getReader();
}

/**
 * The whole of a probe body: the lone flush and nothing after it (read to its end, bounded by
 * {@link COMMAND_SECTION_DEADLINE_MS}); undefined when more bytes follow.
 */
async function readProbe(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  buffered: Uint8Array<ArrayBuffer>,
  options: PushGuardOptions,
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  if (buffered.length > 4) return undefined;
  let timedOut = false;
  const cancelTimer = options.timers.setTimeout(() => {
    timedOut = true;
    reader.cancel().catch(() => {});
  }, COMMAND_SECTION_DEADLINE_MS);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (timedOut) return undefined;
      if (done) return buffered;
      if (value.length > 0) return undefined;
    }
  } finally {
    cancelTimer();
  }
}

/** Reads until the command section is whole; bounded in bytes and time. */
async function readCommandSection(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  options: PushGuardOptions,
): Promise<{ commands: PushCommands; buffered: Uint8Array<ArrayBuffer> }> {
  let buffered: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  let timedOut = false;
  const cancelTimer = options.timers.setTimeout(() => {
    timedOut = true;
    reader.cancel().catch(() => {});
  }, COMMAND_SECTION_DEADLINE_MS);
  const onAbort = () => reader.cancel().catch(() => {});
  options.signal.addEventListener("abort", onAbort, { once: true });
  try {
    while (true) {
      const parsed = parsePushCommands(buffered);
      if (parsed) return { commands: parsed, buffered };
      if (buffered.length > MAX_COMMAND_SECTION_BYTES) {
        throw new PushParseError("the push's command section is over its size limit");
      }
      const { done, value } = await reader.read();
      if (timedOut) throw new PushParseError("the push's command section did not arrive in time");
      if (options.signal.aborted) throw new PushParseError("the client went away");
      if (done) throw new PushParseError("the push ended before its command section did");
      buffered = concat([buffered, value]);
    }
  } finally {
    cancelTimer();
    options.signal.removeEventListener("abort", onAbort);
  }
}

/** The buffered bytes, then the rest of the client's body, streamed with backpressure. */
function replayed(
  head: Uint8Array,
  reader: ReadableStreamDefaultReader<Uint8Array>,
): ReadableStream<Uint8Array> {
  let sentHead = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!sentHead) {
        sentHead = true;
        if (head.length) return controller.enqueue(head);
      }
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/**
 * Reads and drops what is left of a refused request body (bounded in bytes and time) so the client
 * gets to read the answer instead of a reset; past the bound the body is cancelled.
 */
async function discardBody(
  body: ReadableStream<Uint8Array> | ReadableStreamDefaultReader<Uint8Array> | null,
  options: Pick<PushGuardOptions, "timers" | "signal">,
): Promise<void> {
  if (!body) return;
  const reader = body instanceof ReadableStream ? body.getReader() : body;
  const cancel = () => reader.cancel().catch(() => {});
  const cancelTimer = options.timers.setTimeout(cancel, COMMAND_SECTION_DEADLINE_MS);
  options.signal.addEventListener("abort", cancel, { once: true });
  let total = 0;
  try {
    while (total <= MAX_DISCARDED_BYTES) {
      const { done, value } = await reader.read();
      if (done) return;
      total += value.length;
    }
    await cancel();
  } catch {
    // A body that errors is as good as drained: the answer goes out either way.
  } finally {
    cancelTimer();
    options.signal.removeEventListener("abort", cancel);
  }
}
