import assert from "node:assert/strict";
import { buildChildEnv, STRIPPED_VARS, substitute } from "../../src/with_prod/child_env.ts";

const base = {
  PATH: "/bin",
  HOME: "/h",
  GOOGLE_APPLICATION_CREDENTIALS: "/adc.json",
  CLOUDSDK_AUTH_ACCESS_TOKEN: "ya29.leak",
  CLOUDSDK_CORE_ACCOUNT: "other@x.com",
  CLOUDSDK_CONFIG: "/h/.config/gcloud",
  GOOGLE_CLOUD_PROJECT: "wrong-project",
  GOOGLE_CLOUD_QUOTA_PROJECT: "inherited-quota",
  GCP_AUTHCALATOR_TLS_BUNDLE_B64: "bundle",
  GCP_AUTHCALATOR_SOCKET_PATH: "/run/g.sock",
};

const input = {
  base,
  metadataHost: "127.0.0.1:40000",
  cloudsdkConfig: "/run/sandbox",
  email: "eng@example.com",
  project: "prod-proj",
  noQuotaProject: false,
  extras: {},
};

Deno.test("credentials are stripped and identity, project and metadata pinned", () => {
  const env = buildChildEnv(input);
  for (const k of STRIPPED_VARS) {
    if (k !== "CLOUDSDK_CORE_ACCOUNT" && k !== "CLOUDSDK_CONFIG") {
      assert.equal(env[k], undefined, k);
    }
  }
  assert.equal(env.GCE_METADATA_HOST, "127.0.0.1:40000");
  assert.equal(env.GCE_METADATA_IP, "127.0.0.1:40000");
  assert.equal(env.GCE_METADATA_ROOT, "127.0.0.1:40000");
  assert.equal(env.GCP_AUTHCALATOR_PROD_SESSION, "127.0.0.1:40000");
  assert.equal(env.CLOUDSDK_CONFIG, "/run/sandbox");
  assert.equal(env.CLOUDSDK_CORE_ACCOUNT, "eng@example.com");
  assert.equal(env.CLOUDSDK_CORE_PROJECT, "prod-proj");
  assert.equal(env.GOOGLE_CLOUD_PROJECT, "prod-proj");
  assert.equal(env.GCLOUD_PROJECT, "prod-proj");
  assert.equal(env.GOOGLE_CLOUD_QUOTA_PROJECT, "prod-proj");
  assert.equal(env.GCP_AUTHCALATOR_SOCKET_PATH, "/run/g.sock");
  assert.equal(env.PATH, "/bin");
  assert.ok(!Object.values(env).includes("ya29.leak"));
});

Deno.test("quota project: --quota-project overrides, --no-quota-project leaves the inherited value", () => {
  assert.equal(
    buildChildEnv({ ...input, quotaProject: "billing" }).GOOGLE_CLOUD_QUOTA_PROJECT,
    "billing",
  );
  assert.equal(
    buildChildEnv({ ...input, noQuotaProject: true, quotaProject: "billing" })
      .GOOGLE_CLOUD_QUOTA_PROJECT,
    "inherited-quota",
  );
  const { GOOGLE_CLOUD_QUOTA_PROJECT: _, ...noQuota } = base;
  assert.equal(
    buildChildEnv({ ...input, base: noQuota, noQuotaProject: true }).GOOGLE_CLOUD_QUOTA_PROJECT,
    undefined,
  );
});

Deno.test("extras apply last, in order, with ${VAR} and ${VAR:-default}", () => {
  const env = buildChildEnv({
    ...input,
    extras: {
      A: "${HOME}/a",
      B: "${A}:${MISSING}:${MISSING:-fallback:-x}",
      EMPTY: "",
      C: "${EMPTY:-unused}",
      GOOGLE_CLOUD_QUOTA_PROJECT: "from-env",
      D: "$HOME ${ nope }",
    },
  });
  assert.equal(env.A, "/h/a");
  assert.equal(env.B, "/h/a::fallback:-x");
  assert.equal(env.C, "");
  assert.equal(env.GOOGLE_CLOUD_QUOTA_PROJECT, "from-env");
  assert.equal(env.D, "$HOME ");
});

Deno.test("substitute has no nesting and no $NAME form", () => {
  assert.equal(substitute("${A}${B}", { A: "${B}", B: "b" }), "${B}b");
  assert.equal(substitute("$A", { A: "a" }), "$A");
});
