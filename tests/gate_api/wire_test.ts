/**
 * The wire's codecs, both ends: one scopes rule for the metadata server and the gate (what the
 * proxy forwards, the gate accepts), the TTL rule with gcp-authcalator 0.14's messages, and the
 * client's encoding round-tripping through the server's parsing.
 */
import assert from "node:assert/strict";
import { HttpError } from "../../src/errors.ts";
import {
  encodeScopes,
  MAX_SCOPES,
  newPendingId,
  parseScopes,
  parseTtl,
  PENDING_ID,
  queryOf,
} from "../../src/gate_api/wire.ts";
import { parseScopes as parseMetadataScopes } from "../../src/metadata/query.ts";

const D = ["default-scope"];

function rejects400(fn: () => unknown, message: RegExp) {
  assert.throws(fn, (e) => e instanceof HttpError && e.status === 400 && message.test(e.message));
}

Deno.test("scopes: split, trimmed, empties and duplicates dropped, defaults when none", () => {
  assert.deepEqual(parseScopes([], D), D);
  assert.deepEqual(parseScopes([""], D), D);
  assert.deepEqual(parseScopes([" , ,"], D), D);
  assert.deepEqual(parseScopes(["a, b,,a"], D), ["a", "b"]);
  assert.deepEqual(parseScopes(["a", "b,c"], D), ["a", "b", "c"]);
  // The default list is copied, never handed out to be mutated.
  const got = parseScopes([], D);
  got.push("x");
  assert.deepEqual(D, ["default-scope"]);
});

Deno.test("scopes: bad forms are 400 with one message", () => {
  for (const bad of ["a b", "a\tb", "a\u0000", "é", "a\u007f", "x".repeat(513)]) {
    rejects400(() => parseScopes([bad], D), /printable scopes without spaces/);
  }
  const many = Array.from({ length: MAX_SCOPES + 1 }, (_, i) => `s${i}`);
  rejects400(() => parseScopes([many.join(",")], D), /at most 50 scopes/);
  assert.equal(parseScopes([many.slice(1).join(",")], D).length, MAX_SCOPES);
  assert.equal(parseScopes(["x".repeat(512)], D)[0].length, 512);
});

Deno.test("scopes: the metadata server and the gate apply the same rule", () => {
  const queries = ["scopes=a,%20b,,a", "scopes=a%2Cb&scopes=c", "", "scopes=a%20b", "scopes=%00"];
  for (const query of queries) {
    const params = new URLSearchParams(query);
    const viaProxy = (() => {
      try {
        return parseMetadataScopes(params, D);
      } catch (e) {
        return (e as Error).message;
      }
    })();
    const viaGate = (() => {
      try {
        return parseScopes(params.getAll("scopes"), D);
      } catch (e) {
        return (e as Error).message;
      }
    })();
    assert.deepEqual(viaProxy, viaGate, query);
  }
});

Deno.test("scopes: what the client encodes, the server parses back unchanged", () => {
  const scopes = [
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/userinfo.email",
    "odd&x=1",
    "per%cent",
  ];
  const params = new URLSearchParams(`scopes=${encodeScopes(scopes)}`);
  assert.deepEqual(parseScopes(params.getAll("scopes"), D), scopes);
  assert.equal(params.get("x"), null);
});

Deno.test("TTL: gcp-authcalator's rules and messages", () => {
  assert.equal(parseTtl("token_ttl_seconds", undefined, 60, 3600), undefined);
  assert.equal(parseTtl("token_ttl_seconds", "600", 60, 3600), 600);
  rejects400(
    () => parseTtl("token_ttl_seconds", "1.5", 60, 3600),
    /^token_ttl_seconds must be an integer$/,
  );
  rejects400(() => parseTtl("token_ttl_seconds", "abc", 60, 3600), /must be an integer/);
  rejects400(
    () => parseTtl("token_ttl_seconds", "", 60, 3600),
    /^token_ttl_seconds must be >= 60$/,
  );
  rejects400(
    () => parseTtl("session_ttl_seconds", "7200", 300, 3600),
    /^session_ttl_seconds \(7200\) exceeds configured maximum \(3600\)$/,
  );
});

Deno.test("pending ids are 32 lowercase hex, fresh each time; query values are encoded", () => {
  const a = newPendingId();
  assert.match(a, PENDING_ID);
  assert.notEqual(a, newPendingId());
  for (const bad of ["", "A".repeat(32), "0".repeat(31), `${"0".repeat(32)}\n`]) {
    assert.doesNotMatch(bad, PENDING_ID);
  }
  assert.equal(queryOf("id", "a&b=c"), "?id=a%26b%3Dc");
});
