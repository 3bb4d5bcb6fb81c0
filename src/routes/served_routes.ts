/**
 * Turns the gate's validated `[routes.<name>]` into what its routes app serves: for each route its
 * credential source and its outbound client (CA and proxy), built once at start so a missing
 * `ca_file` stops the gate before it serves anything, and closed when the gate stops.
 * @module
 */
import type { ServedRoute } from "../gate/routes_app.ts";
import {
  credentialSource,
  type CredentialSourceDeps,
  realCredentialSourceDeps,
} from "./credential_source.ts";
import { type RouteClient, routeClient } from "./outbound.ts";
import type { RouteConfig } from "./route_config.ts";

/** The gate's served routes and a close for their clients. */
export interface ServedRoutes {
  routes: ReadonlyMap<string, ServedRoute>;
  close(): void;
}

/** Builds every route's credential source and client; throws (naming the route) on bad material. */
export function openRoutes(
  configs: readonly RouteConfig[],
  env: Record<string, string | undefined>,
  credentialDeps: CredentialSourceDeps = realCredentialSourceDeps(),
): ServedRoutes {
  const clients: RouteClient[] = [];
  const routes = new Map<string, ServedRoute>();
  try {
    for (const config of configs) {
      const client = routeClient(config, env);
      clients.push(client);
      routes.set(config.name, {
        config,
        credential: credentialSource(config.name, config.credential, credentialDeps),
        fetch: client.fetch,
      });
    }
  } catch (err) {
    for (const c of clients) c.close();
    throw err;
  }
  return { routes, close: () => clients.forEach((c) => c.close()) };
}
