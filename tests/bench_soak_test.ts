/** The bench's soak visits exactly the promised scope sets, each as a run of repeated requests. */
import assert from "node:assert/strict";
import { FULL_SOAK, soakScopes } from "../scripts/bench/soak.ts";

Deno.test("the full soak is 100k requests over 10k distinct scope sets, each asked 10 times in a row", () => {
  assert.equal(FULL_SOAK.requests, 100_000);
  assert.equal(FULL_SOAK.scopeSets, 10_000);
  assert.equal(FULL_SOAK.checkpointAfter, 10_000);
  assert.equal(FULL_SOAK.allowedGrowthMiB, 20);
  const runs = new Map<string, number>();
  let previous = "";
  let changes = 0;
  for (let i = 0; i < FULL_SOAK.requests; i++) {
    const scopes = soakScopes(i, FULL_SOAK);
    runs.set(scopes, (runs.get(scopes) ?? 0) + 1);
    if (scopes !== previous) changes++;
    previous = scopes;
  }
  assert.equal(runs.size, 10_000);
  assert.ok([...runs.values()].every((n) => n === 10));
  assert.equal(changes, 10_000, "each set's requests are consecutive: one miss, then hits");
  // Every set is a valid proxy scope list: comma-separated, printable, no spaces.
  assert.match(
    soakScopes(0, FULL_SOAK),
    /^https:\/\/www\.googleapis\.com\/auth\/cloud-platform,\S+$/,
  );
});
