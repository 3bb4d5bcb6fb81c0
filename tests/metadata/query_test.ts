import assert from "node:assert/strict";
import { HttpError } from "../../src/errors.ts";
import { parseIdentityQuery, parseScopes, parseValueQuery } from "../../src/metadata/query.ts";

const q = (s: string) => new URLSearchParams(s);

function assert400(f: () => unknown, message: RegExp): void {
  assert.throws(
    f,
    (err) => err instanceof HttpError && err.status === 400 && message.test(err.message),
  );
}

Deno.test("value query: booleans, alt, last_etag and bounded timeouts", () => {
  assert.deepEqual(parseValueQuery(q("")), {
    recursive: false,
    alt: undefined,
    waitForChange: false,
    lastEtag: undefined,
    timeoutMs: 300_000,
  });
  const v = parseValueQuery(
    q("recursive=TRUE&alt=json&wait_for_change=1&last_etag=NONE&timeout_sec=7"),
  );
  assert.deepEqual(v, {
    recursive: true,
    alt: "json",
    waitForChange: true,
    lastEtag: "NONE",
    timeoutMs: 7000,
  });
  assert.equal(parseValueQuery(q("timeout_sec=999999")).timeoutMs, 3_600_000);
  assert.equal(parseValueQuery(q("recursive=false")).recursive, false);
  assert400(() => parseValueQuery(q("timeout_sec=abc")), /timeout_sec/);
  assert400(() => parseValueQuery(q("timeout_sec=-1")), /timeout_sec/);
  assert400(() => parseValueQuery(q("recursive=maybe")), /recursive must be true or false/);
  assert400(() => parseValueQuery(q("alt=xml")), /alt/);
});

Deno.test("scopes: decoded, comma-split, de-duplicated; defaults when absent; bad ones refused", () => {
  assert.deepEqual(parseScopes(q(""), ["d"]), ["d"]);
  assert.deepEqual(parseScopes(q("scopes="), ["d"]), ["d"]);
  assert.deepEqual(parseScopes(q("scopes=a%2Cb,a"), ["d"]), ["a", "b"]);
  assert400(() => parseScopes(q("scopes=a%20b"), []), /scopes/);
  assert400(
    () => parseScopes(q(`scopes=${Array.from({ length: 51 }, (_, i) => `s${i}`).join(",")}`), []),
    /at most 50/,
  );
});

Deno.test("identity query: audience required, format standard|full, licenses TRUE|FALSE", () => {
  assert.deepEqual(parseIdentityQuery(q("audience=https://x")), {
    audience: "https://x",
    format: "standard",
  });
  assert.deepEqual(parseIdentityQuery(q("format=full&audience=a&licenses=true")), {
    audience: "a",
    format: "full",
  });
  assert400(() => parseIdentityQuery(q("")), /^non-empty audience parameter required$/);
  assert400(() => parseIdentityQuery(q("audience=a%0Ab")), /control/);
  assert400(() => parseIdentityQuery(q(`audience=${"a".repeat(2049)}`)), /at most 2048/);
  assert400(() => parseIdentityQuery(q("audience=a&format=x")), /format/);
  assert400(() => parseIdentityQuery(q("audience=a&licenses=x")), /licenses/);
});
