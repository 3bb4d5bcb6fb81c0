import assert from "node:assert/strict";
import {
  describeCommand,
  MAX_ARG_CHARS,
  MAX_ARGS,
  MAX_TOTAL_CHARS,
  redactArgv,
  sanitizeText,
} from "../../src/gate/command_display.ts";

const JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
const ACCESS = "ya29.a0AfH6SMBx-very-secret-token_value";

Deno.test("redaction table", () => {
  const cases: [string[], string[]][] = [
    // separate value after a secret-named flag
    [["mysql", "--password", "hunter2", "db"], ["mysql", "--password", "***", "db"]],
    [["x", "--api-key", "k1"], ["x", "--api-key", "***"]],
    [["x", "-token", "t"], ["x", "-token", "***"]],
    [["x", "--client_secret", "s"], ["x", "--client_secret", "***"]],
    [["x", "--accessToken", "s"], ["x", "--accessToken", "***"]],
    // benign flags that merely contain a secret word are kept
    [["gcloud", "--token-ttl-seconds", "3600"], ["gcloud", "--token-ttl-seconds", "3600"]],
    [["x", "--auth-type=oauth"], ["x", "--auth-type=oauth"]],
    [["x", "--keyring", "ring"], ["x", "--keyring", "ring"]],
    [["x", "--monkey", "banana"], ["x", "--monkey", "banana"]],
    // `private` hides key=value but never the next argument
    [["x", "--private", "file.txt"], ["x", "--private", "file.txt"]],
    [["x", "private=abc"], ["x", "private=***"]],
    // key=value and key:value
    [["x", "--password=hunter2"], ["x", "--password=***"]],
    [["x", "DB_PASSWORD=hunter2"], ["x", "DB_PASSWORD=***"]],
    [["x", "db.password:hunter2"], ["x", "db.password:***"]],
    [["curl", "-H", "Authorization: Bearer abc"], ["curl", "-H", "Authorization:***"]],
    [["curl", "--header=Authorization: Bearer abc"], ["curl", "--header=Authorization:***"]],
    [["x", "apiKey=abc"], ["x", "apiKey=***"]],
    [["x", "sort=key"], ["x", "sort=key"]],
    // JWTs, whole and embedded; Google tokens
    [["x", JWT], ["x", "***"]],
    [["x", `--assertion=${JWT}`], ["x", "--assertion=***"]],
    [["x", `tok ${JWT} end`], ["x", "tok *** end"]],
    [["x", ACCESS], ["x", "***"]],
    [["x", "1//0gLongRefreshTokenValue-abc"], ["x", "***"]],
    // URLs: userinfo password and secret-named query parameters
    [["curl", "https://bob:pw@host/x"], ["curl", "https://bob:***@host/x"]],
    [["curl", "https://h/p?access_token=abc&q=1"], ["curl", "https://h/p?access_token=***&q=1"]],
    [["curl", "https://example.com/path"], ["curl", "https://example.com/path"]],
    // secrets inside a script argument
    [["sh", "-c", "run --token abc; X_PASSWORD=pw go"], [
      "sh",
      "-c",
      "run --token ***; X_PASSWORD=*** go",
    ]],
    // a secret assignment at the start hides the whole rest (the value may contain spaces)
    [["env", "PASSWORD=my pass phrase"], ["env", "PASSWORD=***"]],
    [["x", '{"client_secret": "s3", "name": "n"}'], ["x", '{"client_secret": "***", "name": "n"}']],
    // after `--`, the next-value rule stops; per-element rules stay
    [["x", "--", "--password", "visible"], ["x", "--", "--password", "visible"]],
    [["x", "--", "--password=hidden"], ["x", "--", "--password=***"]],
    // argv[0] keeps its name (only a token shape in it is hidden); a secret flag as the last
    // argument is harmless
    [["--password", "x"], ["--password", "x"]],
    [[`${ACCESS}`, "x"], ["***", "x"]],
    [["/usr/bin/ya29.a0secretsecret", "x"], ["/usr/bin/***", "x"]],
    // a Google token glued to other text is still a token
    [["x", "hunter2ya29.a0secret"], ["x", "hunter2***"]],
    [["x", "--password"], ["x", "--password"]],
    // long resource names are not secrets and stay visible
    [
      ["gcloud", "projects/my-project/locations/global/entitlements/prod-admin"],
      ["gcloud", "projects/my-project/locations/global/entitlements/prod-admin"],
    ],
  ];
  for (const [input, want] of cases) {
    assert.deepEqual(redactArgv(input), want, JSON.stringify(input));
  }
});

