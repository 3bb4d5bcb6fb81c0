/** The routes listener's own checks and the client settings, as pure functions, with their bad forms. */
import assert from "node:assert/strict";
import { isRefusal, routesHostAllowed, splitRoutedRequest } from "../../src/routes_proxy/target.ts";
import {
  envLines,
  gitRules,
  parseExcludedHosts,
  PLACEHOLDER_KEY,
  routesBase,
} from "../../src/routes_proxy/client_setup.ts";
import { parseRouteListing, type RouteListing } from "../../src/gate_api/routes_wire.ts";

Deno.test("routesHostAllowed: loopback names with the bound port only", () => {
  for (
    const host of [
      "127.0.0.1:8174",
      "localhost:8174",
      "LOCALHOST:8174",
      "[::1]:8174",
      "127.0.0.2:8174",
    ]
  ) {
    assert.equal(routesHostAllowed(host, "127.0.0.1", 8174), true, host);
  }
  for (
    const host of [
      null,
      "",
      "127.0.0.1",
      "localhost",
      "127.0.0.1:8173",
      "127.0.0.1:08174",
      "evil.example:8174",
      "localhost.:8174",
      "127.0.0.1.nip.io:8174",
      "metadata.google.internal:8174",
      "169.254.169.254:8174",
      "[::2]:8174",
      "127.0.0.1:8174:1",
      "user@127.0.0.1:8174",
    ]
  ) {
    assert.equal(routesHostAllowed(host, "127.0.0.1", 8174), false, String(host));
  }
});

Deno.test("splitRoutedRequest: route and raw target, or the refusal", () => {
  const ok = (h: string | null) => h === "127.0.0.1:1";
  const split = (url: string, host: string | null = "127.0.0.1:1") =>
    splitRoutedRequest(url, host, ok);
  assert.deepEqual(split("http://127.0.0.1:1/gh/a/../b?x=%2F"), {
    name: "gh",
    target: "/a/../b?x=%2F",
  });
  assert.deepEqual(split("http://127.0.0.1:1/gh"), { name: "gh", target: "/" });
  assert.deepEqual(split("http://127.0.0.1:1/gh?q"), { name: "gh", target: "/?q" });
  const refusals: [string, string | null, number][] = [
    ["http://127.0.0.1:1/gh/x", "evil:1", 403],
    ["http://evil.example/gh/x", "127.0.0.1:1", 400],
    ["https://127.0.0.1:1/gh/x", "127.0.0.1:1", 400],
    ["http://127.0.0.1:1evil/gh/x", "127.0.0.1:1", 400],
    ["http://127.0.0.1:1/", "127.0.0.1:1", 404],
    ["http://127.0.0.1:1/..", "127.0.0.1:1", 404],
    ["http://127.0.0.1:1/GH/x", "127.0.0.1:1", 404],
    ["http://127.0.0.1:1/g%68/x", "127.0.0.1:1", 404],
    ["http://127.0.0.1:1//gh/x", "127.0.0.1:1", 404],
  ];
  for (const [url, host, status] of refusals) {
    const r = split(url, host);
    assert.ok(isRefusal(r), url);
    assert.equal(r.status, status, url);
  }
});

const LISTING: RouteListing = {
  routes: [
    { name: "claude", upstream: "https://api.anthropic.com", level: "dev", git: false },
    { name: "claude2", upstream: "https://api.anthropic.com", level: "dev", git: false },
    { name: "oai", upstream: "https://api.openai.com/v1", level: "dev", git: false },
    { name: "gl", upstream: "https://gitlab.com", level: "dev", git: false },
    { name: "gh-git", upstream: "https://github.com", level: "dev", git: true },
    { name: "ghe-git", upstream: "https://GHE.example.com", level: "dev", git: true },
    { name: "prod-git", upstream: "https://github.com", level: "prod", git: true },
  ],
};

