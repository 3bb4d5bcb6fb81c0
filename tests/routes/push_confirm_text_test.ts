/**
 * What every approval surface shows for a git push (src/gate/confirm/text.ts, dialogs.ts,
 * terminal.ts): the repository and route in the question, each ref old → new in the body, the
 * requester and pairing code as for prod requests, and nothing a ref name could smuggle in
 * (control bytes are sanitised before any surface prints them).
 */
import assert from "node:assert/strict";
import { osascriptInvocation, zenityInvocation } from "../../src/gate/confirm/dialogs.ts";
import { type TerminalIO, terminalPrompt } from "../../src/gate/confirm/terminal.ts";
import { type ConfirmRequest, dialogBody, headline } from "../../src/gate/confirm/text.ts";
import { describePush } from "../../src/routes/git_push.ts";
import { FakeTimers } from "../gate/confirm/fake_timers.ts";

const A = "a".repeat(40);
const B = "b".repeat(40);

function pushRequest(): ConfirmRequest {
  return {
    email: "the credential of route 'github'",
    pairingCode: "ABC-DEF",
    push: describePush("github", "/o/r.git", [
      { ref: "refs/heads/main", oldId: A, newId: B, kind: "update" },
      { ref: "refs/heads/x\x1b[2Jevil", oldId: "0".repeat(40), newId: B, kind: "create" },
    ], "client=127.0.0.1:4242"),
  };
}

Deno.test("dialogs: the question names repo and route; the body lists each ref old → new", () => {
  const req = pushRequest();
  assert.equal(headline(req), "Allow a git push to /o/r.git through route 'github'?");
  const body = dialogBody(req);
  assert.match(body, /Pairing code: ABC-DEF/);
  assert.match(body, /Reported by the container's routes proxy: client=127\.0\.0\.1:4242/);
  assert.match(body, /Refs this push updates \(2\), old → new, read from the push itself:/);
  assert.match(body, /refs\/heads\/main: a{12} → b{12} \(update\)/);
  assert.match(body, /\(none\) → b{12} \(create\)/);
  assert.ok(!body.includes("\x1b"), "control bytes never reach a surface");
  const zenity = zenityInvocation(req);
  assert.ok(zenity.args.includes("--title=authcalator gate: git push"));
  assert.ok(zenity.args.includes("--checkbox=I have read every ref being updated"));
  const osa = osascriptInvocation(req);
  assert.match(osa.stdin!, /refs\/heads\/main: a{12} → b{12} \(update\)/);
  assert.match(osa.stdin!, /with title "authcalator gate: git push"/);
});

Deno.test("terminal: the push is shown, then 'yes' approves it", async () => {
  const written: string[] = [];
  const io: TerminalIO = {
    write: (t) => written.push(t),
    readLine: () => Promise.resolve("yes"),
    discardTypeAhead() {},
  };
  const result = await terminalPrompt(pushRequest(), io, new FakeTimers());
  assert.equal(result.outcome, "approved");
  const text = written.join("");
  assert.match(text, /refs\/heads\/main: a{12} → b{12} \(update\)/);
  assert.match(text, /Allow a git push to \/o\/r\.git through route 'github'\? Type 'yes'/);
});