Deno.test("throughDashes: a wrapper's `--` does not stop the next-value rule", () => {
  assert.deepEqual(redactArgv(["w", "--", "cmd", "--password", "x"], { throughDashes: true }), [
    "w",
    "--",
    "cmd",
    "--password",
    "***",
  ]);
  assert.deepEqual(redactArgv(["w", "--", "cmd", "--password", "x"]), [
    "w",
    "--",
    "cmd",
    "--password",
    "x",
  ]);
});

Deno.test("sanitisation table", () => {
  const cases: [string, string][] = [
    ["a\nb", "a\u240Ab"],
    ["a\rb\tc", "a\u240Db\u2409c"],
    ["\u0000\u001b[31m", "\u2400\u241B[31m"],
    ["del\u007f", "del\u2421"],
    ["c1\u0085\u009b", "c1\uFFFD\uFFFD"],
    ["rtl\u202Egnp.exe", "rtl\uFFFDgnp.exe"],
    ["iso\u2066x\u2069", "iso\uFFFDx\uFFFD"],
    ["alm\u061Cx\u200E\u200F", "alm\uFFFDx\uFFFD\uFFFD"],
    ["zw\u200Bsp", "zw\uFFFDsp"],
    ["ls\u2028ps\u2029", "ls\uFFFDps\uFFFD"],
    ["lone\uD800x", "lone\uFFFDx"],
    ["ok ünïcödé 🙂", "ok ünïcödé 🙂"],
  ];
  for (const [input, want] of cases) {
    assert.deepEqual(sanitizeText(input), want, JSON.stringify(input));
  }
  // Nothing sanitised is ever unsafe again (idempotent).
  for (const [input] of cases) {
    assert.deepEqual(sanitizeText(sanitizeText(input)), sanitizeText(input));
  }
});

Deno.test("an embedded newline cannot forge a numbered line", () => {
  const d = describeCommand(["sh", "-c", "echo hi\n  4  rm -rf /"]);
  assert.deepEqual(d.lines.length, 3);
  assert.deepEqual(d.lines[2], "  3  echo hi\u240A  4  rm -rf /");
  for (const line of d.lines) assert.ok(!/[\n\r]/.test(line));
});

Deno.test("describeCommand numbers every argument and keeps the full path of argv[0]", () => {
  const argv = ["/usr/bin/gcloud", ...Array.from({ length: 11 }, (_, i) => `a${i}`)];
  const d = describeCommand(argv);
  assert.deepEqual(d.totalArgs, 12);
  assert.ok(!d.capped);
  assert.deepEqual(d.lines[0], "   1  /usr/bin/gcloud");
  assert.deepEqual(d.lines[11], "  12  a10");
  assert.deepEqual(d.argv, argv);
  assert.deepEqual(d.summary, "gcloud a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 a10");
});

Deno.test("summary is capped at 80 characters with an ellipsis", () => {
  const d = describeCommand(["bin/tool", "x".repeat(200)]);
  assert.deepEqual(Array.from(d.summary).length, 80);
  assert.ok(d.summary.startsWith("tool xxx"));
  assert.ok(d.summary.endsWith("…"));
});

Deno.test("per-argument cap announces the withheld characters", () => {
  const d = describeCommand(["x", "y".repeat(MAX_ARG_CHARS + 5)]);
  assert.ok(d.capped);
  assert.deepEqual(d.lines[1], `  2  ${"y".repeat(MAX_ARG_CHARS)} …(+5 chars)`);
});

Deno.test("argument cap announces how many arguments were withheld", () => {
  const argv = Array.from({ length: MAX_ARGS + 3 }, (_, i) => `a${i}`);
  const d = describeCommand(argv);
  assert.ok(d.capped);
  assert.deepEqual(d.argv.length, MAX_ARGS);
  assert.deepEqual(d.lines.length, MAX_ARGS + 1);
  assert.deepEqual(d.lines.at(-1), "  … 3 further arguments not shown (argument limit 512)");
});

Deno.test("total cap announces the rest", () => {
  const big = "z".repeat(MAX_ARG_CHARS);
  const argv = ["x", ...Array.from({ length: 20 }, () => big)];
  const d = describeCommand(argv);
  assert.ok(d.capped);
  const shownChars = d.argv.reduce((n, a) => n + a.length, 0);
  assert.ok(shownChars <= MAX_TOTAL_CHARS);
  assert.deepEqual(d.argv.length, 17);
  assert.deepEqual(
    d.lines.at(-1),
    `  … 4 further arguments not shown (${MAX_TOTAL_CHARS}-character display limit)`,
  );
});

Deno.test("redaction happens before capping: a secret never leaks through a cut", () => {
  const d = describeCommand(["x", "--password", "s".repeat(5000)]);
  assert.deepEqual(d.argv, ["x", "--password", "***"]);
});
