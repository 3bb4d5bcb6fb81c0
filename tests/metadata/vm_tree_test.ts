import assert from "node:assert/strict";
import { defaultInstance } from "../../src/metadata/vm_tree.ts";

Deno.test("default instance values are stable per project and look like a VM's", () => {
  const a = defaultInstance("demo-project");
  assert.deepEqual(a, defaultInstance("demo-project"));
  assert.match(a.id, /^[1-9][0-9]{18}$/);
  assert.ok(BigInt(a.id) > 2n ** 53n, "beyond 2^53 like real ids, so clients must keep it exact");
  assert.ok(BigInt(a.id) < 2n ** 64n);
  assert.notEqual(a.id, defaultInstance("other-project").id);
  assert.equal(a.name, "authcalator");
  assert.equal(a.zone, "us-central1-a");
  assert.equal(a.hostname, "authcalator.us-central1-a.c.demo-project.internal");
  assert.deepEqual(a.tags, []);
  assert.deepEqual(a.attributes, {});
});
