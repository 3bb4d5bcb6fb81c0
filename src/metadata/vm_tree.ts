/**
 * The `/computeMetadata/v1/` tree a VM exposes, built from static values plus backend lookups.
 * @module
 */
import { fnv1a64 } from "./fnv.ts";
import type { MetadataBackend } from "./backend.ts";
import { dir, type MetaDir, type MetaLazy, type MetaNode, text } from "./tree.ts";

/** The universe domain of Google's public cloud; GCE answers 404 for `universe_domain` there. */
export const DEFAULT_UNIVERSE = "googleapis.com";

/** Instance values. The proxy has no VM behind it, so these are stable, documented defaults. */
export interface InstanceValues {
  /** Decimal uint64 (GCE ids usually exceed 2^53). */
  id: string;
  name: string;
  /** Short zone name; served as `projects/<number>/zones/<zone>`. */
  zone: string;
  hostname: string;
  tags: string[];
  attributes: Record<string, string>;
}

/** Everything static the tree is built from. */
export interface VmValues {
  projectId: string;
  /** The service account's email; without it only `default` is listed and `email` is 404. */
  serviceAccountEmail?: string;
  /** Scopes reported at `…/scopes` and used when a token request names none. */
  scopes: string[];
  instance: InstanceValues;
  projectAttributes: Record<string, string>;
}

/** The instance name every proxy reports. */
export const INSTANCE_NAME = "authcalator";
/** The zone every proxy reports: a real zone, so clients that derive a region from it work. */
export const INSTANCE_ZONE = "us-central1-a";

/**
 * Defaults for a proxy serving `projectId`: name `authcalator`, zone `us-central1-a`, the zonal
 * hostname `authcalator.us-central1-a.c.<project>.internal`, no tags, no attributes, and an id
 * derived from the project id (19 digits, stable across restarts, different per project).
 */
export function defaultInstance(projectId: string): InstanceValues {
  const raw = fnv1a64(`authcalator instance ${projectId}`);
  const id = (raw % 9_000_000_000_000_000_000n) + 1_000_000_000_000_000_000n;
  return {
    id: id.toString(),
    name: INSTANCE_NAME,
    zone: INSTANCE_ZONE,
    hostname: `${INSTANCE_NAME}.${INSTANCE_ZONE}.c.${projectId}.internal`,
    tags: [],
    attributes: {},
  };
}

function attributes(values: Record<string, string>): MetaDir {
  return dir(
    Object.fromEntries(Object.entries(values).map(([k, v]) => [k, text(v)])),
    true,
  );
}

function serviceAccount(values: VmValues): MetaDir {
  const email: MetaLazy = {
    kind: "lazy",
    load: () =>
      Promise.resolve(values.serviceAccountEmail ? text(values.serviceAccountEmail) : undefined),
    // Python's compute_engine.Credentials reads `email` from the recursive listing and fails
    // without it; `default` makes it fetch tokens from `default/token`, which works.
    recursiveDefault: "default",
  };
  return dir({
    aliases: { kind: "list", value: ["default"] },
    email,
    identity: { kind: "endpoint", name: "identity" },
    scopes: { kind: "list", value: [...values.scopes] },
    token: { kind: "endpoint", name: "token" },
  });
}

/** The `/computeMetadata/v1/` directory. */
export function buildVmTree(values: VmValues, backend: MetadataBackend): MetaDir {
  const account = serviceAccount(values);
  const accounts: Record<string, MetaNode> = { default: account };
  if (values.serviceAccountEmail) accounts[values.serviceAccountEmail] = account;
  const inst = values.instance;
  return dir({
    instance: dir({
      attributes: attributes(inst.attributes),
      hostname: text(inst.hostname),
      id: { kind: "number", value: inst.id },
      name: text(inst.name),
      "service-accounts": dir(accounts, true),
      tags: { kind: "list", value: [...inst.tags], json: true },
      zone: {
        kind: "lazy",
        load: async () => text(`projects/${await backend.projectNumber()}/zones/${inst.zone}`),
      },
    }),
    project: dir({
      attributes: attributes(values.projectAttributes),
      "numeric-project-id": {
        kind: "lazy",
        load: async () => ({ kind: "number", value: await backend.projectNumber() }),
      },
      "project-id": text(values.projectId),
    }),
    universe: dir({
      "universe-domain": {
        kind: "lazy",
        load: async () => text(await backend.universeDomain()),
      },
      // Real GCE answers 404 here, and x/oauth2 and gcloud then assume googleapis.com; in
      // another universe that assumption is wrong, so the value is served there.
      universe_domain: {
        kind: "lazy",
        hidden: true,
        load: async () => {
          const domain = await backend.universeDomain();
          return domain === DEFAULT_UNIVERSE ? undefined : text(domain);
        },
      },
    }),
  });
}

/** The whole tree from `/`: `computeMetadata/v1/…`. */
export function buildRootTree(values: VmValues, backend: MetadataBackend): MetaDir {
  return dir({ computeMetadata: dir({ v1: buildVmTree(values, backend) }) });
}
