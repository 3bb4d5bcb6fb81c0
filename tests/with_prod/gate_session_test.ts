/** The prod-session request as with-prod puts it on the wire. */
import assert from "node:assert/strict";
import { sessionHeaders, sessionPath } from "../../src/with_prod/gate_session.ts";
import { PROD_SESSION_HEADERS, SESSION_PATH } from "../../src/gate_api/prod_session.ts";

const base = {
  argv: ["gcloud", "sql", "instances", "list"],
  pendingId: "0123456789abcdef0123456789abcdef",
  targetProject: "prod-proj",
  scopes: ["https://www.googleapis.com/auth/cloud-platform"],
};

Deno.test("the path carries the scopes comma-joined and only the options that were set", () => {
  assert.equal(
    sessionPath(base),
    `${SESSION_PATH}?scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform`,
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
  assert.deepEqual(Object.keys(h).sort(), Object.values(PROD_SESSION_HEADERS).sort());
  assert.deepEqual(JSON.parse(h[PROD_SESSION_HEADERS.wrappedCommand]), base.argv);
  assert.equal(h[PROD_SESSION_HEADERS.pendingId], base.pendingId);
  assert.equal(h[PROD_SESSION_HEADERS.targetProject], "prod-proj");
  // A header value never carries a raw newline or non-ASCII byte.
  const odd = sessionHeaders({ ...base, argv: ["echo", "a\r\nX-Evil: 1", "ü"] });
  assert.match(odd[PROD_SESSION_HEADERS.wrappedCommand], /^[\x20-\x7e]+$/);
  assert.deepEqual(JSON.parse(odd[PROD_SESSION_HEADERS.wrappedCommand]), [
    "echo",
    "a\r\nX-Evil: 1",
    "ü",
  ]);
});
