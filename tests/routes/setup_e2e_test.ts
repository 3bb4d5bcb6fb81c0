/**
 * Issue 11 item 6 with real git: `authcalator git-setup` asks the gate for its routes and writes
 * `url.<route>.insteadOf` rules, after which a plain `git clone https://<upstream>/…` (no CA, no
 * credential in the container) goes through the routes listener and the gate adds the credential.
 * Idempotent, reversible (other settings kept), and never for an excluded host.
 */
import assert from "node:assert/strict";
import { roleEnv, spawnRole } from "../../src/testing/chain.ts";
import { type RouteChain, startRouteChain } from "./fakes/route_chain.ts";
import { git, gitEnv } from "./fakes/git_server.ts";
import { basicAuthorization } from "./fakes/encoding.ts";

async function gitSetup(rc: RouteChain, args: string[] = []): Promise<string> {
  const proc = spawnRole("git-setup", [
    "--socket-path",
    rc.chain.socketPath,
    "--routes-port",
    String(rc.routesPort),
    ...args,
  ], { env: roleEnv(rc.dir) });
  const status = await proc.exited(30_000);
  const output = proc.output();
  rc.seen.push(output);
  assert.equal(status.code, 0, output);
  return output;
}

Deno.test("git-setup: real git clones the upstream's https URL through the route (credential added by the gate); idempotent, undone, excluded hosts untouched", async () => {
  await using rc = await startRouteChain({ withoutApproveRoute: true });
  const env = gitEnv(rc.dir);
  const globalConfig = `${rc.dir}/.gitconfig`;
  await git(["config", "--global", "user.name", "Agent"], env);
  const upstreamUrl = `${rc.git.origin}/project.git`;

  await gitSetup(rc);
  const written = await Deno.readTextFile(globalConfig);
  assert.match(written, new RegExp(`insteadOf = ${rc.git.origin}/`, "i"));
  await gitSetup(rc);
  assert.equal(await Deno.readTextFile(globalConfig), written, "a second run changes nothing");

  await git(["clone", "--quiet", upstreamUrl, `${rc.dir}/clone`], env);
  assert.equal(await Deno.readTextFile(`${rc.dir}/clone/README`), "first version\n");
  const expected = basicAuthorization("x-access-token", rc.secrets.git);
  assert.ok(rc.git.log.length > 0);
  for (const r of rc.git.log) assert.equal(r.headers.authorization, expected, r.target);
  assert.ok(!written.includes(rc.secrets.git));

  await gitSetup(rc, ["--undo"]);
  const undone = await Deno.readTextFile(globalConfig);
  assert.ok(!/insteadof/i.test(undone), undone);
  assert.match(undone, /name = Agent/, "other settings kept");

  await gitSetup(rc, ["--exclude", "127.0.0.1"]);
  assert.ok(!/insteadof/i.test(await Deno.readTextFile(globalConfig)), "excluded host ruled");
  // Not rewritten: git goes to the upstream itself, which it cannot even trust (no test CA here).
  const before = rc.git.log.length;
  await assert.rejects(() => git(["clone", "--quiet", upstreamUrl, `${rc.dir}/direct`], env));
  assert.equal(rc.git.log.length, before);
  assert.deepEqual(await rc.leaks(), []);
});
