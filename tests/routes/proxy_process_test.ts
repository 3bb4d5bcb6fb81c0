/**
 * The real `authcalator metadata-proxy` process with `--routes-port`: its second loopback listener
 * passes a routed call to the gate socket (a fake gate) while the metadata port keeps its own
 * rules, and without routes_port there is no routes listener at all.
 */
import assert from "node:assert/strict";
import { FakeGate } from "../metadata/fake_gate.ts";
import { pinnedFlags } from "../../src/commands/permissions.ts";
import { freePort } from "../../src/testing/process.ts";

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

/** Reads `stream` line by line until `match` finds a line, bounded by `ms`. */
async function waitForLine(
  stream: ReadableStream<Uint8Array>,
  match: RegExp,
  ms = 30_000,
): Promise<{ found: RegExpExecArray; rest: ReadableStreamDefaultReader<string> }> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  const deadline = setTimeout(() => reader.cancel(), ms);
  let text = "";
  try {
    while (true) {
      const step = await reader.read();
      if (step.done) throw new Error(`no line matching ${match} in ${JSON.stringify(text)}`);
      text += step.value;
      const found = match.exec(text);
      if (found) return { found, rest: reader };
    }
  } finally {
    clearTimeout(deadline);
  }
}

function denoDir(): string {
  return Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;
}

/** The proxy under the exact flags `authcalator permissions metadata-proxy` pins for its args. */
function startProxy(dir: string, socket: string, extra: string[]) {
  const args = [
    "--project-id",
    "demo-project",
    "--socket-path",
    socket,
    "--port",
    String(freePort()),
    ...extra,
  ];
  // HOME moves (no user config file is read), so DENO_DIR is pinned to the cache in use.
  const env = { HOME: dir, XDG_CONFIG_HOME: `${dir}/config`, DENO_DIR: denoDir() };
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...pinnedFlags("metadata-proxy", args, env), MAIN, "metadata-proxy", ...args],
    env,
    clearEnv: false,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return child;
}

Deno.test("metadata-proxy --routes-port under its pinned flags serves routes on a second loopback port, over the gate socket", async () => {
  const dir = await Deno.makeTempDir({ prefix: "routes-proc-" });
  const gate = new FakeGate(`${dir}/gate.sock`);
  const routed: { path: string; target: string | null; auth: string | null }[] = [];
  gate.app.all("/routes/:name", (c) => {
    routed.push({
      path: new URL(c.req.url).pathname,
      target: c.req.header("x-route-target") ?? null,
      auth: c.req.header("authorization") ?? null,
    });
    return c.text("from upstream");
  });
  gate.start();
  const child = startProxy(dir, gate.socketPath, ["--routes-port", String(freePort())]);
  try {
    const { found, rest } = await waitForLine(
      child.stdout,
      /metadata-proxy routes on http:\/\/127\.0\.0\.1:(\d+)\/<route>\//,
    );
    rest.cancel().catch(() => {});
    const port = Number(found[1]);
    const res = await fetch(`http://127.0.0.1:${port}/github/user/repos?per_page=5`, {
      headers: { authorization: "token container-placeholder" },
    });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "from upstream");
    assert.deepEqual(routed, [{
      path: "/routes/github",
      target: "/user/repos?per_page=5",
      auth: null,
    }]);
    // The routes port is not a metadata server: no metadata path is special there.
    const meta = await fetch(
      `http://127.0.0.1:${port}/computeMetadata/v1/instance/service-accounts/default/token`,
      { headers: { "metadata-flavor": "Google" } },
    );
    assert.equal(meta.status, 404);
    await meta.body?.cancel();
    assert.equal(routed.length, 1);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await child.stderr.cancel().catch(() => {});
    await gate.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("metadata-proxy refuses a routes_port that is taken or equals port, naming the key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "routes-proc-" });
  const gate = new FakeGate(`${dir}/gate.sock`);
  gate.start();
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const busy = startProxy(dir, gate.socketPath, ["--routes-port", String(taken.addr.port)]);
    const busyOut = await busy.output();
    assert.notEqual(busyOut.code, 0);
    // Never announced as listening: a start script waiting for that line sees the failure.
    assert.doesNotMatch(new TextDecoder().decode(busyOut.stdout), /listening on/);
    assert.match(
      new TextDecoder().decode(busyOut.stderr),
      /routes_port \d+ on 127\.0\.0\.1 is already in use: pick another with --routes-port/,
    );
    const same = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MAIN,
        "metadata-proxy",
        "--project-id",
        "p",
        "--socket-path",
        gate.socketPath,
        "--port",
        "8190",
        "--routes-port",
        "8190",
      ],
      env: { HOME: dir, XDG_CONFIG_HOME: `${dir}/config`, DENO_DIR: denoDir() },
      stdout: "piped",
      stderr: "piped",
    });
    const sameOut = await same.output();
    assert.equal(sameOut.code, 2);
    assert.match(
      new TextDecoder().decode(sameOut.stderr),
      /routes_port: must differ from port \(8190\)/,
    );
  } finally {
    taken.close();
    await gate.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
