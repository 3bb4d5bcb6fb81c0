import assert from "node:assert/strict";
import { startEmulator } from "../../src/emulator/mod.ts";
import { CLOUD, engineerToken, get, SA } from "./fixture.ts";

const DENIED = {
  error: { code: 403, message: "The caller does not have permission", status: "PERMISSION_DENIED" },
};

Deno.test("getProject: v3 project by id or by number", async () => {
  await using emu = await startEmulator({
    projects: [{ id: "demo-project", number: "123456789012", displayName: "Demo" }, {
      id: "winding-down",
      number: "7",
      state: "DELETE_REQUESTED",
    }],
  });
  const user = await engineerToken(emu);
  const byId = await get(`${emu.baseUrl}/v3/projects/demo-project`, user);
  assert.equal(byId.status, 200);
  assert.equal(byId.body.name, "projects/123456789012");
  assert.equal(byId.body.projectId, "demo-project");
  assert.equal(byId.body.state, "ACTIVE");
  assert.equal(byId.body.displayName, "Demo");
  assert.match(byId.body.createTime, /^\d{4}-\d\d-\d\dT/);
  const byNumber = await get(`${emu.baseUrl}/v3/projects/123456789012`, user);
  assert.deepEqual(byNumber.body, byId.body);
  const other = await get(`${emu.baseUrl}/v3/projects/winding-down`, user);
  assert.equal(other.body.state, "DELETE_REQUESTED");
  // The gate's parsing: the second segment of name is the number.
  assert.equal(byId.body.name.split("/")[1], "123456789012");
});

Deno.test("getProject: unknown and unreadable projects are the same 403; no token is 401", async () => {
  await using emu = await startEmulator({
    projects: [{ id: "demo-project", number: "1" }, {
      id: "secret-proj",
      number: "2",
      viewers: ["someone@example.com"],
    }],
  });
  const user = await engineerToken(emu);
  for (const id of ["no-such-project", "secret-proj", "999"]) {
    const res = await get(`${emu.baseUrl}/v3/projects/${id}`, user);
    assert.deepEqual([res.status, res.body], [403, DENIED], id);
  }
  const none = await get(`${emu.baseUrl}/v3/projects/demo-project`);
  assert.equal(none.status, 401);
  assert.equal(none.body.error.status, "UNAUTHENTICATED");
  const bogus = await get(`${emu.baseUrl}/v3/projects/demo-project`, "ya29.bogus");
  assert.equal(bogus.status, 401);
  const narrow = emu.issueAccessToken(SA, { scopes: ["https://www.googleapis.com/auth/pubsub"] });
  const scoped = await get(`${emu.baseUrl}/v3/projects/demo-project`, narrow);
  assert.equal(scoped.status, 403);
  assert.equal(scoped.body.error.message, "Request had insufficient authentication scopes.");
  const readOnly = emu.issueAccessToken(SA, {
    scopes: ["https://www.googleapis.com/auth/cloud-platform.read-only"],
  });
  assert.equal((await get(`${emu.baseUrl}/v3/projects/demo-project`, readOnly)).status, 200);
  assert.equal(
    (await get(`${emu.baseUrl}/v3/projects/1`, emu.issueAccessToken(SA, { scopes: [CLOUD] })))
      .status,
    200,
  );
});
