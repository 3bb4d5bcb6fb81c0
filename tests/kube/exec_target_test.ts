import assert from "node:assert/strict";
import { execTarget } from "../../src/kube/exec_target.ts";

const launch = {
  executable: "/usr/local/bin/authcalator",
  entryModule: "/src/authcalator/src/kube/kube_token_entry.ts",
  kubeTokenFlags: ["--no-prompt", "--allow-net=127.0.0.1:8173", "--allow-env=A,B"],
};

Deno.test("execTarget: a compiled binary runs itself with kube-token", () => {
  assert.deepEqual(execTarget({ ...launch, standalone: true }), {
    command: "/usr/local/bin/authcalator",
    args: ["kube-token"],
  });
});

Deno.test("execTarget: from source, deno runs the entry point under the pinned flags only", () => {
  assert.deepEqual(execTarget({ ...launch, executable: "/usr/bin/deno", standalone: false }), {
    command: "/usr/bin/deno",
    args: [
      "run",
      "--no-config",
      "--no-prompt",
      "--allow-net=127.0.0.1:8173",
      "--allow-env=A,B",
      "/src/authcalator/src/kube/kube_token_entry.ts",
    ],
  });
});
