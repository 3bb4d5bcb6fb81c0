/**
 * `authcalator deny <id>`: denies a queued prod request. No confirmation: denying is always safe.
 * @module
 */
import type { Invocation } from "../cli/commands.ts";
import {
  type AdminCall,
  AdminError,
  answerError,
  checkId,
  type CliIO,
  goneMessage,
  processIO,
  withAdmin,
} from "./pending.ts";
import { ADMIN_PATHS } from "../gate_api/wire.ts";

/** Denies one request. */
export async function denyCommand(
  call: AdminCall,
  rawId: string | undefined,
  io: CliIO,
): Promise<number> {
  const id = checkId(rawId, "deny");
  const answer = await call("POST", ADMIN_PATHS.decide(id, "deny"));
  if (answer.status === 410) throw new AdminError(goneMessage(id, answer));
  if (answer.status === 404) throw new AdminError(`request ${id} not found (may have expired)`);
  if (answer.status !== 200) throw new AdminError(answerError(answer));
  io.out(`Denied request ${id}.`);
  return 0;
}

/** `authcalator deny <id>`. */
export function run(invocation: Invocation): Promise<number> {
  const id = checkId(invocation.positionals[0], "deny");
  return withAdmin(invocation, processIO, async (call) => {
    return await denyCommand(call, id, processIO);
  });
}