Deno.test("envLines: one variable per client, a base path kept, a second route for the same client not exported", () => {
  const lines = envLines(LISTING, "http://127.0.0.1:9");
  assert.ok(lines.includes("export ANTHROPIC_BASE_URL='http://127.0.0.1:9/claude'"));
  assert.ok(lines.includes(`export ANTHROPIC_API_KEY='${PLACEHOLDER_KEY}'`));
  assert.ok(lines.includes("export OPENAI_BASE_URL='http://127.0.0.1:9/oai'"));
  assert.ok(lines.includes("export GITLAB_API_URL='http://127.0.0.1:9/gl/api/v4'"));
  assert.equal(lines.filter((l) => l.startsWith("export ANTHROPIC_BASE_URL")).length, 1);
  assert.ok(lines.some((l) => l.includes("ANTHROPIC_BASE_URL already set above")));
});

Deno.test("envLines: a preset names the client even when the upstream is a gateway of its own", () => {
  const lines = envLines({
    routes: [
      {
        name: "claude",
        upstream: "https://llm-gateway.corp.example/anthropic",
        level: "dev",
        git: false,
        preset: "anthropic",
      },
      {
        name: "npmjs",
        upstream: "https://npm.corp.example",
        level: "dev",
        git: false,
        preset: "npm",
      },
      { name: "other", upstream: "https://api.example.com", level: "dev", git: false },
      {
        name: "admin",
        upstream: "https://api.github.com",
        level: "prod",
        git: false,
        preset: "github",
      },
    ],
  }, "http://127.0.0.1:9");
  assert.ok(
    lines.includes("export ANTHROPIC_BASE_URL='http://127.0.0.1:9/claude'"),
    lines.join("\n"),
  );
  assert.ok(lines.includes("export NPM_CONFIG_REGISTRY='http://127.0.0.1:9/npmjs/'"));
  assert.equal(lines.filter((l) => l.startsWith("export")).length, 3, "nothing for an unknown API");
  assert.ok(
    !lines.some((l) => l.startsWith("export GITHUB_API_URL")),
    "prod routes: comments only",
  );
  assert.ok(lines.some((l) => l.includes("$AUTHCALATOR_ROUTES_URL/admin")));
});

Deno.test("parseRouteListing: a preset, when present, is a plain lower-case name", () => {
  const route = { name: "a", upstream: "https://x.example", level: "dev", git: false };
  assert.equal(
    parseRouteListing({ routes: [{ ...route, preset: "openai" }] }).routes[0].preset,
    "openai",
  );
  assert.equal(parseRouteListing({ routes: [route] }).routes[0].preset, undefined);
  for (const preset of ["", "OpenAI", "a b", 7, "x".repeat(40), "../x"]) {
    assert.throws(
      () => parseRouteListing({ routes: [{ ...route, preset }] }),
      /route a: bad preset/,
      String(preset),
    );
  }
});

Deno.test("gitRules: dev git routes only, excluded hosts skipped case-insensitively", () => {
  const { rules, skipped } = gitRules(
    LISTING,
    "http://127.0.0.1:9",
    parseExcludedHosts(["ghe.example.com"]),
  );
  assert.deepEqual(rules, [{
    route: "gh-git",
    url: "http://127.0.0.1:9/gh-git/",
    insteadOf: "https://github.com/",
  }]);
  assert.deepEqual(skipped.map((r) => r.name), ["ghe-git"]);
});

Deno.test("parseExcludedHosts and routesBase: bad forms name the flag or key", () => {
  assert.deepEqual([...parseExcludedHosts(["GitHub.com, gitlab.com", ""])], [
    "github.com",
    "gitlab.com",
  ]);
  for (
    const bad of [
      "https://github.com",
      "github.com/org",
      "-bad.com",
      "a b",
      "x".repeat(64) + ".com",
      "*.github.com",
    ]
  ) {
    assert.throws(() => parseExcludedHosts([bad]), /--exclude takes host names/, bad);
  }
  assert.equal(routesBase({ routes_port: 8174 }), "http://127.0.0.1:8174");
  assert.throws(() => routesBase({}), /routes_port is not set/);
  assert.throws(() => routesBase({ routes_port: 0 }), /routes_port is 0/);
});
