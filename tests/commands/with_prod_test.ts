/** with-prod's failures before anything is asked: usage, configuration, an unreachable gate. */
import assert from "node:assert/strict";
import { runCli } from "../helpers/cli.ts";
import { denoDirEnv } from "../e2e/prod_stack.ts";
import { pairingCode } from "../../src/gate_api/pairing_code.ts";
import { PROD_OUTCOME_CODES } from "../../src/gate_api/prod_outcome.ts";
import { HELD_SESSION_CONTENT_TYPE, SESSION_HOLD_HEADER } from "../../src/gate_api/session_hold.ts";

Deno.test("with-prod without a command is a usage error", async () => {
  const r = await runCli(["with-prod", "--project", "p"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /with-prod requires a command to wrap/);
});

Deno.test("with-prod without a project says how to give one", async () => {
  const r = await runCli(["with-prod", "--", "true"], {
    env: { HOME: "/nonexistent", ...denoDirEnv() },
  });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /with-prod needs a target project: --project/);
});

Deno.test("with-prod with an unreachable gate fails in the preflight and runs nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await runCli([
      "with-prod",
      "--socket-path",
      `${dir}/missing.sock`,
      "--project",
      "p",
      "--",
      "bash",
      "-c",
      `touch ${dir}/ran`,
    ], { env: { XDG_RUNTIME_DIR: dir, HOME: dir, ...denoDirEnv() } });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /with-prod: failed to acquire prod token: cannot reach the gate at .*missing\.sock/,
    );
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names, [], "no sandbox, no marker");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("with-prod with a gate_url and no client bundle or token file names every source", async () => {
  const r = await runCli([
    "with-prod",
    "--project",
    "p",
    "--gate-url",
    "https://gate.example:8443",
    "--",
    "true",
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /gate_url is set but no TLS client bundle is available: pass --tls-bundle/,
  );
});

// ---- against a fake gate on a Unix socket: outcomes, the held session's bad forms ----

const SESSION_JSON = JSON.stringify({
  session_id: "ab".repeat(32),
  email: "eng@example.com",
  access_token: "ya29.fake-prod",
  expires_in: 3600,
});

interface FakeGate extends AsyncDisposable {
  dir: string;
  socket: string;
  requests: { method: string; path: string; headers: Headers }[];
}

/** A gate that answers `/health`, `DELETE /session`, and `POST /session` with `answer`. */
async function fakeGate(
  answer: (req: Request) => Response | Promise<Response>,
  routes: { token?: boolean } = {},
): Promise<FakeGate> {
  const dir = await Deno.makeTempDir();
  const socket = `${dir}/g.sock`;
  const requests: FakeGate["requests"] = [];
  const server = Deno.serve({ path: socket, transport: "unix", onListen() {} }, (req) => {
    const url = new URL(req.url);
    requests.push({ method: req.method, path: url.pathname + url.search, headers: req.headers });
    if (url.pathname === "/health") return new Response("ok");
    if (url.pathname === "/session" && req.method === "POST") return answer(req);
    if (url.pathname === "/token" && routes.token) return answer(req);
    if (url.pathname === "/session" && req.method === "DELETE") return Response.json({});
    if (url.pathname.startsWith("/routes/")) {
      // What a routed call carried to the gate (the session is checked by the test, not echoed
      // anywhere else).
      return Response.json({
        route: url.pathname,
        target: req.headers.get("x-route-target"),
        session: req.headers.get("x-route-session"),
      });
    }
    return new Response("not found", { status: 404 });
  });
  return {
    dir,
    socket,
    requests,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

function runWithProd(gate: FakeGate, command: string) {
  return runCli(
    ["with-prod", "--socket-path", gate.socket, "--project", "p", "--", "bash", "-c", command],
    { env: { XDG_RUNTIME_DIR: `${gate.dir}/run`, HOME: gate.dir, ...denoDirEnv() } },
  );
}

/** An NDJSON answer whose body the test writes. */
function heldAnswer() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => controller = c });
  const response = new Response(body, {
    headers: { "content-type": HELD_SESSION_CONTENT_TYPE },
  });
  const encoder = new TextEncoder();
  return {
    response,
    write: (text: string) => controller.enqueue(encoder.encode(text)),
    close: () => controller.close(),
  };
}

