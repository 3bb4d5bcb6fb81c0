/**
 * Making clients in the container use the routes (issue 11 item 6): what `routes env` prints and
 * which `url.<route>.insteadOf` rules `git-setup` writes, both derived from the gate's route
 * listing (`GET /routes`: names, upstreams and kinds, never a credential) and the proxy's fixed
 * `routes_port`. The gate is the one source of the route list, so the container's config never
 * repeats it. Placeholder keys are fixed words, never a credential: the gate replaces whatever
 * credential a client sends.
 * @module
 */
import type { Config } from "../cli/config.ts";
import { UsageError } from "../errors.ts";
import { GateApi } from "../gate_api/client.ts";
import { openGateTransport } from "../gate_api/open_transport.ts";
import {
  type ListedRoute,
  parseRouteListing,
  type RouteListing,
  ROUTES_LIST_PATH,
} from "../gate_api/routes_wire.ts";

/** What a client that insists on a key gets: visibly not a credential. */
export const PLACEHOLDER_KEY = "authcalator-placeholder-the-gate-injects-the-real-key";

/** How long asking the gate for its routes may take. */
const LISTING_TIMEOUT_MS = 10_000;

/** The routes listener's base URL, from a fixed `routes_port` (the commands cannot guess 0). */
export function routesBase(config: Pick<Config, "routes_port">): string {
  if (config.routes_port === undefined) {
    throw new UsageError(
      "routes_port is not set: set it (--routes-port, GCP_AUTHCALATOR_ROUTES_PORT or routes_port " +
        "in the config file) to the port the metadata-proxy serves routes on",
    );
  }
  if (config.routes_port === 0) {
    throw new UsageError(
      "routes_port is 0 (any free port): client settings need the fixed port the metadata-proxy " +
        "serves routes on",
    );
  }
  return `http://127.0.0.1:${config.routes_port}`;
}

/** Asks the gate for its routes (bounded). */
export async function fetchRouteListing(
  config: Config,
  env: Record<string, string>,
  warn: (line: string) => void,
): Promise<RouteListing> {
  const gate = new GateApi(await openGateTransport(config, env, warn));
  try {
    const body = await gate.json(ROUTES_LIST_PATH, {
      timeoutMs: LISTING_TIMEOUT_MS,
      what: "listing its routes",
    });
    return parseRouteListing(body);
  } finally {
    gate.close();
  }
}

function hostOf(upstream: string): string {
  return new URL(upstream).hostname.toLowerCase();
}

/** The well-known client a listed route serves: its preset, else its upstream's host. */
function clientOf(route: ListedRoute): string | undefined {
  if (route.preset) return route.preset;
  return KNOWN_HOSTS[hostOf(route.upstream)];
}

/** Public API hosts and the preset that names the same client. */
const KNOWN_HOSTS: Record<string, string> = {
  "api.anthropic.com": "anthropic",
  "api.openai.com": "openai",
  "registry.npmjs.org": "npm",
  "api.github.com": "github",
  "gitlab.com": "gitlab",
};

/** One `export NAME='value'` line (values here never hold a quote, but are quoted safely). */
function exportLine(name: string, value: string): string {
  return `export ${name}='${value.replaceAll("'", `'"'"'`)}'`;
}

/**
 * The shell lines `routes env` prints: client variables for the well-known upstreams
 * (Anthropic, OpenAI, npm, the GitHub and GitLab APIs), a comment for every other route, and a
 * pointer to `git-setup` for git routes. Prod routes are listed as comments only: they answer
 * inside an approved with-prod session alone.
 */
export function envLines(listing: RouteListing, base: string): string[] {
  const lines: string[] = [
    "# authcalator routes: clients call the container's routes listener; the gate adds the key.",
  ];
  const claimed = new Set<string>();
  const set = (name: string, value: string) => {
    if (claimed.has(name)) {
      lines.push(`# (${name} already set above; not set again)`);
      return;
    }
    claimed.add(name);
    lines.push(exportLine(name, value));
  };
  for (const route of listing.routes) {
    const url = `${base}/${route.name}`;
    lines.push(`# route ${route.name}: ${url}/ -> ${route.upstream}/`);
    if (route.level === "prod") {
      lines.push(
        "#   level = prod: served only inside an approved with-prod session, at " +
          "$AUTHCALATOR_ROUTES_URL/" + route.name,
      );
      continue;
    }
    if (route.git) {
      lines.push("#   git: run 'authcalator git-setup' to send git through it");
      continue;
    }
    switch (clientOf(route)) {
      case "anthropic":
        set("ANTHROPIC_BASE_URL", url);
        set("ANTHROPIC_API_KEY", PLACEHOLDER_KEY);
        break;
      case "openai":
        set("OPENAI_BASE_URL", new URL(route.upstream).pathname.length > 1 ? url : `${url}/v1`);
        set("OPENAI_API_KEY", PLACEHOLDER_KEY);
        break;
      case "npm":
        set("NPM_CONFIG_REGISTRY", `${url}/`);
        break;
      case "github":
        set("GITHUB_API_URL", url);
        break;
      case "gitlab":
        set("GITLAB_API_URL", `${url}/api/v4`);
        break;
    }
  }
  return lines;
}

/** One `url.<route>.insteadOf` rule: the route URL git should use for the upstream's URLs. */
export interface GitRule {
  route: string;
  /** `http://127.0.0.1:<port>/<name>/`: the `url.<here>.insteadOf` section. */
  url: string;
  /** `<upstream>/`: the prefix git rewrites. */
  insteadOf: string;
}

/** A host name (or IP literal) as `--exclude` takes it. */
const HOST =
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$|^\[[0-9a-f:.]+\]$/;

/** Validates `--exclude` values (host names, case-insensitive); throws a UsageError naming the bad one. */
export function parseExcludedHosts(values: readonly string[]): Set<string> {
  const hosts = new Set<string>();
  for (const raw of values.flatMap((v) => v.split(","))) {
    const host = raw.trim().toLowerCase();
    if (host === "") continue;
    if (!HOST.test(host)) {
      throw new UsageError(
        `--exclude takes host names (github.com), got ${JSON.stringify(raw.slice(0, 80))}`,
      );
    }
    hosts.add(host);
  }
  return hosts;
}

/** The rules `git-setup` writes: one per dev git route whose upstream host is not excluded. */
export function gitRules(
  listing: RouteListing,
  base: string,
  excluded: ReadonlySet<string>,
): { rules: GitRule[]; skipped: ListedRoute[] } {
  const rules: GitRule[] = [];
  const skipped: ListedRoute[] = [];
  for (const route of listing.routes) {
    if (!route.git || route.level !== "dev") continue;
    if (excluded.has(hostOf(route.upstream))) {
      skipped.push(route);
      continue;
    }
    rules.push({
      route: route.name,
      url: `${base}/${route.name}/`,
      insteadOf: `${route.upstream}/`,
    });
  }
  return { rules, skipped };
}

/** The `url.<x>.insteadof` keys git-setup writes look like this (for `--undo`). */
export const OUR_INSTEAD_OF_KEY =
  /^url\.http:\/\/127\.0\.0\.1:\d{1,5}\/[a-z][a-z0-9_-]{0,31}\/\.insteadof$/;
