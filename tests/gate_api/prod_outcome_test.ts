/** The prod outcome wire codes: distinct, stable, and each with its own message for the user. */
import assert from "node:assert/strict";
import {
  describeProdOutcome,
  GONE_CODES,
  PROD_OUTCOME_CODES,
} from "../../src/gate_api/prod_outcome.ts";
import { outcomeError } from "../../src/gate/prod.ts";

Deno.test("every outcome and gone code is distinct", () => {
  const codes = [...Object.values(PROD_OUTCOME_CODES), ...Object.values(GONE_CODES)];
  assert.equal(new Set(codes).size, codes.length);
});

Deno.test("the gate's answers: distinct status + code per outcome", () => {
  const answers = (["denied", "expired", "timed_out", "cancelled", "shutdown"] as const).map(
    (o) => {
      const err = outcomeError(o);
      return `${err.status} ${err.code}`;
    },
  );
  assert.deepEqual(answers, [
    "403 prod_denied",
    "408 prod_request_expired",
    "408 prod_prompt_timed_out",
    "499 prod_request_cancelled",
    "503 gate_shutting_down",
  ]);
});

Deno.test("denied, expired, timed out and cancelled read differently to the user (8.5)", () => {
  const messages = [
    PROD_OUTCOME_CODES.denied,
    PROD_OUTCOME_CODES.expired,
    PROD_OUTCOME_CODES.timedOut,
    PROD_OUTCOME_CODES.cancelled,
    PROD_OUTCOME_CODES.shuttingDown,
  ].map((code) => describeProdOutcome(code, "fallback"));
  assert.equal(new Set(messages).size, messages.length);
  assert.ok(messages.every((m) => m !== "fallback"));
  assert.match(messages[0], /denied by a human/);
  assert.match(messages[1], /expired/);
  assert.match(messages[2], /timed out/);
  assert.equal(describeProdOutcome(undefined, "gate said this"), "gate said this");
  assert.equal(describeProdOutcome("unknown_code", "gate said this"), "gate said this");
});
