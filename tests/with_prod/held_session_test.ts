/** The held session's stream, read over in-memory streams and fake timers. */
import assert from "node:assert/strict";
import {
  HoldProtocolError,
  holdSession,
  MAX_LINE_BYTES,
  SILENCE_LIMIT_MS,
} from "../../src/with_prod/held_session.ts";
import { HOLD_HEARTBEAT } from "../../src/gate_api/session_hold.ts";
import { FakeTimers, flush } from "../gate/confirm/fake_timers.ts";

/** A stream the test writes into, and whether the client aborted its connection. */
function pipe() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => controller = c });
  const encoder = new TextEncoder();
  const state = { aborted: 0 };
  return {
    body,
    state,
    abort: () => state.aborted++,
    write: (text: string) => controller.enqueue(encoder.encode(text)),
    close: () => controller.close(),
    error: (e: unknown) => controller.error(e),
  };
}

/** Resolves to the reason if the hold was lost by now, else undefined. */
async function lostYet(lost: Promise<string>): Promise<string | undefined> {
  let reason: string | undefined;
  lost.then((r) => reason = r);
  // Each chunk read is a few promise turns: give a bounded number of them.
  for (let i = 0; i < 50 && reason === undefined; i++) await flush();
  return reason;
}

const SESSION = '{"session_id":"x","email":"e@x"}';

Deno.test("the first line is the session, split across chunks; heartbeats keep the hold", async () => {
  const timers = new FakeTimers();
  const p = pipe();
  p.write(SESSION.slice(0, 10));
  p.write(SESSION.slice(10) + "\n");
  const { first, hold } = await holdSession(p.body, p.abort, timers);
  assert.equal(first, SESSION);
  for (let i = 0; i < 5; i++) {
    await timers.advance(SILENCE_LIMIT_MS - 1);
    p.write(HOLD_HEARTBEAT);
    await flush();
  }
  assert.equal(await lostYet(hold.lost), undefined);
  assert.equal(p.state.aborted, 0);
  hold.release();
  await flush();
  assert.equal(p.state.aborted, 1, "release closes the connection");
  assert.equal(await lostYet(hold.lost), undefined, "a release is not a loss");
  assert.equal(timers.armed, 0, "no timer left behind");
});

Deno.test("the gate closing the stream is noticed at once, with a reason", async () => {
  const timers = new FakeTimers();
  const p = pipe();
  p.write(SESSION + "\n");
  const { hold } = await holdSession(p.body, p.abort, timers);
  p.close();
  assert.match((await lostYet(hold.lost))!, /the gate closed the held session/);
  assert.equal(timers.armed, 0);
});

Deno.test("a broken connection is a loss", async () => {
  const p = pipe();
  p.write(SESSION + "\n");
  const { hold } = await holdSession(p.body, p.abort, new FakeTimers());
  p.error(new TypeError("connection reset"));
  assert.match((await lostYet(hold.lost))!, /the connection to the gate broke/);
});

Deno.test("silence longer than three heartbeats is a loss and closes the connection", async () => {
  const timers = new FakeTimers();
  const p = pipe();
  p.write(SESSION + "\n");
  const { hold } = await holdSession(p.body, p.abort, timers);
  await timers.advance(SILENCE_LIMIT_MS - 1);
  assert.equal(await lostYet(hold.lost), undefined);
  await timers.advance(1);
  assert.equal(
    await lostYet(hold.lost),
    `no heartbeat from the gate for ${SILENCE_LIMIT_MS / 1000} s`,
  );
  assert.equal(p.state.aborted, 1);
});

Deno.test("a status other than active ends the hold; only a plain short reason is repeated", async () => {
  for (
    const [line, expected] of [
      [
        '{"status":"revoked","reason":"gate stopping"}',
        "the gate ended the session (revoked: gate stopping)",
      ],
      ['{"status":"ended"}', "the gate ended the session (ended)"],
      [
        '{"status":"revoked","reason":"\\u001b[31mspoof\\nline"}',
        "the gate ended the session (revoked)",
      ],
      ['{"status":"REVOKED; rm -rf"}', "the gate sent a line that is not a heartbeat"],
      ['{"status":7}', "the gate sent a line that is not a heartbeat"],
      ["[1,2]", "the gate sent a line that is not a JSON object"],
      ["null", "the gate sent a line that is not a JSON object"],
      ["not json", "the gate sent a line that is not JSON"],
    ]
  ) {
    const p = pipe();
    p.write(SESSION + "\n");
    const { hold } = await holdSession(p.body, p.abort, new FakeTimers());
    p.write(line + "\n");
    assert.equal(await lostYet(hold.lost), expected, line);
    assert.equal(p.state.aborted, 1, line);
  }
});

Deno.test("blank lines are tolerated keep-alives, before and after the session", async () => {
  const p = pipe();
  p.write("\n\n" + SESSION + "\n\n");
  const { first, hold } = await holdSession(p.body, p.abort, new FakeTimers());
  assert.equal(first, SESSION);
  assert.equal(await lostYet(hold.lost), undefined);
  hold.release();
});

Deno.test("bad forms before the session: empty stream, half a line, an endless line, a reset", async () => {
  const empty = pipe();
  empty.close();
  await assert.rejects(
    () => holdSession(empty.body, empty.abort, new FakeTimers()),
    (e) => e instanceof HoldProtocolError && /ended before the session arrived/.test(e.message),
  );
  assert.equal(empty.state.aborted, 1);

  const half = pipe();
  half.write('{"session_id":');
  half.close();
  await assert.rejects(
    () => holdSession(half.body, half.abort, new FakeTimers()),
    /ended in the middle of a line/,
  );

  const endless = pipe();
  const chunk = "x".repeat(16 * 1024);
  for (let i = 0; i <= MAX_LINE_BYTES / chunk.length; i++) endless.write(chunk);
  await assert.rejects(
    () => holdSession(endless.body, endless.abort, new FakeTimers()),
    new RegExp(`exceeded ${MAX_LINE_BYTES} bytes`),
  );
  assert.equal(endless.state.aborted, 1);

  const reset = pipe();
  reset.error(new TypeError("connection reset"));
  await assert.rejects(
    () => holdSession(reset.body, reset.abort, new FakeTimers()),
    /connection broke before the session arrived/,
  );
});

Deno.test("an endless heartbeat line after the session is a loss, not unbounded buffering", async () => {
  const p = pipe();
  p.write(SESSION + "\n");
  const { hold } = await holdSession(p.body, p.abort, new FakeTimers());
  for (let i = 0; i <= MAX_LINE_BYTES / 1024; i++) p.write("y".repeat(1024));
  assert.match((await lostYet(hold.lost))!, /exceeded/);
});
