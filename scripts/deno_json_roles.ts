/**
 * Derives deno.json's permission sets and role tasks from src/permissions.ts. Run with `--write`
 * to update deno.json; tests call {@link expectedRoleConfig} to catch drift.
 */
import { COMMAND_ROLES, permissionSet, type Role, runtimeFlags } from "../src/permissions.ts";

/** The `permissions` sets and role tasks deno.json must contain. */
export function expectedRoleConfig(): {
  permissions: Record<string, unknown>;
  tasks: Record<string, string>;
} {
  const roles = [...new Set(Object.values(COMMAND_ROLES))] as Role[];
  const permissions = Object.fromEntries(roles.map((r) => [r, permissionSet(r)]));
  const tasks = Object.fromEntries(
    Object.entries(COMMAND_ROLES).map((
      [command, role],
    ) => [
      command,
      ["deno run --quiet", `-P=${role}`, ...runtimeFlags(role), `src/main.ts ${command}`].join(" "),
    ]),
  );
  return { permissions, tasks };
}

if (import.meta.main) {
  const path = new URL("../deno.json", import.meta.url);
  const json = JSON.parse(await Deno.readTextFile(path));
  const { permissions, tasks } = expectedRoleConfig();
  json.permissions = permissions;
  json.tasks = { ...json.tasks, ...tasks };
  await Deno.writeTextFile(path, JSON.stringify(json, null, 2) + "\n");
  console.log("deno.json permission sets and role tasks updated");
}
