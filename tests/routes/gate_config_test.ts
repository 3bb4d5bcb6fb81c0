import assert from "node:assert/strict";
import { parseRoutes, ROUTE_PRESETS, routeNetHosts } from "../../src/routes/route_config.ts";

function parse(table: unknown) {
  const errors: string[] = [];
  const routes = parseRoutes(table, errors);
  return { routes, errors };
}

Deno.test("presets fill upstream, auth and the credential's environment variable", () => {
  const { routes, errors } = parse({
    anthropic: { preset: "anthropic" },
    gh: { preset: "github-git", push: "approve" },
    npm: { preset: "npm", credential_file: "~/.config/npm-token" },
  });
  assert.deepEqual(errors, []);
  const [a, g, n] = routes;
  assert.equal(a.origin, "https://api.anthropic.com");
  assert.deepEqual(a.auth, { kind: "header", header: "x-api-key" });
  assert.deepEqual(a.credential, { kind: "env", name: "ANTHROPIC_API_KEY" });
  assert.deepEqual(g.auth, { kind: "basic", user: "x-access-token" });
  assert.equal(g.push, "approve");
  assert.equal(g.level, "dev");
  assert.deepEqual(n.credential, { kind: "file", path: "~/.config/npm-token" });
  for (const name of ["anthropic", "openai", "github", "github-git", "gitlab", "npm"]) {
    assert.ok(ROUTE_PRESETS[name], name);
  }
  assert.deepEqual(routeNetHosts(routes), [
    "api.anthropic.com",
    "github.com",
    "registry.npmjs.org",
  ]);
});

Deno.test("a full custom route keeps every key", () => {
  const { routes, errors } = parse({
    internal: {
      upstream: "http://127.0.0.1:8443/api/",
      credential_command: ["op", "read", "op://vault/item"],
      credential_timeout_seconds: 5,
      credential_cache_seconds: 60,
      auth: "header",
      auth_header: "X-Api-Key",
      methods: ["GET", "POST", "GET"],
      path_prefixes: ["/v1/"],
      max_request_bytes: 1024,
      max_response_bytes: 2048,
      headers_timeout_seconds: 3,
      idle_timeout_seconds: 7,
      level: "prod",
      ca_file: "/etc/test-ca.pem",
    },
  });
  assert.deepEqual(errors, []);
  assert.deepEqual(routes[0], {
    name: "internal",
    origin: "http://127.0.0.1:8443",
    basePath: "/api",
    credential: {
      kind: "command",
      argv: ["op", "read", "op://vault/item"],
      timeoutMs: 5000,
      cacheMs: 60000,
    },
    auth: { kind: "header", header: "x-api-key" },
    methods: ["GET", "POST"],
    pathPrefixes: ["/v1/"],
    maxRequestBytes: 1024,
    maxResponseBytes: 2048,
    headersTimeoutMs: 3000,
    idleTimeoutMs: 7000,
    level: "prod",
    push: "refuse",
    caFile: "/etc/test-ca.pem",
  });
});

