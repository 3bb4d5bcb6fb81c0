import assert from "node:assert/strict";
import {
  apiBaseProblem,
  type ConfigInputs,
  gateUrlProblem,
  loadConfig,
} from "../../src/cli/config.ts";
import { readConfigFile } from "../../src/cli/config_file.ts";
import { UsageError } from "../../src/errors.ts";

const ENV = { HOME: "/home/u", XDG_RUNTIME_DIR: "/run/user/1000" };

function load(partial: Partial<ConfigInputs> & { toml?: string } = {}) {
  const { toml, ...rest } = partial;
  return loadConfig({
    flags: {},
    env: ENV,
    ...(toml !== undefined ? { file: readConfigFile("/etc/a.toml", () => toml) } : {}),
    ...rest,
  });
}

function fails(partial: Parameters<typeof load>[0], pattern: RegExp) {
  assert.throws(() => load(partial), (err: unknown) => {
    assert.ok(err instanceof UsageError, `expected UsageError, got ${err}`);
    assert.match(err.message, pattern);
    return true;
  });
}

Deno.test("defaults follow gcp-authcalator 0.14", () => {
  const c = load();
  assert.equal(c.socket_path, "/run/user/1000/gcp-authcalator.sock");
  assert.equal(c.admin_socket_path, "/run/user/1000/gcp-authcalator-admin/admin.sock");
  assert.equal(c.port, 8173);
  assert.deepEqual(c.scopes, ["https://www.googleapis.com/auth/cloud-platform"]);
  assert.equal(c.token_ttl_seconds, 3600);
  assert.equal(c.session_ttl_seconds, 28800);
  assert.equal(c.no_quota_project, false);
  assert.deepEqual(c.env, {});
});

Deno.test("without XDG_RUNTIME_DIR sockets live under ~/.gcp-authcalator", () => {
  const c = loadConfig({ flags: {}, env: { HOME: "/home/u" } });
  assert.equal(c.socket_path, "/home/u/.gcp-authcalator/gcp-authcalator.sock");
});

Deno.test("a relative XDG_RUNTIME_DIR makes the default socket path fail", () => {
  assert.throws(
    () => loadConfig({ flags: {}, env: { XDG_RUNTIME_DIR: "run" } }),
    /socket_path: Unix socket paths must be absolute/,
  );
});

Deno.test("precedence: flags beat env, env beats TOML, TOML beats defaults", () => {
  const toml =
    'project_id = "from-file"\nport = 9000\nservice_account = "f@p.iam.gserviceaccount.com"';
  const env = { ...ENV, GCP_AUTHCALATOR_PROJECT_ID: "from-env", GCP_AUTHCALATOR_PORT: "9100" };
  const c = load({ toml, env, flags: { project_id: "from-flag" } });
  assert.equal(c.project_id, "from-flag");
  assert.equal(c.port, 9100);
  assert.equal(c.service_account, "f@p.iam.gserviceaccount.com");
  assert.equal(c.config_path, "/etc/a.toml");
});

Deno.test("env table merges TOML [env] and --env, the flag winning per key", () => {
  const c = load({ toml: '[env]\nA = "1"\nB = "2"', flags: { env: ["B=3", "C=x=y"] } });
  assert.deepEqual(c.env, { A: "1", B: "3", C: "x=y" });
});

Deno.test("--env values must be KEY=VALUE with a valid name", () => {
  for (const bad of ["=x", "noequals", "1A=b", "A B=c"]) {
    fails({ flags: { env: [bad] } }, /--env value must be KEY=VALUE/);
  }
});

Deno.test("TOML: unknown keys are errors naming the key", () => {
  fails(
    { toml: 'project_id = "p"\nprojectid = "typo"' },
    /projectid: unknown key in \/etc\/a.toml/,
  );
});

Deno.test("TOML: syntax errors carry line and column", () => {
  fails({ toml: 'project_id = "p"\nport = \n' }, /\/etc\/a.toml:2:\d+: invalid TOML/);
  fails({ toml: 'a = "x"\na = "y"' }, /\/etc\/a.toml:2:\d+: invalid TOML/);
});

Deno.test("TOML: wrong types are errors naming the key", () => {
  fails({ toml: 'port = "8173"' }, /port: must be an integer, got string/);
  fails({ toml: "port = 81.5" }, /port: must be an integer/);
  fails({ toml: "project_id = 5" }, /project_id: must be a string/);
  fails({ toml: 'scopes = "a,b"' }, /scopes: must be an array of strings/);
  fails({ toml: 'scopes = ["a", ""]' }, /scopes: must contain only non-empty strings/);
  fails({ toml: 'no_quota_project = "yes"' }, /no_quota_project: must be true or false/);
  fails({ toml: 'env = "A=1"' }, /env: must be a table of strings/);
  fails({ toml: "[env]\nA = 1" }, /env.A: must be a string/);
  fails({ toml: '[env]\n"1BAD" = "x"' }, /env.1BAD: not a valid environment variable name/);
  fails(
    { toml: "token_ttl_seconds = 2026-01-01" },
    /token_ttl_seconds: must be an integer, got a date/,
  );
});

