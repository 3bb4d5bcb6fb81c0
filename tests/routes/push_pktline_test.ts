/**
 * The receive-pack command section parser and push detection (src/routes/git_push.ts): what a
 * human is shown about a push comes from here, so every bad form and every cap is refused, and
 * nothing that is a push is classified as harmless.
 */
import assert from "node:assert/strict";
import {
  describePush,
  gitRequestKind,
  MAX_COMMAND_SECTION_BYTES,
  MAX_PKT_LINE,
  MAX_REF_UPDATES,
  parsePushCommands,
  PushParseError,
  rejectedPushResponse,
  repositoryOf,
  SHOWN_REF_UPDATES,
} from "../../src/routes/git_push.ts";
import { join, pkt } from "./push_pkt.ts";

const enc = new TextEncoder();
const ZERO = "0".repeat(40);
const A = "a".repeat(40);
const B = "b".repeat(40);

const FLUSH = enc.encode("0000");
const CAPS = "report-status side-band-64k quiet object-format=sha1 agent=git/2.39.5";

function refused(bytes: Uint8Array, pattern: RegExp) {
  assert.throws(() => parsePushCommands(bytes), (err: unknown) => {
    assert.ok(err instanceof PushParseError, String(err));
    assert.match(err.message, pattern);
    return true;
  });
}

Deno.test("push detection: receive-pack and its discovery, however spelled; fetch is not a push", () => {
  assert.equal(gitRequestKind("POST", "/o/r.git/git-receive-pack", ""), "push");
  assert.equal(gitRequestKind("POST", "/o/r.git/GIT-RECEIVE-PACK", ""), "push");
  assert.equal(gitRequestKind("POST", "/o/r.git/git%2Dreceive-pack", ""), "push");
  assert.equal(gitRequestKind("POST", "/o/r.git/git-receive-pack/", ""), "push");
  assert.equal(gitRequestKind("POST", "/o/%E0%A4%A.git/x", ""), "push", "undecodable: refused");
  assert.equal(
    gitRequestKind("GET", "/o/r.git/info/refs", "?service=git-receive-pack"),
    "push-discovery",
  );
  assert.equal(
    gitRequestKind(
      "GET",
      "/o/r.git/info/refs",
      "?service=git-upload-pack&service=git-receive-pack",
    ),
    "push-discovery",
  );
  assert.equal(
    gitRequestKind("GET", "/o/r.git/info/refs", "?service=GIT-RECEIVE-PACK"),
    "push-discovery",
  );
  for (const verb of ["PROPFIND", "MKCOL", "LOCK", "MOVE", "propfind"]) {
    assert.equal(gitRequestKind(verb, "/o/r.git/", ""), "push", verb);
  }
  assert.equal(gitRequestKind("GET", "/o/r.git/info/refs", "?service=git-upload-pack"), "other");
  assert.equal(gitRequestKind("POST", "/o/r.git/git-upload-pack", ""), "other");
  assert.equal(gitRequestKind("GET", "/repos/o/r/pulls", ""), "other");
  assert.equal(gitRequestKind("GET", "/o/git-receive-pack-docs/readme", ""), "other");
});

Deno.test("the repository shown is the path without the git service suffix, sanitised", () => {
  assert.equal(repositoryOf("/o/r.git/git-receive-pack"), "/o/r.git");
  assert.equal(repositoryOf("/o/r.git/info/refs"), "/o/r.git");
  assert.ok(!repositoryOf("/o/\x1b[31mred.git/git-receive-pack").includes("\x1b"));
});

Deno.test("a command section: shallow lines, capabilities, create/update/delete, sha256 ids", () => {
  const C = "c".repeat(64);
  const D = "d".repeat(64);
  const sha1 = join(
    pkt(`shallow ${A}\n`),
    pkt(`${A} ${B} refs/heads/main\0${CAPS}\n`),
    pkt(`${ZERO} ${B} refs/tags/v1\n`),
    pkt(`${A} ${ZERO} refs/heads/old`),
    FLUSH,
    enc.encode("PACK…"),
  );
  const parsed = parsePushCommands(sha1)!;
  assert.deepEqual(parsed.capabilities, CAPS.split(" "));
  assert.deepEqual(parsed.updates.map((u) => [u.ref, u.kind]), [
    ["refs/heads/main", "update"],
    ["refs/tags/v1", "create"],
    ["refs/heads/old", "delete"],
  ]);
  assert.equal(parsed.length, sha1.length - enc.encode("PACK…").length);
  const sha256 = parsePushCommands(join(pkt(`${C} ${D} refs/heads/main\0report-status\n`), FLUSH))!;
  assert.equal(sha256.updates[0].newId, D);
});

Deno.test("an incomplete command section asks for more bytes, at every cut", () => {
  const whole = join(pkt(`${A} ${B} refs/heads/main\0${CAPS}\n`), FLUSH);
  for (let cut = 0; cut < whole.length; cut++) {
    assert.equal(parsePushCommands(whole.subarray(0, cut)), undefined, `cut ${cut}`);
  }
  assert.ok(parsePushCommands(whole));
});

