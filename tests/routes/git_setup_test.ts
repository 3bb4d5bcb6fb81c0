/**
 * `authcalator routes env` and `authcalator git-setup` as real processes against a fake gate's
 * route listing on a real Unix socket, with the real `git config` on a temporary file: the printed
 * variables, idempotent and reversible git rules, excluded hosts, and the bad forms of every flag
 * and key they take. The gate's own listing (src/gate/routes_app.ts) is checked to carry no
 * credential or its source.
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.ts";
import { createRoutesApp, type ServedRoute } from "../../src/gate/routes_app.ts";
import { parseRouteListing, ROUTES_LIST_PATH } from "../../src/gate_api/routes_wire.ts";
import type { RouteConfig } from "../../src/routes/route_config.ts";
import { PLACEHOLDER_KEY } from "../../src/routes_proxy/client_setup.ts";
import { FakeGate } from "../metadata/fake_gate.ts";
import { runCli } from "../helpers/cli.ts";

const LISTING = {
  routes: [
    { name: "anthropic", upstream: "https://api.anthropic.com", level: "dev", git: false },
    { name: "openai", upstream: "https://api.openai.com", level: "dev", git: false },
    { name: "npm", upstream: "https://registry.npmjs.org", level: "dev", git: false },
    { name: "github", upstream: "https://api.github.com", level: "dev", git: false },
    { name: "github-git", upstream: "https://github.com", level: "dev", git: true },
    { name: "gitlab-git", upstream: "https://gitlab.com", level: "dev", git: true },
    { name: "admin-git", upstream: "https://git.example.com", level: "prod", git: true },
  ],
};

async function withGate(
  listing: unknown,
  fn: (socket: string, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "git-setup-" });
  const gate = new FakeGate(`${dir}/gate.sock`);
  gate.app.get(ROUTES_LIST_PATH, (c) => c.json(listing));
  gate.start();
  try {
    await fn(gate.socketPath, dir);
  } finally {
    await gate.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

function gitConfigList(file: string): string {
  const out = new Deno.Command("git", {
    args: ["config", "--file", file, "--list"],
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  return new TextDecoder().decode(out.stdout);
}

Deno.test("routes env prints base URLs and placeholder keys for the known clients, never for prod or git routes", async () => {
  await withGate(LISTING, async (socket) => {
    const r = await runCli(["routes", "env", "--socket-path", socket, "--routes-port", "8174"]);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /^export ANTHROPIC_BASE_URL='http:\/\/127\.0\.0\.1:8174\/anthropic'$/m);
    assert.match(out, new RegExp(`^export ANTHROPIC_API_KEY='${PLACEHOLDER_KEY}'$`, "m"));
    assert.match(out, /^export OPENAI_BASE_URL='http:\/\/127\.0\.0\.1:8174\/openai\/v1'$/m);
    assert.match(out, /^export NPM_CONFIG_REGISTRY='http:\/\/127\.0\.0\.1:8174\/npm\/'$/m);
    assert.match(out, /^export GITHUB_API_URL='http:\/\/127\.0\.0\.1:8174\/github'$/m);
    assert.match(out, /# route github-git: .*\n# {3}git: run 'authcalator git-setup'/);
    assert.match(out, /# route admin-git: .*\n# {3}level = prod/);
    assert.equal(out.split("\n").filter((l) => l.startsWith("export")).length, 6);
    // The lines are valid shell.
    const sh = new Deno.Command("sh", { args: ["-n", "-c", out] }).outputSync();
    assert.equal(sh.code, 0);
  });
});

Deno.test("routes env: bad forms of its subcommand and routes_port are refused with the fix", async () => {
  await withGate(LISTING, async (socket) => {
    const cases: [string[], RegExp][] = [
      [["routes"], /routes needs a subcommand: 'authcalator routes env'/],
      [["routes", "nope"], /unknown routes subcommand "nope"/],
      [["routes", "env"], /routes_port is not set/],
      [["routes", "env", "--routes-port", "0"], /routes_port is 0/],
      [["routes", "env", "--routes-port", "99999"], /routes_port: must be between 0 and 65535/],
      [["routes", "env", "--routes-port", "x"], /routes_port/],
    ];
    for (const [args, pattern] of cases) {
      const r = await runCli([...args, "--socket-path", socket]);
      assert.notEqual(r.code, 0, args.join(" "));
      assert.match(r.stderr, pattern, args.join(" "));
    }
  });
  // The gate is down: a clear error, exit non-zero.
  const r = await runCli([
    "routes",
    "env",
    "--socket-path",
    "/nonexistent/gate.sock",
    "--routes-port",
    "8174",
  ]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /cannot reach the gate/);
});

Deno.test("a malformed route listing from the gate is refused, not printed", async () => {
  for (
    const bad of [
      { routes: "x" },
      { routes: [{ name: "../x", upstream: "https://a.b", level: "dev", git: false }] },
      { routes: [{ name: "ok", upstream: "file:///etc", level: "dev", git: false }] },
      { routes: [{ name: "ok", upstream: "https://a.b", level: "root", git: false }] },
    ]
  ) {
    await withGate(bad, async (socket) => {
      const r = await runCli(["routes", "env", "--socket-path", socket, "--routes-port", "8174"]);
      assert.notEqual(r.code, 0, JSON.stringify(bad));
      assert.equal(r.stdout.includes("export"), false);
    });
  }
});

Deno.test("git-setup writes insteadOf rules for dev git routes, idempotently, skips excluded hosts, and --undo removes only its own", async () => {
  await withGate(LISTING, async (socket, dir) => {
    const file = `${dir}/gitconfig`;
    await Deno.writeTextFile(
      file,
      '[user]\n\tname = Dev\n[url "ssh://git@example.org/"]\n\tinsteadOf = https://example.org/\n',
    );
    const args = ["git-setup", "--socket-path", socket, "--routes-port", "8174", "--file", file];
    const first = await runCli([...args, "--exclude", "GitLab.com"]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(
      first.stdout,
      /skipped route gitlab-git \(https:\/\/gitlab\.com\): its host is excluded/,
    );
    assert.match(first.stdout, /1 rule\(s\) added/);
    const list = gitConfigList(file);
    assert.match(
      list,
      /^url\.http:\/\/127\.0\.0\.1:8174\/github-git\/\.insteadof=https:\/\/github\.com\/$/m,
    );
    assert.equal(list.includes("gitlab"), false);
    assert.equal(list.includes("admin-git"), false);
    // git itself rewrites the URL.
    const rewritten = new Deno.Command("git", {
      args: ["ls-remote", "--get-url", "https://github.com/org/repo.git"],
      env: { GIT_CONFIG_GLOBAL: file, GIT_CONFIG_NOSYSTEM: "1" },
      stdout: "piped",
    }).outputSync();
    assert.equal(
      new TextDecoder().decode(rewritten.stdout).trim(),
      "http://127.0.0.1:8174/github-git/org/repo.git",
    );
    // Again: nothing added, nothing duplicated.
    const again = await runCli([...args, "--exclude", "gitlab.com"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /0 rule\(s\) added, 1 already there/);
    assert.equal(gitConfigList(file), list);
    // A new routes_port replaces the old rule of the same route.
    const moved = await runCli([
      "git-setup",
      "--socket-path",
      socket,
      "--routes-port",
      "8175",
      "--file",
      file,
      "--exclude",
      "gitlab.com",
    ]);
    assert.equal(moved.code, 0, moved.stderr);
    const movedList = gitConfigList(file);
    assert.match(movedList, /127\.0\.0\.1:8175\/github-git\//);
    assert.equal(movedList.includes(":8174/"), false);
    // Undo: our rules go, the user's own stay.
    const undo = await runCli(["git-setup", "--undo", "--file", file, "--socket-path", socket]);
    assert.equal(undo.code, 0, undo.stderr);
    const after = gitConfigList(file);
    assert.equal(after.includes("127.0.0.1"), false);
    assert.match(after, /user\.name=Dev/);
    assert.match(after, /url\.ssh:\/\/git@example\.org\/\.insteadof=https:\/\/example\.org\//);
  });
});

Deno.test("git-setup: bad forms of --exclude, --file, --undo and routes_port are refused", async () => {
  await withGate(LISTING, async (socket, dir) => {
    const base = ["git-setup", "--socket-path", socket, "--file", `${dir}/gc`];
    const cases: [string[], RegExp][] = [
      [
        [...base, "--routes-port", "8174", "--exclude", "https://github.com"],
        /--exclude takes host names/,
      ],
      [[...base, "--routes-port", "8174", "--exclude", "a b"], /--exclude takes host names/],
      [[...base, "--undo", "--exclude", "github.com"], /--undo takes no --exclude/],
      [[...base], /routes_port is not set/],
      [["git-setup", "--socket-path", socket, "--routes-port", "8174", "--file", ""], /--file/],
    ];
    for (const [args, pattern] of cases) {
      const r = await runCli(args);
      assert.notEqual(r.code, 0, args.join(" "));
      assert.match(r.stderr, pattern, args.join(" "));
    }
  });
});

Deno.test("the gate's route listing names routes, upstreams and kinds, never a credential or its source", async () => {
  const config = (over: Partial<RouteConfig>): RouteConfig => ({
    name: "x",
    origin: "https://example.com",
    basePath: "",
    credential: { kind: "file", path: "/home/me/.secrets/token" },
    auth: { kind: "bearer" },
    maxRequestBytes: 1,
    maxResponseBytes: 1,
    headersTimeoutMs: 1,
    idleTimeoutMs: 1,
    level: "dev",
    push: "refuse",
    ...over,
  });
  const served = (c: RouteConfig): [string, ServedRoute] => [c.name, {
    config: c,
    credential: { get: () => Promise.resolve("sekrit-token-123") },
    fetch: () => Promise.reject(new Error("not called")),
  }];
  const app = createRoutesApp({
    routes: new Map([
      served(
        config({
          name: "github-git",
          origin: "https://github.com",
          auth: { kind: "basic", user: "x-access-token" },
        }),
      ),
      served(
        config({
          name: "api",
          basePath: "/v2",
          credential: { kind: "env", name: "API_TOKEN" },
          level: "prod",
        }),
      ),
    ]),
    audit: { write() {} },
    clock: new ManualClock(),
    listener: "main",
    log: () => {},
  });
  const res = await app.request(ROUTES_LIST_PATH);
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.deepEqual(parseRouteListing(JSON.parse(text)), {
    routes: [
      { name: "api", upstream: "https://example.com/v2", level: "prod", git: false },
      { name: "github-git", upstream: "https://github.com", level: "dev", git: true },
    ],
  });
  for (const secret of ["sekrit", "API_TOKEN", ".secrets", "x-access-token", "bearer"]) {
    assert.equal(text.includes(secret), false, secret);
  }
});