Deno.test("a missing or unreadable config file is a clear error", () => {
  assert.throws(
    () =>
      readConfigFile("/nope.toml", () => {
        throw new Deno.errors.NotFound("x");
      }),
    /cannot read config file \/nope.toml: no such file/,
  );
});

Deno.test("an unreadable config file names the error, and a malformed one never echoes its text", () => {
  assert.throws(
    () =>
      readConfigFile("/etc/a.toml", () => {
        throw new Deno.errors.PermissionDenied("x");
      }),
    /cannot read config file \/etc\/a.toml: PermissionDenied$/,
  );
  for (
    const toml of [
      '[env]\nAPI_KEY = "ya29.secret-value',
      'env = { API_KEY = "ya29.secret-value" ',
      "project_id = ya29.secret-value",
    ]
  ) {
    assert.throws(() => readConfigFile("/etc/a.toml", () => toml), (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.match(err.message, /^\/etc\/a.toml:\d+:\d+: invalid TOML: /);
      assert.doesNotMatch(err.message, /secret-value/);
      return true;
    });
  }
});

Deno.test("ranges are enforced for every numeric key", () => {
  const cases: [string, string, RegExp][] = [
    ["port", "-0", /port: must be a whole number/],
    ["port", "65536", /port: must be between 0 and 65535, got 65536/],
    ["token_ttl_seconds", "59", /token_ttl_seconds: must be between 60 and 43200/],
    ["token_ttl_seconds", "43201", /token_ttl_seconds: must be between 60 and 43200/],
    ["session_ttl_seconds", "299", /session_ttl_seconds: must be between 300 and 86400/],
    ["session_ttl_seconds", "86401", /session_ttl_seconds/],
    ["pam_grant_ttl_seconds", "300", /born expired/],
    ["gate_tls_port", "70000", /gate_tls_port: must be between 1 and 65535/],
    ["routes_port", "70000", /routes_port: must be between 0 and 65535/],
    ["routes_port", "-1", /routes_port/],
    ["routes_port", "http", /routes_port/],
    ["routes_port", "8173", /routes_port: must differ from port \(8173\)/],
  ];
  for (const [key, value, pattern] of cases) fails({ flags: { [key]: value } }, pattern);
});

Deno.test("numbers from flags and env must be whole numbers", () => {
  fails({ flags: { port: "80a" } }, /port: must be a whole number, got "80a" \(from --port\)/);
  fails({ flags: { port: "-1" } }, /port: must be a whole number/);
  fails({ env: { ...ENV, GCP_AUTHCALATOR_PORT: "1e3" } }, /port: .*from GCP_AUTHCALATOR_PORT/);
});

Deno.test("strings must not be empty; service_account must be an email", () => {
  fails({ flags: { project_id: "  " } }, /project_id: must not be empty/);
  fails(
    { flags: { service_account: "not-an-email" } },
    /service_account: must be an email address/,
  );
  fails({ flags: { service_account: "a@b" } }, /service_account: must be an email address/);
});

Deno.test("no_quota_project from env accepts only true/false", () => {
  assert.equal(
    load({ env: { ...ENV, GCP_AUTHCALATOR_NO_QUOTA_PROJECT: "true" } }).no_quota_project,
    true,
  );
  assert.equal(
    load({ env: { ...ENV, GCP_AUTHCALATOR_NO_QUOTA_PROJECT: "false" } }).no_quota_project,
    false,
  );
  fails(
    { env: { ...ENV, GCP_AUTHCALATOR_NO_QUOTA_PROJECT: "1" } },
    /no_quota_project: must be true or false/,
  );
});

Deno.test("lists from flags split on commas and trim", () => {
  assert.deepEqual(load({ flags: { scopes: "a, b" } }).scopes, ["a", "b"]);
  fails({ flags: { scopes: "a,,b" } }, /scopes: must contain only non-empty strings/);
});

Deno.test("socket paths: ~ expands, must be absolute, are normalised and distinct", () => {
  assert.equal(load({ flags: { socket_path: "~/x/../g.sock" } }).socket_path, "/home/u/g.sock");
  fails({ flags: { socket_path: "rel.sock" } }, /socket_path: Unix socket paths must be absolute/);
  fails(
    { flags: { socket_path: "/tmp/a.sock", admin_socket_path: "/tmp/./a.sock" } },
    /admin_socket_path: must not resolve to the same path as socket_path/,
  );
});

