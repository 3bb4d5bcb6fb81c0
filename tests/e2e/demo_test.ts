/**
 * `deno task demo` as a user runs it: it starts the chain through the shared launcher, proves it
 * with google-auth-library, prints "ready", and on each stop signal (SIGINT, SIGTERM and, the
 * issue-8 defect, SIGHUP) stops every role and removes its temp dir, ADC file included.
 */
import assert from "node:assert/strict";
import { baseEnv, ROOT, watchProcess } from "../helpers/cli.ts";

async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names;
}

for (const signal of ["SIGHUP", "SIGTERM", "SIGINT"] as const) {
  Deno.test(`the demo removes its temp dir (ADC included) on ${signal}`, async () => {
    const tmp = await Deno.makeTempDir({ prefix: "authcalator-demo-test-" });
    try {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", "--allow-all", `${ROOT}scripts/demo.ts`, "--port", "0"],
        env: baseEnv({ TMPDIR: tmp }),
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const demo = watchProcess(child);
      try {
        await demo.waitFor(/^ready \(in [\d.]+ s\)/m, 90_000);
        assert.match(demo.output(), /\[client\] google-auth-library through the proxy: /);
        const [made] = await entries(tmp);
        assert.match(made, /^authcalator-demo-/);
        assert.ok((await entries(`${tmp}/${made}`)).includes("adc.json"));
        child.kill(signal);
        const status = await demo.exited(30_000);
        assert.equal(status.code, 0, demo.output());
        assert.match(demo.output(), new RegExp(`${signal}: stopping`));
        assert.deepEqual(await entries(tmp), [], "the demo left files behind");
      } finally {
        await demo.stop("SIGKILL");
      }
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  });
}

Deno.test("the demo's bad arguments exit 2 with a clear message", async () => {
  const cases: [string[], RegExp][] = [
    [["--port", "http"], /--port must be a port number \(0-65535\), got "http"/],
    [["--port", "70000"], /--port must be a port number \(0-65535\), got "70000"/],
    [["--port=-1"], /--port must be a port number \(0-65535\), got "-1"/],
    [["--port"], /--port needs a value\nusage: deno task demo \[--port N\]/],
    [["--prot", "1"], /unknown argument "--prot"\nusage: deno task demo/],
  ];
  for (const [args, pattern] of cases) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--allow-all", `${ROOT}scripts/demo.ts`, ...args],
      env: baseEnv(),
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 2, args.join(" "));
    assert.match(new TextDecoder().decode(out.stderr), pattern);
  }
});
