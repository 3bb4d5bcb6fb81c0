/**
 * Issue 8: a metadata-proxy whose port is taken said only "Address already in use (os error 98)".
 * Now it names the port and says how to pick another; nothing else changes (exit 1, the first
 * proxy keeps serving).
 */
import assert from "node:assert/strict";
import { PROJECT, startChain } from "../../src/testing/chain.ts";
import { runCli } from "../helpers/cli.ts";

Deno.test("a second metadata-proxy on a taken port names it and how to pick another", async () => {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-port-in-use-" });
  const chain = await startChain({ dir });
  try {
    const port = chain.metadataHost!.split(":")[1];
    const second = await runCli([
      "metadata-proxy",
      "--project-id",
      PROJECT,
      "--socket-path",
      chain.socketPath,
      "--port",
      port,
    ]);
    assert.equal(second.code, 1, second.stderr);
    assert.equal(second.stdout, "");
    assert.match(
      second.stderr,
      new RegExp(
        `^metadata-proxy: port ${port} on 127\\.0\\.0\\.1 is already in use \\(another metadata-proxy\\?\\): ` +
          "pick another with --port N \\(or GCP_AUTHCALATOR_PORT, or port in the config file; " +
          "0 = any free port\\) and point GCE_METADATA_HOST at it\\n$",
      ),
    );
    assert.doesNotMatch(second.stderr, /os error/);
    const still = await fetch(`${chain.proxyUrl}/computeMetadata/v1/project/project-id`, {
      headers: { "Metadata-Flavor": "Google" },
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(await still.text(), PROJECT);
  } finally {
    await chain.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
