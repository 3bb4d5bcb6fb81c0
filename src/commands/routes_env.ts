/**
 * `authcalator routes env`: prints the shell variables that point API clients in the container at
 * the routes listener (ANTHROPIC_BASE_URL, OPENAI_BASE_URL, NPM_CONFIG_REGISTRY, …), with
 * placeholder keys where a client insists on one. Use: `eval "$(authcalator routes env)"`.
 * @module
 */
import type { Invocation } from "../cli/commands.ts";
import { UsageError } from "../errors.ts";
import { envLines, fetchRouteListing, routesBase } from "../routes_proxy/client_setup.ts";

/** Prints the lines; exit 0. */
export async function run(invocation: Invocation): Promise<number> {
  const [what] = invocation.positionals;
  if (what !== "env") {
    throw new UsageError(
      what === undefined
        ? "routes needs a subcommand: 'authcalator routes env'"
        : `unknown routes subcommand ${JSON.stringify(what)}: the one there is is 'env'`,
    );
  }
  const config = invocation.config!;
  const base = routesBase(config);
  const listing = await fetchRouteListing(
    config,
    invocation.env,
    (line) => console.error(`routes env: warning: ${line}`),
  );
  if (listing.routes.length === 0) {
    console.error("routes env: the gate has no [routes.<name>] configured; nothing to set");
  }
  console.log(envLines(listing, base).join("\n"));
  return 0;
}
