import assert from "node:assert/strict";
import { plan, TARGETS } from "../scripts/build.ts";
import { kindFlags } from "../src/permissions.ts";

Deno.test("the release compiles every role for every target with the role's permission kinds", () => {
  const steps = plan("dist");
  for (const target of TARGETS) {
    const step = steps.find((s) => s.output === `dist/authcalator-metadata-proxy-${target.name}`);
    assert.ok(step, target.name);
    for (const flag of kindFlags("metadata-proxy")) assert.ok(step.args.includes(flag), flag);
    assert.ok(!step.args.includes("--allow-run"));
    assert.ok(!step.args.includes("--allow-all"));
    assert.deepEqual(step.args.slice(-5), [
      "--target",
      target.triple,
      "--output",
      step.output,
      "src/main.ts",
    ]);
  }
  const withProd = steps.find((s) => s.output === "dist/authcalator-with-prod-linux-x64")!;
  assert.ok(withProd.args.includes("--allow-all"));
});

Deno.test("the release workflow runs the build script, checksums and a publish dry run", async () => {
  const yml = await Deno.readTextFile(new URL("../.github/workflows/release.yml", import.meta.url));
  assert.match(yml, /scripts\/build\.ts/);
  assert.match(yml, /sha256sum/);
  assert.match(yml, /publish --dry-run/);
});
