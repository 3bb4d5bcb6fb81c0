/**
 * Cloud Resource Manager v3 `GET /v3/projects/{projectIdOrNumber}`. Like Google, an unknown
 * project and a project the caller may not read give the same 403, so existence does not leak.
 * @module
 */
import { Hono } from "hono";
import { authenticate, CLOUD_PLATFORM } from "../bearer.ts";
import { jsonResponse, rpcError } from "../google_errors.ts";
import { type EmulatorEnv, type EmulatorState, findProject } from "../state.ts";

const CRM_SCOPES = [
  CLOUD_PLATFORM,
  "https://www.googleapis.com/auth/cloud-platform.read-only",
  "https://www.googleapis.com/auth/cloudplatformprojects",
  "https://www.googleapis.com/auth/cloudplatformprojects.readonly",
];

/** When every emulated project was "created". */
const CREATE_TIME = "2024-01-01T00:00:00.000Z";

/** Routes of the Resource Manager API. */
export function resourceManagerRoutes(state: EmulatorState): Hono<EmulatorEnv> {
  const app = new Hono<EmulatorEnv>();
  app.get("/v3/projects/:project", (c) => {
    const caller = authenticate(c.req.raw, state, CRM_SCOPES);
    if (caller instanceof Response) return caller;
    c.set("principal", caller.principal);
    const project = findProject(state, c.req.param("project"));
    if (!project || (project.viewers && !project.viewers.includes(caller.principal))) {
      return rpcError(403, "The caller does not have permission");
    }
    return jsonResponse(200, {
      name: `projects/${project.number}`,
      parent: "organizations/0",
      projectId: project.id,
      state: project.state,
      displayName: project.displayName,
      createTime: CREATE_TIME,
      updateTime: CREATE_TIME,
      etag: `W/"${project.number}"`,
      labels: {},
    });
  });
  return app;
}
