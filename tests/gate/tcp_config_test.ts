/**
 * The TCP listener's configuration keys and their bad forms: the gate refuses, by key and with the
 * fix, a bind address that is not an IP, two client authentications at once, TokenReview without
 * an allowlist or with a malformed identity, a non-https Kubernetes API, and TCP keys without
 * `gate_tls_port`; the permission table pins the bind address, the Kubernetes API host and the
 * files the listener reads.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../src/cli/config.ts";
import { UsageError } from "../../src/errors.ts";
import { checkGateConfig, isLoopback, tcpClientAuth } from "../../src/gate/gate_config.ts";
import { denoFlags } from "../../src/permissions.ts";

const BASE = { project_id: "p", service_account: "sa@p.iam.gserviceaccount.com" };

function check(flags: Record<string, string>, env: Record<string, string> = {}) {
  return checkGateConfig(loadConfig({ flags: { ...BASE, ...flags }, env: { HOME: "/h", ...env } }));
}

function refused(flags: Record<string, string>, pattern: RegExp) {
  assert.throws(() => check(flags), (err: unknown) => {
    assert.ok(err instanceof UsageError, `expected UsageError, got ${err}`);
    assert.match(err.message, pattern);
    return true;
  });
}

Deno.test("TCP keys: accepted forms and the client authentication they choose", () => {
  assert.equal(tcpClientAuth(check({ gate_tls_port: "8174" })), "certificate");
  assert.equal(
    tcpClientAuth(check({ gate_tls_port: "8174", gate_bearer_tokens_file: "~/tokens" })),
    "bearer_file",
  );
  const review = check({
    gate_tls_port: "8174",
    gate_bind: "0.0.0.0",
    gate_token_review_audience: "authcalator",
    gate_allowed_service_accounts: "system:serviceaccount:ws:a,system:serviceaccount:ws:b",
    gate_kube_api_url: "https://10.0.0.1:6443",
  });
  assert.equal(tcpClientAuth(review), "token_review");
  assert.deepEqual(review.gate_allowed_service_accounts, [
    "system:serviceaccount:ws:a",
    "system:serviceaccount:ws:b",
  ]);
  assert.equal(check({ gate_tls_port: "8174", gate_bind: "::1" }).gate_bind, "::1");
  assert.equal(
    check({ gate_bearer_tokens_file: "~/t", gate_tls_port: "1" }).gate_bearer_tokens_file,
    "/h/t",
  );
  for (const a of ["127.0.0.1", "127.1.2.3", "::1", "localhost"]) assert.ok(isLoopback(a), a);
  for (const a of ["0.0.0.0", "10.0.0.1", "::"]) assert.ok(!isLoopback(a), a);
});

Deno.test("TCP keys: bad forms are refused by key with the fix", () => {
  refused({ gate_tls_port: "0" }, /gate_tls_port: must be between 1 and 65535/);
  refused({ gate_tls_port: "8174", gate_bind: "gate.example.com" }, /gate_bind: must be an IP/);
  refused({ gate_tls_port: "8174", gate_bind: "300.1.1.1" }, /gate_bind: must be an IP/);
  refused({ gate_tls_port: "8174", gate_bind: "1.2.3.4:80" }, /gate_bind: must be an IP/);
  refused(
    { gate_tls_port: "8174", gate_bearer_tokens_file: "/t", gate_token_review_audience: "a" },
    /choose one way for TCP clients to authenticate/,
  );
  refused(
    { gate_tls_port: "8174", gate_token_review_audience: "aud" },
    /gate_allowed_service_accounts: required with gate_token_review_audience/,
  );
  refused(
    {
      gate_tls_port: "8174",
      gate_token_review_audience: "aud",
      gate_allowed_service_accounts: "ws:agent",
    },
    /"ws:agent" is not system:serviceaccount:<namespace>:<name>/,
  );
  refused(
    {
      gate_tls_port: "8174",
      gate_token_review_audience: "aud",
      gate_allowed_service_accounts: "system:serviceaccount:ws:a",
      gate_kube_api_url: "http://10.0.0.1",
    },
    /gate_kube_api_url: must be an https URL/,
  );
  refused(
    {
      gate_tls_port: "8174",
      gate_token_review_audience: "aud",
      gate_allowed_service_accounts: "system:serviceaccount:ws:a",
      gate_kube_api_url: "https://u:p@10.0.0.1?x=1",
    },
    /gate_kube_api_url: must not carry credentials, a query or a fragment/,
  );
  refused(
    { gate_tls_port: "8174", gate_allowed_service_accounts: "system:serviceaccount:ws:a" },
    /gate_allowed_service_accounts: applies to TokenReview only/,
  );
  refused(
    { gate_bind: "0.0.0.0" },
    /gate_bind: applies to the TCP listener only; set gate_tls_port/,
  );
  refused(
    { gate_bearer_tokens_file: "/t" },
    /gate_bearer_tokens_file: applies to the TCP listener/,
  );
});

Deno.test("permissions: the bind address, the Kubernetes API host and the listener's files", () => {
  const flags = (config: ReturnType<typeof check>, kubernetesApiUrl?: string) =>
    denoFlags("gate", {
      home: "/h",
      runtimeDir: "/run/user/1",
      config,
      kubernetesApiUrl,
    }).join(" ");
  const plain = flags(check({}));
  assert.ok(!plain.includes(":8174"), "no TCP grant without gate_tls_port");
  const mtls = flags(check({ gate_tls_port: "8174" }));
  assert.match(mtls, /--allow-net=[^ ]*127\.0\.0\.1:8174/);
  assert.match(mtls, /--allow-read=[^ ]*\/h\/\.gcp-authcalator\/tls/);
  const review = flags(
    check({
      gate_tls_port: "8174",
      gate_bind: "::",
      gate_token_review_audience: "aud",
      gate_allowed_service_accounts: "system:serviceaccount:ws:a",
    }),
    "https://10.96.0.1:443",
  );
  assert.match(review, /--allow-net=[^ ]*\[::\]:8174/);
  assert.match(review, /--allow-net=[^ ]*10\.96\.0\.1:443/);
  assert.match(review, /--allow-read=[^ ]*\/var\/run\/secrets\/kubernetes\.io\/serviceaccount/);
  const bearer = flags(check({ gate_tls_port: "8174", gate_bearer_tokens_file: "/etc/a/tokens" }));
  assert.match(bearer, /--allow-read=[^ ]*\/etc\/a\/tokens/);
});
