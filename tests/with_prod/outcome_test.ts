import assert from "node:assert/strict";
import { PROD_OUTCOME_CODES } from "../../src/gate_api/prod_outcome.ts";
import { ACQUIRE_FAILED_EXIT, acquisitionOutcome } from "../../src/with_prod/outcome.ts";

Deno.test("each non-grant outcome has its own exit code and message", () => {
  const cases = [
    [PROD_OUTCOME_CODES.denied, 80, /denied by a human/],
    [PROD_OUTCOME_CODES.expired, 81, /expired: nobody approved it/],
    [PROD_OUTCOME_CODES.timedOut, 82, /timed out: the approval dialog or terminal prompt/],
    [PROD_OUTCOME_CODES.cancelled, 83, /cancelled/],
    [PROD_OUTCOME_CODES.rateLimited, 84, /the gate's own words/],
    [PROD_OUTCOME_CODES.shuttingDown, 85, /shutting down/],
  ] as const;
  const codes = new Set<number>();
  const messages = new Set<string>();
  for (const [code, exit, message] of cases) {
    const o = acquisitionOutcome(code, "the gate's own words");
    assert.equal(o.exitCode, exit, code);
    assert.match(o.message, message, code);
    codes.add(o.exitCode);
    messages.add(o.message);
  }
  assert.equal(codes.size, cases.length);
  assert.equal(messages.size, cases.length);
});

Deno.test("an unknown, missing or prototype-named code is a plain failure with the gate's message", () => {
  for (const code of [undefined, "", "no_such_code", "constructor", "__proto__", "toString"]) {
    assert.deepEqual(acquisitionOutcome(code, "boom"), {
      message: "boom",
      exitCode: ACQUIRE_FAILED_EXIT,
    });
  }
});
