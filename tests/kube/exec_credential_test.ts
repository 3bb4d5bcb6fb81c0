import assert from "node:assert/strict";
import {
  EXEC_API_V1,
  EXEC_API_V1BETA1,
  execApiVersion,
  execCredential,
} from "../../src/kube/exec_credential.ts";

const info = (apiVersion: unknown) =>
  JSON.stringify({ kind: "ExecCredential", apiVersion, spec: { interactive: false } });

Deno.test("execApiVersion mirrors v1 and v1beta1 from KUBERNETES_EXEC_INFO", () => {
  assert.equal(execApiVersion(info(EXEC_API_V1)), EXEC_API_V1);
  assert.equal(execApiVersion(info(EXEC_API_V1BETA1)), EXEC_API_V1BETA1);
});

Deno.test("execApiVersion falls back to v1beta1 for absent, garbage or unknown input", () => {
  for (
    const value of [
      undefined,
      "",
      "not json",
      "{",
      "null",
      "42",
      '"client.authentication.k8s.io/v1"',
      "[]",
      info("client.authentication.k8s.io/v1alpha1"),
      info(1),
      JSON.stringify({ kind: "ExecCredential" }),
    ]
  ) {
    assert.equal(execApiVersion(value), EXEC_API_V1BETA1, `for ${value}`);
  }
});

Deno.test("execCredential expires one second after now, as an RFC 3339 UTC time", () => {
  const now = new Date("2026-01-02T03:04:05.678Z");
  const cred = execCredential(EXEC_API_V1, "ya29.t", now);
  assert.deepEqual(cred, {
    apiVersion: EXEC_API_V1,
    kind: "ExecCredential",
    status: { token: "ya29.t", expirationTimestamp: "2026-01-02T03:04:06.678Z" },
  });
});