Deno.test("each way a request ends without a grant has its own message and exit code; nothing runs", async () => {
  const cases = [
    [403, PROD_OUTCOME_CODES.denied, 80, /denied by a human on the host/],
    [408, PROD_OUTCOME_CODES.expired, 81, /Prod request expired: nobody approved it/],
    [408, PROD_OUTCOME_CODES.timedOut, 82, /Prod request timed out: the approval dialog/],
    [499, PROD_OUTCOME_CODES.cancelled, 83, /Prod request cancelled/],
    [429, PROD_OUTCOME_CODES.rateLimited, 84, /too many prod requests/],
    [503, PROD_OUTCOME_CODES.shuttingDown, 85, /The gate is shutting down/],
    [500, "something_new", 1, /a gate error nobody mapped/],
  ] as const;
  for (const [status, code, exit, message] of cases) {
    const error = code === PROD_OUTCOME_CODES.rateLimited
      ? "too many prod requests"
      : "a gate error nobody mapped";
    await using gate = await fakeGate(() => Response.json({ error, code }, { status }));
    const r = await runWithProd(gate, `touch ${gate.dir}/ran`);
    assert.equal(r.code, exit, `${code}: ${r.stderr}`);
    assert.match(r.stderr, message, code);
    assert.ok(!(await exists(`${gate.dir}/ran`)), `${code}: the command never ran`);
  }
});

Deno.test("with-prod asks for a held session and prints the pairing code of the id it sent", async () => {
  await using gate = await fakeGate(() =>
    Response.json({ error: "no", code: PROD_OUTCOME_CODES.denied }, { status: 403 })
  );
  const r = await runWithProd(gate, "true");
  const post = gate.requests.find((q) => q.method === "POST")!;
  assert.equal(post.headers.get(SESSION_HOLD_HEADER), "1");
  const id = post.headers.get("x-pending-id")!;
  assert.match(id, /^[0-9a-f]{32}$/);
  const code = await pairingCode(id);
  assert.match(
    r.stderr,
    new RegExp(`pairing code ${code} — approve only a request that shows ${code}`),
  );
  assert.deepEqual(JSON.parse(post.headers.get("x-wrapped-command")!), ["bash", "-c", "true"]);
});

Deno.test("bad forms of the held answer fail closed: exit 1, a clear message, nothing runs", async () => {
  const cases: [string, (h: ReturnType<typeof heldAnswer>) => void, RegExp][] = [
    [
      "closed before the session",
      (h) => h.close(),
      /held session ended before the session arrived/,
    ],
    ["half a line", (h) => (h.write('{"session_id":'), h.close()), /ended in the middle of a line/],
    ["not JSON", (h) => h.write("hello\n"), /held session did not start with JSON/],
    [
      "no session id",
      (h) => h.write('{"email":"e@x","access_token":"ya29.x"}\n'),
      /no valid session_id/,
    ],
    [
      "no token",
      (h) => h.write(`{"session_id":"${"ab".repeat(32)}","email":"e@x"}\n`),
      /no access_token/,
    ],
  ];
  for (const [name, feed, message] of cases) {
    await using gate = await fakeGate(() => {
      const h = heldAnswer();
      feed(h);
      return h.response;
    });
    const r = await runWithProd(gate, `touch ${gate.dir}/ran`);
    assert.equal(r.code, 1, `${name}: ${r.stderr}`);
    assert.match(r.stderr, message, name);
    assert.ok(!(await exists(`${gate.dir}/ran`)), `${name}: the command never ran`);
    assert.ok(!r.stderr.includes("ab".repeat(32)), "no session id in any message");
  }
});