Deno.test("gate_url accepts only canonical https URLs", () => {
  assert.equal(gateUrlProblem("https://gate.example:8443"), undefined);
  assert.equal(gateUrlProblem("https://gate.example/prefix"), undefined);
  for (
    const bad of [
      "http://gate",
      " https://gate",
      "https://gate?x=1",
      "https://gate#f",
      "https://user:pw@gate",
      "https://gate\\x",
      "https://gate/../x",
      "https://",
      "ftp://gate",
    ]
  ) {
    assert.ok(gateUrlProblem(bad), `should reject ${bad}`);
  }
  fails({ flags: { gate_url: "http://gate" } }, /gate_url: gate_url must be an HTTPS URL/);
});

Deno.test("Google API bases: https anywhere, http only on loopback", () => {
  assert.equal(apiBaseProblem("https://private.googleapis.com"), undefined);
  assert.equal(apiBaseProblem("http://127.0.0.1:8080"), undefined);
  assert.equal(apiBaseProblem("http://localhost:1"), undefined);
  assert.match(apiBaseProblem("http://10.0.0.1")!, /loopback/);
  assert.match(apiBaseProblem("not a url")!, /absolute URL/);
  assert.match(apiBaseProblem("https://u:p@x")!, /credentials/);
  fails({ flags: { google_api_base: "http://example.com" } }, /google_api_base: must be https/);
  fails(
    { env: { ...ENV, GCP_AUTHCALATOR_IAMCREDENTIALS_API_BASE: "x" } },
    /iamcredentials_api_base/,
  );
});

Deno.test("all problems are reported together", () => {
  assert.throws(
    () => load({ flags: { port: "65536", token_ttl_seconds: "5" } }),
    (err: Error) => /port:/.test(err.message) && /token_ttl_seconds:/.test(err.message),
  );
});

Deno.test("audit and log keys: defaults", () => {
  const c = load();
  assert.equal(c.audit_required, true);
  assert.equal(c.audit_max_bytes, 10 * 1024 * 1024);
  assert.equal(c.audit_max_files, 5);
  assert.equal(c.log_level, "info");
  assert.equal(c.log_format, "text");
});

Deno.test("audit_required: TOML boolean, env true/false, flag; bad forms refused", () => {
  assert.equal(load({ toml: "audit_required = false" }).audit_required, false);
  assert.equal(
    load({ env: { ...ENV, GCP_AUTHCALATOR_AUDIT_REQUIRED: "false" } }).audit_required,
    false,
  );
  assert.equal(
    load({ flags: { audit_required: true }, toml: "audit_required = false" }).audit_required,
    true,
  );
  fails({ toml: 'audit_required = "false"' }, /audit_required: must be true or false/);
  fails({ toml: "audit_required = 0" }, /audit_required: must be true or false/);
  fails(
    { env: { ...ENV, GCP_AUTHCALATOR_AUDIT_REQUIRED: "no" } },
    /audit_required: must be true or false, got "no" \(from GCP_AUTHCALATOR_AUDIT_REQUIRED\)/,
  );
});

Deno.test("audit_max_bytes and audit_max_files: whole numbers within range", () => {
  const c = load({ toml: "audit_max_bytes = 1024\naudit_max_files = 100" });
  assert.equal(c.audit_max_bytes, 1024);
  assert.equal(c.audit_max_files, 100);
  fails({ toml: "audit_max_bytes = 1023" }, /audit_max_bytes: must be between 1024 and 1073741824/);
  fails({ toml: "audit_max_bytes = 1073741825" }, /audit_max_bytes: must be between/);
  fails({ toml: 'audit_max_bytes = "10MB"' }, /audit_max_bytes: must be an integer/);
  fails({ toml: "audit_max_bytes = 1.5" }, /audit_max_bytes: must be an integer/);
  fails({ flags: { audit_max_bytes: "10M" } }, /audit_max_bytes: must be a whole number/);
  fails({ toml: "audit_max_files = 0" }, /audit_max_files: must be between 1 and 100, got 0/);
  fails({ toml: "audit_max_files = 101" }, /audit_max_files: must be between 1 and 100/);
  fails(
    { env: { ...ENV, GCP_AUTHCALATOR_AUDIT_MAX_FILES: "-1" } },
    /audit_max_files: must be a whole number/,
  );
});

Deno.test("log_level and log_format: only the known values", () => {
  for (const level of ["error", "warn", "info", "debug"]) {
    assert.equal(load({ flags: { log_level: level } }).log_level, level);
  }
  assert.equal(load({ toml: 'log_format = "json"' }).log_format, "json");
  assert.equal(
    load({ env: { ...ENV, GCP_AUTHCALATOR_LOG_FORMAT: "text" } }).log_format,
    "text",
  );
  fails(
    { flags: { log_level: "loud" } },
    /log_level: must be one of error, warn, info, debug, got "loud"/,
  );
  fails({ flags: { log_level: "INFO" } }, /log_level: must be one of/);
  fails({ toml: "log_level = 3" }, /log_level: must be a string/);
  fails({ flags: { log_format: "xml" } }, /log_format: must be one of text, json, got "xml"/);
  fails({ toml: "log_format = true" }, /log_format: must be a string/);
});
