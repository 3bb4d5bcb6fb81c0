/**
 * The one chain launcher (src/testing/chain.ts): all or nothing. A chain that cannot finish
 * starting stops what it started (no orphaned emulator or gate), and a started chain stops every
 * role it started, the ones adopted from the caller included.
 */
import assert from "node:assert/strict";
import { startChain } from "../../src/testing/chain.ts";
import { startCli } from "../helpers/cli.ts";

/** Pids of live processes whose command line mentions `needle`. */
async function processesMentioning(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`).catch(() => "");
    if (cmdline.includes(needle)) pids.push(Number(entry.name));
  }
  return pids;
}

Deno.test("a chain whose gate cannot start stops the emulator it started", async () => {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-chain-fail-" });
  try {
    await assert.rejects(
      startChain({ dir, gateArgs: ["--bogus-flag", "x"] }),
      /unknown flag --bogus-flag/,
    );
    assert.deepEqual(await processesMentioning(dir), []);
    // A gate that starts and exits (no ADC file) is also a failed start, not a hang.
    await Deno.remove(dir, { recursive: true });
    await Deno.mkdir(dir);
    await assert.rejects(
      startChain({ dir, gateEnv: { GOOGLE_APPLICATION_CREDENTIALS: `${dir}/missing.json` } }),
      /process exited before \/gate listening on unix:\//,
    );
    assert.deepEqual(await processesMentioning(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stop() ends every role, adopted ones included, and a second stop() is harmless", async () => {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-chain-stop-" });
  try {
    const lines: string[] = [];
    const chain = await startChain({ dir, onLine: (role, line) => lines.push(`${role}|${line}`) });
    assert.ok(lines.some((l) => l.startsWith("gate|gate listening on unix:")), lines.join("\n"));
    assert.match(chain.metadataHost!, /^127\.0\.0\.1:\d+$/);
    // A marker that is a valid project id (a letter first) and names this test's process.
    const marker = `x${dir.slice(-8).toLowerCase()}`;
    const extra = chain.adopt(startCli(["emulator", "--port", "0", "--project-id", marker]));
    await extra.waitFor(/emulator listening/, 30_000);
    await chain.stop();
    await chain.stop();
    assert.deepEqual(await processesMentioning(dir), []);
    assert.deepEqual(await processesMentioning(marker), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
