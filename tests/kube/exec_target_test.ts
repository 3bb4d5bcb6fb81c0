import assert from "node:assert/strict";
import {
  execTarget,
  type Launch,
  transienceOf,
  UnstableCommandError,
} from "../../src/kube/exec_target.ts";

const launch: Launch = {
  standalone: false,
  executable: "/usr/bin/deno",
  mainModule: "/src/authcalator/src/main.ts",
  transientDirs: ["/tmp", "/var/tmp"],
};

Deno.test("execTarget: a compiled binary writes itself with kube-token", () => {
  assert.deepEqual(
    execTarget({ ...launch, standalone: true, executable: "/usr/local/bin/authcalator" }),
    { command: "/usr/local/bin/authcalator", args: ["kube-token"] },
  );
});

Deno.test("execTarget: an installed shim writes the shim's path with kube-token", () => {
  assert.deepEqual(execTarget({ ...launch, shim: "/home/u/.deno/bin/authcalator" }), {
    command: "/home/u/.deno/bin/authcalator",
    args: ["kube-token"],
  });
});

Deno.test("execTarget: --command wins over everything, even a temp place", () => {
  for (const extra of [{}, { standalone: true }, { shim: "/tmp/x/authcalator" }]) {
    assert.deepEqual(execTarget({ ...launch, ...extra, override: "/opt/a/authcalator" }), {
      command: "/opt/a/authcalator",
      args: ["kube-token"],
    });
  }
});

Deno.test("execTarget refuses what will not last, and plain `deno run`", () => {
  const bad: [Partial<Launch>, RegExp][] = [
    [{}, /this is `deno run` of \/src\/authcalator\/src\/main\.ts, not an installed command/],
    [{ standalone: true, executable: "/tmp/dl/authcalator" }, /under \/tmp, a temporary/],
    [{ shim: "/var/tmp/a/authcalator" }, /under \/var\/tmp, a temporary/],
    [{ shim: "/home/u/.npm/_npx/9f/node_modules/.bin/authcalator" }, /npx cache/],
    [
      { shim: "/home/u/bin/authcalator", mainModule: "/tmp/clone/src/main.ts" },
      /a command running/,
    ],
    [
      { mainModule: "https://jsr.io/@x/authcalator/0.1.0/src/main.ts" },
      /`deno run` of https:\/\/jsr\.io\/@x\/authcalator\/0\.1\.0\/src\/main\.ts, not an installed command.*--command PATH/,
    ],
    [{ shim: "bin/authcalator" }, /AUTHCALATOR_EXECUTABLE must be an absolute path/],
    [{ override: "authcalator" }, /--command must be an absolute path/],
    [{ override: "" }, /--command must be an absolute path/],
  ];
  for (const [extra, message] of bad) {
    assert.throws(
      () => execTarget({ ...launch, ...extra }),
      (err: Error) => err instanceof UnstableCommandError && message.test(err.message),
      JSON.stringify(extra),
    );
  }
});

Deno.test("transienceOf: temp roots match whole path segments only", () => {
  assert.equal(transienceOf("/tmpfoo/authcalator", ["/tmp"]), undefined);
  assert.match(transienceOf("/tmp/authcalator", ["/tmp/"])!, /under \/tmp/);
  assert.equal(transienceOf("/home/u/.deno/bin/authcalator", ["/tmp"]), undefined);
});