Deno.test("every key's bad forms are named", () => {
  const cases: [unknown, string][] = [
    ["x", "routes: must be a table"],
    [{ "Bad/Name": { preset: "npm" } }, "routes.Bad/Name: a route name"],
    [{ a: "str" }, "routes.a: must be a table"],
    [{ a: { preset: "npm", colour: 1 } }, "routes.a.colour: unknown key"],
    [{ a: { preset: "nope" } }, "routes.a.preset: unknown preset"],
    [{ a: { credential_env: "X", auth: "bearer" } }, "routes.a.upstream: is required"],
    [{ a: { preset: "npm", upstream: "http://evil.example" } }, "http:// only for a loopback"],
    [{ a: { preset: "npm", upstream: "ftp://x" } }, "must be https://"],
    [{ a: { preset: "npm", upstream: "not a url" } }, "must be an absolute URL"],
    [{ a: { preset: "npm", upstream: "https://u:p@x.example" } }, "must not carry a user"],
    [{ a: { preset: "npm", upstream: "https://x.example/?q=1" } }, "query or fragment"],
    [{ a: { preset: "npm", upstream: "https://x.example/a/../b" } }, "plain path"],
    [{ a: { upstream: "https://x.example", auth: "bearer" } }, "credential_*: one of"],
    [{ a: { preset: "npm", credential_env: "X", credential_file: "/f" } }, "set only one"],
    [{ a: { preset: "npm", credential_env: "1X" } }, "environment variable name"],
    [{ a: { preset: "npm", credential_env: "" } }, "must be a non-empty string"],
    [{ a: { preset: "npm", credential_file: "rel/path" } }, "must be an absolute path"],
    [{ a: { preset: "npm", credential_command: [] } }, "non-empty array"],
    [{ a: { preset: "npm", credential_command: "gh auth token" } }, "non-empty array"],
    [{ a: { preset: "npm", credential_timeout_seconds: 5 } }, "needs credential_command"],
    [{ a: { preset: "npm", credential_command: ["x"], credential_timeout_seconds: 0 } }, "from 1"],
    [{ a: { preset: "npm", credential_command: ["x"], credential_cache_seconds: -1 } }, "from 0"],
    [{ a: { upstream: "https://x.example", credential_env: "X" } }, "routes.a.auth: is required"],
    [{ a: { preset: "npm", auth: "digest" } }, "must be one of bearer"],
    [{ a: { preset: "npm", auth: "basic" } }, "auth_user: is required"],
    [{ a: { preset: "npm", auth: "basic", auth_user: "a:b" } }, "without ':'"],
    [{ a: { preset: "npm", auth: "header" } }, "auth_header: is required"],
    [{ a: { preset: "npm", auth: "header", auth_header: "bad header" } }, "a header name"],
    [{ a: { preset: "npm", auth: "header", auth_header: "Host" } }, "framing, hop-by-hop"],
    [{ a: { preset: "npm", auth_user: "x" } }, 'needs auth = "basic"'],
    [{ a: { preset: "npm", auth_header: "x" } }, 'needs auth = "header"'],
    [{ a: { preset: "npm", methods: ["get"] } }, "upper-case HTTP methods"],
    [{ a: { preset: "npm", path_prefixes: ["v1"] } }, "plain path starting"],
    [{ a: { preset: "npm", path_prefixes: ["/a/../b"] } }, "plain path starting"],
    [{ a: { preset: "npm", path_prefixes: ["/a%2f"] } }, "plain path starting"],
    [{ a: { preset: "npm", max_request_bytes: -1 } }, "max_request_bytes: must be an integer"],
    [{ a: { preset: "npm", max_response_bytes: 1.5 } }, "max_response_bytes: must be an integer"],
    [{ a: { preset: "npm", headers_timeout_seconds: 0 } }, "headers_timeout_seconds"],
    [{ a: { preset: "npm", idle_timeout_seconds: "5" } }, "idle_timeout_seconds"],
    [{ a: { preset: "npm", level: "admin" } }, 'must be "dev" or "prod"'],
    [{ a: { preset: "npm", push: "allow" } }, 'must be "refuse" or "approve"'],
    [{ a: { preset: "npm", ca_file: "ca.pem" } }, "ca_file: must be an absolute path"],
  ];
  for (const [table, expected] of cases) {
    const { routes, errors } = parse(table);
    assert.equal(routes.length, 0, JSON.stringify(table));
    assert.ok(
      errors.some((e) => e.includes(expected)),
      `${JSON.stringify(table)}: ${JSON.stringify(errors)} lacks ${expected}`,
    );
  }
});

Deno.test("loadConfig reads [routes.<name>] from the config file and reports their problems", async () => {
  const { loadConfig } = await import("../../src/cli/config.ts");
  const { parseConfigText } = await import("../../src/cli/config_file.ts");
  const text = `
[routes.claude]
preset = "anthropic"

[routes.internal]
upstream = "https://internal.example/api"
credential_command = ["gh", "auth", "token"]
auth = "token"
methods = ["GET"]
`;
  const config = loadConfig({
    flags: {},
    env: { HOME: "/home/x" },
    file: { path: "/etc/a.toml", table: parseConfigText("/etc/a.toml", text) },
  });
  assert.deepEqual(config.routes?.map((r) => r.name), ["claude", "internal"]);
  assert.equal(config.routes?.[1].basePath, "/api");
  assert.throws(
    () =>
      loadConfig({
        flags: {},
        env: { HOME: "/home/x" },
        file: {
          path: "/etc/a.toml",
          table: parseConfigText("/etc/a.toml", '[routes.x]\nupstream = "http://evil.example"\n'),
        },
      }),
    /routes\.x\.upstream: must be https:\/\/ \(http:\/\/ only for a loopback host\)/,
  );
});
