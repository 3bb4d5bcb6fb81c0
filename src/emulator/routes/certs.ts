/**
 * Google's public signing keys: `GET /oauth2/v3/certs` (JWKS) and `GET /oauth2/v1/certs`
 * (kid → X.509 PEM), so clients verify the emulator's ID tokens the way they verify Google's.
 * @module
 */
import { Hono } from "hono";
import { jsonResponse } from "../google_errors.ts";
import type { EmulatorEnv, EmulatorState } from "../state.ts";

/** Clients cache certs for max-age seconds (google-auth-library reads it). */
const CACHE = "public, max-age=21600, must-revalidate, no-transform";

/** Routes of the certs endpoints. */
export function certsRoutes(state: EmulatorState): Hono<EmulatorEnv> {
  const app = new Hono<EmulatorEnv>();
  app.get(
    "/oauth2/v3/certs",
    () => jsonResponse(200, state.signingKeys.jwks(), { "cache-control": CACHE }),
  );
  app.get(
    "/oauth2/v1/certs",
    () => jsonResponse(200, state.signingKeys.pemCerts(), { "cache-control": CACHE }),
  );
  return app;
}
