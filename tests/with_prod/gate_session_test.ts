/** The prod-session request as with-prod puts it on the wire. */
import assert from "node:assert/strict";
import {
  GATE_DEADLINES,
  GateSessionClient,
  sessionHeaders,
  sessionPath,
} from "../../src/with_prod/gate_session.ts";
import { HELD_SESSION_CONTENT_TYPE } from "../../src/gate_api/session_hold.ts";
import { DeadlineError } from "../../src/http/deadline_fetch.ts";
import { systemClock } from "../../src/clock.ts";
import { realTimers } from "../../src/gate/confirm/timers.ts";
import { GATE_PATHS, PROD_HEADERS } from "../../src/gate_api/wire.ts";

const base = {
  argv: ["gcloud", "sql", "instances", "list"],
  pendingId: "0123456789abcdef0123456789abcdef",
  targetProject: "prod-proj",
  scopes: ["https://www.googleapis.com/auth/cloud-platform"],
};

Deno.test("the path carries the scopes comma-joined and only the options that were set", () => {
  assert.equal(
    sessionPath(base),
    `${GATE_PATHS.session}?scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform`,
  );
  const url = new URL(
    `http://x${
      sessionPath({
        ...base,
        scopes: ["a b", "c,d&e=f"],
        pamPolicy: "p&x=1",
        tokenTtlSeconds: 600,
        sessionTtlSeconds: 3600,
      })
    }`,
  );
  // A scope with separators cannot smuggle a second parameter or split into two scopes.
  assert.deepEqual(url.searchParams.getAll("scopes"), ["a b,c,d&e=f"]);
  assert.equal(url.searchParams.get("pam_policy"), "p&x=1");
  assert.equal(url.searchParams.get("token_ttl_seconds"), "600");
  assert.equal(url.searchParams.get("session_ttl_seconds"), "3600");
  assert.equal(url.searchParams.get("x"), null);
  assert.equal(url.searchParams.get("e"), null);
});

Deno.test("the headers are the wire module's names; the command is the bounded JSON argv", () => {
  const h = sessionHeaders(base);
  assert.deepEqual(Object.keys(h).sort(), Object.values(PROD_HEADERS).sort());
  assert.deepEqual(JSON.parse(h[PROD_HEADERS.wrappedCommand]), base.argv);
  assert.equal(h[PROD_HEADERS.pendingId], base.pendingId);
  assert.equal(h[PROD_HEADERS.targetProject], "prod-proj");
  // A header value never carries a raw newline or non-ASCII byte.
  const odd = sessionHeaders({ ...base, argv: ["echo", "a\r\nX-Evil: 1", "ü"] });
  assert.match(odd[PROD_HEADERS.wrappedCommand], /^[\x20-\x7e]+$/);
  assert.deepEqual(JSON.parse(odd[PROD_HEADERS.wrappedCommand]), [
    "echo",
    "a\r\nX-Evil: 1",
    "ü",
  ]);
});

/** A gate on a Unix socket whose `POST /session` is `answer`. */
async function fakeGate(answer: (req: Request) => Response) {
  const dir = await Deno.makeTempDir();
  const server = Deno.serve(
    { path: `${dir}/g.sock`, transport: "unix", onListen() {} },
    (req) => answer(req),
  );
  return {
    socket: `${dir}/g.sock`,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const request = { ...base, pendingId: "0123456789abcdef0123456789abcdef" };

Deno.test("a gate that sends the held answer's headers and then stalls: the deadline fires and closes the connection", async () => {
  const saved = GATE_DEADLINES.createSession;
  GATE_DEADLINES.createSession = 300;
  let serverSawAbort!: Promise<void>;
  try {
    await using gate = await fakeGate((req) => {
      serverSawAbort = new Promise((resolve) =>
        req.signal.addEventListener("abort", () => resolve(), { once: true })
      );
      return new Response(new ReadableStream({ start() {} }), {
        headers: { "content-type": HELD_SESSION_CONTENT_TYPE },
      });
    });
    const client = new GateSessionClient(gate.socket, systemClock);
    try {
      await assert.rejects(
        () => client.createSession(request, undefined, realTimers),
        (e) =>
          e instanceof DeadlineError &&
          e.message ===
            "timed out after 300 ms while waiting for the gate to approve a prod session",
      );
      // The work is cancelled, not just abandoned: the gate sees its client go (bounded wait).
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        serverSawAbort,
        new Promise((_, reject) =>
          timer = setTimeout(() => reject(new Error("no abort seen")), 5_000)
        ),
      ]).finally(() => clearTimeout(timer));
    } finally {
      client.close();
    }
  } finally {
    GATE_DEADLINES.createSession = saved;
  }
});

Deno.test("the caller's abort (a signal during acquisition) cancels the held request at once", async () => {
  await using gate = await fakeGate(() =>
    new Response(new ReadableStream({ start() {} }), {
      headers: { "content-type": HELD_SESSION_CONTENT_TYPE },
    })
  );
  const client = new GateSessionClient(gate.socket, systemClock);
  try {
    const controller = new AbortController();
    const pending = client.createSession(request, controller.signal, realTimers);
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(() => pending, (e) => !(e instanceof DeadlineError));
  } finally {
    client.close();
  }
});