Deno.test("bad forms of the command section are refused, each with its reason", () => {
  const first = (line: string) => join(pkt(line), FLUSH);
  refused(enc.encode("zz12abcd"), /bad pkt-line length/);
  refused(enc.encode("00010000"), /malformed pkt-line \(length 1\)/);
  refused(enc.encode("0004"), /malformed pkt-line \(length 4\)/);
  refused(enc.encode((MAX_PKT_LINE + 1).toString(16)), /malformed pkt-line/);
  assert.deepEqual(parsePushCommands(FLUSH), { updates: [], capabilities: [], length: 4 });
  refused(join(pkt(`shallow ${A}\n`), FLUSH), /names no ref/);
  refused(first(`${A} ${B}\0${CAPS}\n`), /malformed command line/);
  refused(first(`${A} ${B} refs/heads/x extra\n`), /malformed command line/);
  refused(first(`${A.slice(1)}g ${B} refs/heads/x\n`), /malformed object id/);
  refused(first(`${A} ${"b".repeat(64)} refs/heads/x\n`), /malformed object id/);
  refused(first(`${ZERO} ${ZERO} refs/heads/x\n`), /two zero object ids/);
  refused(first(`shallow nothex\n`), /malformed shallow/);
  for (
    const ref of [
      "HEAD",
      "refs/heads/a..b",
      "refs/heads/x\x1b[2J",
      "refs/heads/a b",
      "refs/heads/x.lock",
      "refs/heads/",
      "refs/heads/@{u}",
    ]
  ) {
    refused(first(`${A} ${B} ${ref}\n`), /invalid ref|malformed command line/);
  }
  refused(first(`${A} ${B} refs/heads/${"x".repeat(1100)}\n`), /too long/);
  refused(
    join(pkt(`${A} ${B} refs/heads/a\0report-status\n`), pkt(`${A} ${B} refs/heads/b\0x\n`), FLUSH),
    /NUL after the first/,
  );
  refused(first(`push-cert\0${CAPS}\n`), /signed pushes/);
  refused(
    join(pkt(join(enc.encode(`${A} ${B} refs/heads/`), Uint8Array.of(0xff, 0xfe))), FLUSH),
    /not valid UTF-8/,
  );
});

Deno.test("caps: more than MAX_REF_UPDATES refs, or a section over its byte limit, is refused", () => {
  const many: Uint8Array[] = [pkt(`${A} ${B} refs/heads/b0\0report-status\n`)];
  for (let i = 1; i <= MAX_REF_UPDATES; i++) many.push(pkt(`${A} ${B} refs/heads/b${i}\n`));
  refused(join(...many, FLUSH), new RegExp(`more than ${MAX_REF_UPDATES} refs`));
  // Shallow lines only, never a flush: refused once past the cap, not read forever.
  const shallow = pkt(`shallow ${A}\n`);
  const lines = Math.ceil(MAX_COMMAND_SECTION_BYTES / shallow.length) + 2;
  const endless = join(...Array.from({ length: lines }, () => shallow));
  refused(endless, /over its size limit/);
});

Deno.test("what a human sees: each ref old → new, capped with a count of the rest", () => {
  const updates = Array.from({ length: SHOWN_REF_UPDATES + 5 }, (_, i) => ({
    ref: `refs/heads/b${i}`,
    oldId: i === 0 ? ZERO : A,
    newId: B,
    kind: i === 0 ? "create" as const : "update" as const,
  }));
  const view = describePush("github", "/o/r.git", updates);
  assert.equal(view.totalRefs, SHOWN_REF_UPDATES + 5);
  assert.equal(view.refs.length, SHOWN_REF_UPDATES + 1);
  assert.equal(view.refs[0], `  refs/heads/b0: (none) → ${"b".repeat(12)} (create)`);
  assert.equal(view.refs[1], `  refs/heads/b1: ${"a".repeat(12)} → ${"b".repeat(12)} (update)`);
  assert.equal(view.refs.at(-1), "  … and 5 more ref(s)");
});

/** Reads pkt-lines (and side-band packets) back, as git does. */
function readPkts(bytes: Uint8Array): (Uint8Array | null)[] {
  const out: (Uint8Array | null)[] = [];
  let at = 0;
  while (at < bytes.length) {
    const size = parseInt(new TextDecoder().decode(bytes.subarray(at, at + 4)), 16);
    if (size === 0) {
      out.push(null);
      at += 4;
      continue;
    }
    out.push(bytes.subarray(at + 4, at + size));
    at += size;
  }
  return out;
}

Deno.test("a rejected push answers in git's report-status, in side-band 1, message in band 2", async () => {
  const commands = parsePushCommands(join(
    pkt(`${A} ${B} refs/heads/main\0report-status side-band-64k\n`),
    pkt(`${ZERO} ${B} refs/tags/v1\n`),
    FLUSH,
  ))!;
  const res = rejectedPushResponse(commands, "push denied on the host", "line one\nline two\n");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/x-git-receive-pack-result");
  const packets = readPkts(new Uint8Array(await res.arrayBuffer()));
  assert.equal(packets.at(-1), null);
  const dec = new TextDecoder();
  const progress = packets.filter((p) => p && p[0] === 2).map((p) => dec.decode(p!.subarray(1)));
  assert.deepEqual(progress, ["line one\n", "line two\n"]);
  const status = join(...packets.filter((p) => p && p[0] === 1).map((p) => p!.subarray(1)));
  assert.deepEqual(readPkts(status).map((p) => p && dec.decode(p)), [
    "unpack ok\n",
    "ng refs/heads/main push denied on the host\n",
    "ng refs/tags/v1 push denied on the host\n",
    null,
  ]);
  // Without side-band: bare report-status; without report-status: a 403 git prints.
  const plain = parsePushCommands(join(pkt(`${A} ${B} refs/heads/main\0report-status\n`), FLUSH))!;
  const bare = readPkts(
    new Uint8Array(await rejectedPushResponse(plain, "no", "t\n").arrayBuffer()),
  );
  assert.equal(new TextDecoder().decode(bare[0]!), "unpack ok\n");
  const none = parsePushCommands(join(pkt(`${A} ${B} refs/heads/main\0\n`), FLUSH))!;
  const refusal = rejectedPushResponse(none, "no", "why\n");
  assert.equal(refusal.status, 403);
  assert.equal(await refusal.text(), "why\n");
});