Deno.test("the command gets AUTHCALATOR_ROUTES_URL: its routed calls carry the session to the gate", async () => {
  await using gate = await fakeGate(() => Response.json(JSON.parse(SESSION_JSON)));
  const probe =
    `U=\${AUTHCALATOR_ROUTES_URL#http://}; exec 3<>/dev/tcp/\${U%:*}/\${U#*:}; printf ` +
    `'GET /admin/v1/x?y=1 HTTP/1.1\\r\\nHost: %s\\r\\nConnection: close\\r\\n\\r\\n' "$U" >&3; cat <&3`;
  const r = await runWithProd(
    gate,
    `echo "$AUTHCALATOR_ROUTES_URL" > ${gate.dir}/url; (${probe}) > ${gate.dir}/routed`,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(await Deno.readTextFile(`${gate.dir}/url`), /^http:\/\/127\.0\.0\.1:\d+\n$/);
  const routed = await Deno.readTextFile(`${gate.dir}/routed`);
  assert.match(routed, /^HTTP\/1\.1 200/);
  const body = JSON.parse(routed.slice(routed.indexOf("\r\n\r\n") + 4));
  assert.deepEqual(body, { route: "/routes/admin", target: "/v1/x?y=1", session: "ab".repeat(32) });
  assert.ok(!r.stderr.includes("ab".repeat(32)), "no session id in any message");
});

Deno.test("a gate that does not hold sessions: with-prod warns and runs the command", async () => {
  await using gate = await fakeGate(() => Response.json(JSON.parse(SESSION_JSON)));
  const r = await runWithProd(gate, `touch ${gate.dir}/ran`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: this gate does not hold sessions/);
  assert.ok(await exists(`${gate.dir}/ran`));
  assert.ok(gate.requests.some((q) => q.method === "DELETE"), "the session is still revoked");
});

Deno.test("the gate ending the held session mid-run: with-prod says why and serves no more tokens", async () => {
  let hold!: ReturnType<typeof heldAnswer>;
  await using gate = await fakeGate(() => {
    hold = heldAnswer();
    hold.write(SESSION_JSON + "\n");
    return hold.response;
  });
  const probe = `exec 3<>/dev/tcp/\${GCE_METADATA_HOST%:*}/\${GCE_METADATA_HOST#*:}; printf ` +
    `'GET /computeMetadata/v1/instance/service-accounts/default/token HTTP/1.1\\r\\nHost: ` +
    `%s\\r\\nMetadata-Flavor: Google\\r\\nConnection: close\\r\\n\\r\\n' "$GCE_METADATA_HOST" >&3; cat <&3`;
  const run = runWithProd(
    gate,
    `(${probe}) > ${gate.dir}/before; touch ${gate.dir}/ready; ` +
      `for i in $(seq 1 400); do [ -e ${gate.dir}/go ] && break; sleep 0.05; done; ` +
      `(${probe}) > ${gate.dir}/after`,
  );
  for (let i = 0; i < 600 && !(await exists(`${gate.dir}/ready`)); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  hold.write('{"status":"revoked","reason":"revoked by an operator"}\n');
  await new Promise((r) => setTimeout(r, 300));
  await Deno.writeTextFile(`${gate.dir}/go`, "");
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    await Deno.readTextFile(`${gate.dir}/before`),
    /^HTTP\/1\.1 200[\s\S]*ya29\.fake-prod/,
  );
  const after = await Deno.readTextFile(`${gate.dir}/after`);
  assert.doesNotMatch(after, /^HTTP\/1\.1 200/);
  assert.ok(!after.includes("ya29"), after);
  assert.match(
    r.stderr,
    /with-prod: the prod session ended: the gate ended the session \(revoked: revoked by an operator\); prod tokens are no longer served/,
  );
});

Deno.test("tokens are refreshed from the gate while the held connection stays open", async () => {
  let hold!: ReturnType<typeof heldAnswer>;
  let refreshes = 0;
  await using gate = await fakeGate((req) => {
    const url = new URL(req.url);
    if (url.pathname === "/token") {
      refreshes++;
      return Response.json({ access_token: "ya29.refreshed", expires_in: 3600 });
    }
    hold = heldAnswer();
    // A token already at its expiry is refreshed on first use.
    hold.write(JSON.stringify({ ...JSON.parse(SESSION_JSON), expires_in: 0 }) + "\n");
    return hold.response;
  }, { token: true });
  const probe = `exec 3<>/dev/tcp/\${GCE_METADATA_HOST%:*}/\${GCE_METADATA_HOST#*:}; printf ` +
    `'GET /computeMetadata/v1/instance/service-accounts/default/token HTTP/1.1\\r\\nHost: ` +
    `%s\\r\\nMetadata-Flavor: Google\\r\\nConnection: close\\r\\n\\r\\n' "$GCE_METADATA_HOST" >&3; cat <&3`;
  const r = await runWithProd(gate, `(${probe}) > ${gate.dir}/answer`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(await Deno.readTextFile(`${gate.dir}/answer`), /"access_token":"ya29\.refreshed"/);
  assert.equal(refreshes, 1);
  const refresh = gate.requests.find((q) => q.path.startsWith("/token"))!;
  assert.equal(refresh.headers.get("x-target-project"), "p");
  assert.doesNotMatch(r.stderr, /session ended/);
});

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}
