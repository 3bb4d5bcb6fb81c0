/** `authcalator metadata-proxy` as a process: configuration errors, the gate check, signals. */
import assert from "node:assert/strict";
import { bindAddress } from "../../src/commands/metadata_proxy.ts";
import { UsageError } from "../../src/errors.ts";
import { freePort, runCli, startCli } from "../helpers/cli.ts";
import { FakeGate, json, latch } from "../metadata/fake_gate.ts";
import { eventually, getRequest, rawRequest } from "../metadata/raw_http.ts";
import { proxyPermissions } from "../metadata/stack.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-md-cli-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("bindAddress: 127.0.0.1 by default; IP literals only", () => {
  assert.equal(bindAddress(undefined), "127.0.0.1");
  assert.equal(bindAddress("localhost"), "127.0.0.1");
  assert.equal(bindAddress("0.0.0.0"), "0.0.0.0");
  assert.equal(bindAddress("[::1]"), "::1");
  for (const bad of ["example.com", "300.1.1.1", "", "127.0.0.1:80"]) {
    assert.throws(() => bindAddress(bad), UsageError, bad);
  }
});

Deno.test("metadata-proxy: usage errors exit 2 with a clear message", async () => {
  await withDir(async (dir) => {
    const sock = `${dir}/g.sock`;
    const noProject = await runCli(["metadata-proxy", "--socket-path", sock]);
    assert.equal(noProject.code, 2, noProject.stderr);
    assert.match(noProject.stderr, /metadata-proxy needs project_id \(--project-id/);

    const gateUrl = await runCli([
      "metadata-proxy",
      "--project-id",
      "p",
      "--socket-path",
      sock,
      "--gate-url",
      "https://gate.example:8174",
    ]);
    assert.equal(gateUrl.code, 1, gateUrl.stderr);
    assert.match(gateUrl.stderr, /gate_url is set but no TLS client bundle is available/);

    const bind = await runCli([
      "metadata-proxy",
      "--project-id",
      "p",
      "--socket-path",
      sock,
      "--bind",
      "evil.example",
    ]);
    assert.equal(bind.code, 2);
    assert.match(bind.stderr, /--bind must be an IP address/);
  });
});

Deno.test("metadata-proxy: a missing gate, a non-socket or an unhealthy gate exits 1 with advice", async () => {
  await withDir(async (dir) => {
    const args = (sock: string) => ["metadata-proxy", "--project-id", "p", "--socket-path", sock];
    const missing = await runCli(args(`${dir}/none.sock`));
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /the gate socket .*none\.sock does not exist: start `authcalator gate`/,
    );

    await Deno.writeTextFile(`${dir}/file.sock`, "");
    const notSocket = await runCli(args(`${dir}/file.sock`));
    assert.equal(notSocket.code, 1);
    assert.match(notSocket.stderr, /file\.sock exists but is not a socket/);

    const gate = new FakeGate(`${dir}/g.sock`).start();
    try {
      gate.script.health = () => json({ error: "starting up" }, 503);
      const sick = await runCli(args(gate.socketPath));
      assert.equal(sick.code, 1);
      assert.match(sick.stderr, /did not pass its health check: starting up/);

      const hold = latch();
      gate.script.health = async () => {
        await hold.wait;
        return json({ status: "ok" });
      };
      const started = performance.now();
      const slow = await runCli(args(gate.socketPath));
      hold.open();
      assert.equal(slow.code, 1);
      assert.match(slow.stderr, /did not answer within 3000 ms while checking the gate's health/);
      assert.ok(performance.now() - started < 15_000);
    } finally {
      await gate.stop();
    }
  });
});

Deno.test("metadata-proxy under its pinned permissions: serves, then stops cleanly on SIGTERM and SIGINT", async () => {
  await withDir(async (dir) => {
    const gate = new FakeGate(`${dir}/g.sock`).start();
    try {
      for (const signal of ["SIGTERM", "SIGINT"] as const) {
        const port = freePort();
        const proxy = startCli([
          "metadata-proxy",
          "--project-id",
          "demo-project",
          "--socket-path",
          gate.socketPath,
          "--port",
          String(port),
        ], { permissions: proxyPermissions(gate.socketPath, port) });
        try {
          await proxy.waitFor(
            new RegExp(`metadata-proxy listening on http://127\\.0\\.0\\.1:${port}\\n`),
          );
          const host = { Host: `127.0.0.1:${port}`, "Metadata-Flavor": "Google" };
          const root = await rawRequest(port, getRequest("/", { Host: `127.0.0.1:${port}` }));
          assert.equal(root.status, 200);
          const token = await rawRequest(
            port,
            getRequest("/computeMetadata/v1/instance/service-accounts/default/token", host),
          );
          assert.equal(token.status, 200, token.body);
          assert.match(JSON.parse(token.body).access_token, /^ya29\.gate-/);
          const rebinding = await rawRequest(
            port,
            getRequest("/", { Host: `evil.example:${port}` }),
          );
          assert.equal(rebinding.status, 403);
          // A hanging wait_for_change must not hold the shutdown.
          // Its first render asks the gate for the project number: seeing that call means the
          // request has reached the proxy and is about to hang.
          const asked = gate.count("/project-number");
          const conn = await Deno.connect({ hostname: "127.0.0.1", port });
          await conn.write(new TextEncoder().encode(getRequest(
            "/computeMetadata/v1/project/numeric-project-id?wait_for_change=true&timeout_sec=3600",
            host,
          )));
          await eventually(() => gate.count("/project-number") > asked, "the hang to start");
          const started = performance.now();
          const status = await proxy.stop(signal);
          assert.equal(status.code, 0, proxy.output());
          assert.ok(performance.now() - started < 10_000, "stops promptly");
          conn.close();
          assert.ok(!proxy.output().includes("ya29."), "no token in the output");
        } finally {
          await proxy.stop("SIGKILL");
        }
      }
    } finally {
      await gate.stop();
    }
  });
});

Deno.test("metadata-proxy --bind: listens on the address given and accepts it as Host", async () => {
  await withDir(async (dir) => {
    const gate = new FakeGate(`${dir}/g.sock`).start();
    const port = freePort();
    const proxy = startCli([
      "metadata-proxy",
      "--project-id",
      "demo-project",
      "--socket-path",
      gate.socketPath,
      "--port",
      String(port),
      "--bind",
      "127.0.0.2",
    ]);
    try {
      await proxy.waitFor(
        new RegExp(`metadata-proxy listening on http://127\\.0\\.0\\.2:${port}\\n`),
      );
      assert.ok(!/warning/.test(proxy.output()), "a loopback address needs no warning");
      const res = await rawRequest(
        port,
        getRequest("/computeMetadata/v1/project/project-id", {
          Host: `127.0.0.2:${port}`,
          "Metadata-Flavor": "Google",
        }),
        5000,
        "127.0.0.2",
      );
      assert.equal(res.status, 200);
      assert.equal(res.body, "demo-project");
    } finally {
      assert.equal((await proxy.stop("SIGTERM")).code, 0);
      await gate.stop();
    }
  });
});
