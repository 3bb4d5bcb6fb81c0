import assert from "node:assert/strict";
import {
  hostAllowed,
  hostForUrl,
  isLoopback,
  rememberLastAllowed,
} from "../../src/metadata/host_check.ts";

Deno.test("loopback bind: the bound host:port, localhost and metadata names only", () => {
  const ok = (h: string | null) => hostAllowed(h, "127.0.0.1", 8173);
  for (
    const h of [
      "127.0.0.1:8173",
      "localhost:8173",
      "169.254.169.254",
      "169.254.169.254:80",
      "169.254.169.254:8173",
      "metadata.google.internal",
      "Metadata.Google.Internal.",
      "metadata",
      "metadata:8173",
    ]
  ) assert.ok(ok(h), h);
  for (
    const h of [
      null,
      "",
      "127.0.0.1",
      "127.0.0.1:80",
      "evil.example:8173",
      "127.0.0.1.nip.io:8173",
      "metadata:9999",
      "10.0.0.1:8173",
      "[::1]:8173",
    ]
  ) assert.ok(!ok(h), String(h));
});

Deno.test("IPv6 and wildcard binds", () => {
  assert.ok(hostAllowed("[::1]:9000", "::1", 9000));
  assert.ok(hostAllowed("10.1.2.3:9000", "0.0.0.0", 9000), "any IP literal on a wildcard bind");
  assert.ok(!hostAllowed("rebind.example:9000", "0.0.0.0", 9000), "never a DNS name");
  assert.ok(hostAllowed("192.168.1.5:9000", "192.168.1.5", 9000));
  assert.ok(!hostAllowed("127.0.0.1:9000", "192.168.1.5", 9000));
});

Deno.test("helpers", () => {
  assert.equal(hostForUrl("::1"), "[::1]");
  assert.equal(hostForUrl("127.0.0.1"), "127.0.0.1");
  assert.ok(isLoopback("127.0.0.1") && isLoopback("127.9.9.9") && isLoopback("::1"));
  assert.ok(isLoopback("[::1]") && isLoopback("localhost"));
  assert.ok(!isLoopback("0.0.0.0") && !isLoopback("10.0.0.1") && !isLoopback("::"));
});

Deno.test("rememberLastAllowed: answers as the check does, remembering only an allowed Host", () => {
  const asked: (string | null)[] = [];
  const check = rememberLastAllowed((host) => {
    asked.push(host);
    return host === "metadata" || host === "169.254.169.254";
  });
  assert.equal(check("metadata"), true);
  assert.equal(check("metadata"), true);
  assert.deepEqual(asked, ["metadata"], "the second ask is answered from memory");
  assert.equal(check("evil.example"), false);
  assert.equal(check("evil.example"), false);
  assert.equal(check(null), false);
  assert.equal(check("169.254.169.254"), true);
  assert.equal(check("metadata"), true);
  assert.deepEqual(asked, [
    "metadata",
    "evil.example",
    "evil.example",
    null,
    "169.254.169.254",
    "metadata",
  ]);
});
