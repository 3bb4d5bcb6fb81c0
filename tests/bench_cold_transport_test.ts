/**
 * The bench's cold-token rows by transport, in shape only (no figure is asserted: performance
 * belongs to the bench): the Unix-socket chain and the remote chains (TCP + mTLS, TCP + bearer)
 * start, every path answers cold tokens, and each row has finite figures and its ratios to the
 * Unix socket's (1 for the Unix socket itself); the report renders the table.
 */
import assert from "node:assert/strict";
import { SERVICE_ACCOUNT, startChain } from "../src/testing/chain.ts";
import { measureColdByTransport } from "../scripts/bench/cold.ts";
import { startRemoteChains } from "../scripts/bench/remote_chains.ts";
import { coldByTransportTable } from "../scripts/bench/report.ts";

Deno.test("cold tokens by transport: three paths, same run, ratios to the Unix socket", async () => {
  const dir = await Deno.makeTempDir({ prefix: "authcalator-bench-cold-" });
  await Deno.chmod(dir, 0o700);
  const chain = await startChain({ dir, proxyPort: 0 });
  try {
    const remote = await startRemoteChains(dir);
    try {
      const rows = await measureColdByTransport(
        [
          {
            label: "Unix socket",
            proxyUrl: chain.proxyUrl!,
            emulatorUrl: chain.emulatorUrl,
            adcPath: chain.adcPath,
          },
          ...remote.chains,
        ],
        SERVICE_ACCOUNT,
        2,
        2,
      );
      assert.deepEqual(rows.map((r) => r.transport), [
        "Unix socket",
        "TCP + mTLS (client certificate)",
        "TCP + bearer token file (hashes list)",
      ]);
      for (const row of rows) {
        assert.equal(row.runs, 2);
        for (const v of [row.chainP50Ms, row.overheadP50Ms, row.chainRatio, row.overheadRatio]) {
          assert.ok(Number.isFinite(v), `${row.transport}: ${JSON.stringify(row)}`);
        }
      }
      assert.equal(rows[0].chainRatio, 1);
      assert.equal(rows[0].overheadRatio, 1);
      const markdown = coldByTransportTable(rows).join("\n");
      assert.match(markdown, /\| TCP \+ mTLS \(client certificate\) \| [\d.]+ ms \|/);
    } finally {
      await remote.stop();
    }
  } finally {
    await chain.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
