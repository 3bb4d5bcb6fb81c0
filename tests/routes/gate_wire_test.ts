import assert from "node:assert/strict";
import {
  auditedTarget,
  cleanRequester,
  parseRouteTarget,
  ROUTE_NAME,
  RouteTargetError,
} from "../../src/gate_api/routes_wire.ts";

Deno.test("a plain target keeps its path and raw query", () => {
  assert.deepEqual(parseRouteTarget("/v1/messages?beta=true&x=%20y"), {
    path: "/v1/messages",
    query: "beta=true&x=%20y",
  });
  assert.deepEqual(parseRouteTarget("/"), { path: "/", query: "" });
  // `..` inside a segment name is fine; only whole segments are escapes.
  assert.deepEqual(parseRouteTarget("/a..b/c.d").path, "/a..b/c.d");
  // A query may hold `//` and `..` (it is not a path).
  assert.deepEqual(parseRouteTarget("/x?next=//evil/../y").query, "next=//evil/../y");
  // npm's scoped packages: an encoded '/' that holds no dot segment passes.
  assert.deepEqual(parseRouteTarget("/@acme%2fsecret-pkg").path, "/@acme%2fsecret-pkg");
});

Deno.test("every escape form of a target is refused", () => {
  for (
    const bad of [
      undefined,
      "",
      "v1/messages",
      "http://evil.example/x",
      "//evil.example/x",
      "/a/../b",
      "/..",
      "/a/./b",
      "/a/%2e%2e/b",
      "/a/%2E./b",
      "/a/.%2e",
      "/a%2f..%2fb",
      "/a/..%2Fadmin",
      "/a%2F%2e%2e/b",
      "/%2e%2e%2fx",
      "/a%5cb",
      "/a%00b",
      "/a\\b",
      "/a b",
      "/a#frag",
      "/a%zz",
      "/a%2",
      "/caf\u00e9",
      "/a\r\nHost: x",
      "/" + "a".repeat(9000),
    ]
  ) {
    assert.throws(() => parseRouteTarget(bad), RouteTargetError, String(bad));
  }
});

Deno.test("the audited target keeps query names, never values", () => {
  assert.deepEqual(auditedTarget(parseRouteTarget("/p?token=SECRET&a=1&flag")), "/p?token&a&flag");
  assert.deepEqual(auditedTarget(parseRouteTarget("/p")), "/p");
});

Deno.test("route names and requester labels", () => {
  for (const ok of ["github", "npm", "a", "git-hub_2"]) assert.deepEqual(ROUTE_NAME.test(ok), true);
  for (const bad of ["", "GitHub", "1a", "a/b", "..", "a".repeat(33), "a.b"]) {
    assert.deepEqual(ROUTE_NAME.test(bad), false, bad);
  }
  assert.deepEqual(cleanRequester(null), undefined);
  assert.deepEqual(cleanRequester("  "), undefined);
  assert.deepEqual(cleanRequester("pid=1\nuid=2"), "pid=1?uid=2");
  assert.deepEqual(cleanRequester("x".repeat(400))?.length, 256);
});
