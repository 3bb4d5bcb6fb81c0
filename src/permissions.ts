/**
 * THE table of what each role may touch. deno.json's permission sets and tasks, the release
 * build, `authcalator permissions <role>` and the start-up revocation all derive from it.
 */
import type { Config } from "./cli/config.ts";
import { IN_CLUSTER_DIR } from "./kube/in_cluster.ts";
import { kubeconfigPath } from "./kube/kubeconfig_path.ts";
import { LIBC_PATHS } from "./proc/libc.ts";
import { proxyFor } from "./routes/outbound.ts";

/** A Deno permission kind this project grants. */
export type Kind = "read" | "write" | "net" | "env" | "sys" | "run" | "ffi";

/** All kinds, in flag order. */
export const KINDS: readonly Kind[] = ["read", "write", "net", "env", "sys", "run", "ffi"];

/** `true` grants the whole kind; a list grants only those entries. */
export type Grant = true | string[];

/** The grants of one role: an absent kind is not granted. `all` means `--allow-all`. */
export type RoleGrants = { all: true } | Partial<Record<Kind, Grant>>;

/** The facts about this user that pinned paths and ports are computed from. */
export interface PermissionContext {
  home: string;
  runtimeDir: string;
  config: Config;
  /** GOOGLE_APPLICATION_CREDENTIALS, if set. */
  adcPath?: string;
  /** CLOUDSDK_CONFIG, if set. */
  cloudsdkConfig?: string;
  /** KUBECONFIG, if set. */
  kubeconfig?: string;
  /** GCE_METADATA_HOST, if set. */
  metadataHost?: string;
  /** The in-cluster Kubernetes API (`https://…` from KUBERNETES_SERVICE_HOST/PORT), if in a pod. */
  kubernetesApiUrl?: string;
  /** HTTPS_PROXY / HTTP_PROXY / NO_PROXY (either case), for the routes' outbound proxy hosts. */
  proxyEnv?: Record<string, string | undefined>;
}

/** The roles, each a subcommand (pending, approve and deny share `admin-client`'s grants). */
export type Role =
  | "gate"
  | "metadata-proxy"
  | "with-prod"
  | "admin-client"
  | "routes-client"
  | "kube-token"
  | "kube-setup"
  | "init-tls"
  | "emulator"
  | "permissions"
  | "version";

/** Which role each subcommand runs as. */
export const COMMAND_ROLES: Record<string, Role> = {
  "gate": "gate",
  "metadata-proxy": "metadata-proxy",
  "with-prod": "with-prod",
  "pending": "admin-client",
  "approve": "admin-client",
  "deny": "admin-client",
  "routes": "routes-client",
  "git-setup": "routes-client",
  "kube-token": "kube-token",
  "kube-setup": "kube-setup",
  "init-tls": "init-tls",
  "emulator": "emulator",
  "permissions": "permissions",
  "version": "version",
};

const dirOf = (path: string) => path.slice(0, path.lastIndexOf("/")) || "/";
const defined = (items: (string | undefined)[]) => items.filter((x): x is string => !!x);

const GOOGLE_HOSTS = [
  "oauth2.googleapis.com",
  "iamcredentials.googleapis.com",
  "cloudresourcemanager.googleapis.com",
  "privilegedaccessmanager.googleapis.com",
];

/** host[:port] of every Google API base the gate may call, for `--allow-net`. */
function googleNet(config: Config): string[] {
  const overrides = defined([
    config.oauth2_api_base,
    config.iamcredentials_api_base,
    config.cloudresourcemanager_api_base,
    config.privilegedaccessmanager_api_base,
  ]).map((u) => new URL(u).host);
  if (config.google_api_base) {
    return [...new Set([new URL(config.google_api_base).host, ...overrides])];
  }
  return [...new Set([...GOOGLE_HOSTS, ...overrides])];
}

function configFile(ctx: PermissionContext): string[] {
  return defined([ctx.config.config_path]);
}

/**
 * What a client of a remote gate reads: its bundle, its TLS directory, and the directory of its
 * bearer token file (Kubernetes swaps a projected token through a symlink in that directory).
 */
function remoteGateFiles(config: PermissionContext["config"]): string[] {
  if (config.gate_url === undefined) return [];
  return defined([
    config.tls_bundle,
    config.tls_dir,
    config.gate_token_file === undefined ? undefined : dirOf(config.gate_token_file),
  ]);
}

/** `host[:port]` of `gate_url`, if set (validated as https by the config loader). */
function remoteGateHost(gateUrl: string | undefined): string[] {
  if (gateUrl === undefined) return [];
  try {
    return [new URL(gateUrl).host];
  } catch {
    return [];
  }
}

/**
 * What the gate's TCP listener adds: its TLS material, its client-authentication files (the
 * directory of a Kubernetes-mounted token: the kubelet swaps it through a symlink there), the bind
 * address and port, and the Kubernetes API host for TokenReview.
 */
function gateTcpGrants(ctx: PermissionContext): { read: string[]; net: string[] } {
  const c = ctx.config;
  if (c.gate_tls_port === undefined) return { read: [], net: [] };
  const review = c.gate_token_review_audience !== undefined;
  const api = c.gate_kube_api_url ?? (review ? ctx.kubernetesApiUrl : undefined);
  const bind = c.gate_bind ?? "127.0.0.1";
  return {
    read: defined([
      c.tls_dir ?? `${ctx.home}/.gcp-authcalator/tls`,
      c.gate_bearer_tokens_file,
      ...(review
        ? [
          dirOf(c.gate_kube_ca_file ?? `${IN_CLUSTER_DIR}/ca.crt`),
          dirOf(c.gate_kube_token_file ?? `${IN_CLUSTER_DIR}/token`),
        ]
        : []),
    ]),
    net: defined([
      `${bind.includes(":") ? `[${bind}]` : bind}:${c.gate_tls_port}`,
      api === undefined ? undefined : `${new URL(api).hostname}:${new URL(api).port || 443}`,
    ]),
  };
}

/**
 * The derived part of the gate's grants (issue 11): for each `[routes.<name>]` its upstream
 * `host:port` (and the proxy the environment names for it), its credential file and `ca_file`,
 * and its credential command. An upstream no route names stays unreachable.
 */
function routeGrants(ctx: PermissionContext): { read: string[]; net: string[]; run: string[] } {
  const routes = ctx.config.routes ?? [];
  const home = (p: string) => (p.startsWith("~/") ? `${ctx.home}${p.slice(1)}` : p);
  const hostPort = (origin: string) => {
    const u = new URL(origin);
    return `${u.hostname}:${u.port || (u.protocol === "https:" ? 443 : 80)}`;
  };
  const proxies = routes.map((r) => proxyFor(r.origin, ctx.proxyEnv ?? {}));
  return {
    read: defined(routes.flatMap((r) => [
      r.credential.kind === "file" ? home(r.credential.path) : undefined,
      r.caFile === undefined ? undefined : home(r.caFile),
    ])),
    net: [
      ...routes.map((r) => hostPort(r.origin)),
      ...defined(proxies).map((p) => {
        try {
          return hostPort(new URL(p).origin);
        } catch {
          return p;
        }
      }),
    ],
    run: routes.flatMap((r) => (r.credential.kind === "command" ? [r.credential.argv[0]] : [])),
  };
}

/** Every port on these hosts: where metadata proxies (permanent or with-prod's) listen. */
export const LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]"];

/** `host:port` of a metadata host that is not loopback (a proxy on another container), if any. */
function nonLoopbackHost(metadataHost: string | undefined): string[] {
  if (!metadataHost) return [];
  const host = metadataHost.replace(/:\d+$/, "");
  return LOOPBACK_HOSTS.includes(host) ? [] : [metadataHost];
}

/** The environment a container-side role reads: its own variables and the path defaults. */
const CLIENT_ENV = ["GCP_AUTHCALATOR_*", "HOME", "XDG_RUNTIME_DIR"];

const ROLES: Record<Role, (ctx: PermissionContext) => RoleGrants> = {
  "gate": (ctx) => {
    const c = ctx.config;
    const socketDirs = defined([c.socket_path, c.admin_socket_path, c.operator_socket_path]).map(
      dirOf,
    );
    const gcloudDir = ctx.cloudsdkConfig ?? `${ctx.home}/.config/gcloud`;
    return {
      read: [
        ...new Set([
          ...defined([ctx.adcPath, gcloudDir]),
          ...configFile(ctx),
          ...socketDirs.map(dirOf),
          ...socketDirs,
          ctx.runtimeDir,
          "/etc/passwd",
          "/etc/group",
          ...defined([c.tls_dir]),
          ...gateTcpGrants(ctx).read,
          ...routeGrants(ctx).read,
        ]),
      ],
      write: [...new Set([...socketDirs, ctx.runtimeDir])],
      net: [
        ...defined([c.socket_path, c.admin_socket_path, c.operator_socket_path]).map((p) =>
          `unix:${p}`
        ),
        ...googleNet(c),
        ...gateTcpGrants(ctx).net,
        ...routeGrants(ctx).net,
      ],
      // google-auth-library probes many variables; an allow-list would turn each probe into a crash.
      env: true,
      // Deno.umask and os.hostname() are only granted as the whole kind.
      sys: true,
      run: [...new Set(["zenity", "osascript", ...routeGrants(ctx).run])],
      // libc only, for the kernel's peer credentials of each socket connection (SO_PEERCRED,
      // SO_PEERPIDFD) and the peer's /proc entries: src/gate/peer_kernel.ts says why.
      ffi: [...LIBC_PATHS],
    };
  },
  "metadata-proxy": (ctx) => ({
    read: [...configFile(ctx), ctx.config.socket_path, ...remoteGateFiles(ctx.config)],
    write: [ctx.config.socket_path],
    // Port 0 binds whatever port is free, so only the host can be pinned.
    net: [
      ctx.config.port === 0 ? "127.0.0.1" : `127.0.0.1:${ctx.config.port}`,
      // The API routes listener (issue 11), on loopback only, when routes_port is set.
      ...(ctx.config.routes_port === undefined
        ? []
        : [ctx.config.routes_port === 0 ? "127.0.0.1" : `127.0.0.1:${ctx.config.routes_port}`]),
      `unix:${ctx.config.socket_path}`,
      "localhost",
      ...remoteGateHost(ctx.config.gate_url),
    ],
    env: CLIENT_ENV,
    // Deno.uid(): a client bundle must be owned by the proxy's user (src/gate_api/remote_config.ts).
    sys: ["uid"],
  }),
  // with-prod runs an arbitrary command and must read /proc, which Deno grants only with -A.
  "with-prod": () => ({ all: true }),
  "admin-client": (ctx) => ({
    read: [...configFile(ctx), ctx.config.admin_socket_path],
    write: [ctx.config.admin_socket_path],
    net: [`unix:${ctx.config.admin_socket_path}`, "localhost"],
    env: CLIENT_ENV,
  }),
  // `routes env` and `git-setup` (issue 11): the gate's route listing over the proxy's transport;
  // git-setup runs `git config`, which reads and writes the git config files itself.
  "routes-client": (ctx) => ({
    read: [...configFile(ctx), ctx.config.socket_path, ...remoteGateFiles(ctx.config)],
    write: [ctx.config.socket_path],
    net: [`unix:${ctx.config.socket_path}`, "localhost", ...remoteGateHost(ctx.config.gate_url)],
    env: CLIENT_ENV,
    sys: ["uid"],
    run: ["git"],
  }),
  // kube-token reads no config: it asks GCE_METADATA_HOST at each call, else 127.0.0.1:8173. Any
  // loopback port, so under with-prod (a temporary proxy on a random port) kubectl gets the prod
  // token; a non-loopback metadata host only if the user's GCE_METADATA_HOST names it.
  "kube-token": (ctx) => ({
    net: [...new Set([...LOOPBACK_HOSTS, ...nonLoopbackHost(ctx.metadataHost)])],
    env: ["GCE_METADATA_HOST", "KUBERNETES_EXEC_INFO"],
  }),
  "kube-setup": (ctx) => {
    const kubeconfig = kubeconfigPath({ KUBECONFIG: ctx.kubeconfig, HOME: ctx.home });
    return {
      read: [dirOf(kubeconfig), kubeconfig],
      write: [dirOf(kubeconfig)],
      // yaml reads LOG_TOKENS and LOG_STREAM; the installed shim names itself in
      // AUTHCALATOR_EXECUTABLE; TMPDIR marks a command that will not last.
      env: ["KUBECONFIG", "HOME", "AUTHCALATOR_EXECUTABLE", "TMPDIR", "LOG_TOKENS", "LOG_STREAM"],
    };
  },
  // The TLS directory only (created 0700 if missing); HOME for its default path; Deno.uid() for
  // the owner checks.
  "init-tls": (ctx) => {
    const dir = ctx.config.tls_dir ?? `${ctx.home}/.gcp-authcalator/tls`;
    return { read: [...configFile(ctx), dir], write: [dir], env: CLIENT_ENV, sys: ["uid"] };
  },
  // Loopback listener; write only for --write-adc (its path is a flag, unknown here). It reads
  // no files and no environment.
  "emulator": () => ({ write: true, net: ["127.0.0.1"] }),
  "permissions": (ctx) => ({ read: configFile(ctx), env: true }),
  "version": () => ({}),
};

/**
 * V8 options of the long-running roles, given wherever a role's pinned flags are (deno.json's
 * tasks, the install shim, `authcalator permissions`, the launchers). A young generation of at
 * most 4 MiB per semi-space (V8's default is 16 MiB): with the default, the proxy kept the heap a
 * load grew, 135 MiB at rest after 100k token requests over 10k scope sets, twice; with 4 MiB it
 * rested at 63 MiB, below its level after the first 10k. 1 MiB rested at 63–74 MiB too but cost
 * a tenth to a quarter of warm req/s in the same (noisy) runs; 4 MiB cost none at 16 connections
 * and about a tenth at 64 (`deno task bench`, tables (a) and (f); README "Benchmarks").
 */
export const DAEMON_V8_FLAGS = "--v8-flags=--max-semi-space-size=4";

/** The Deno runtime flags of `role` besides its permissions (V8 options of the daemons). */
export function runtimeFlags(role: Role): string[] {
  return role === "gate" || role === "metadata-proxy" ? [DAEMON_V8_FLAGS] : [];
}

/** The grants of `role` for this user. */
export function grantsFor(role: Role, ctx: PermissionContext): RoleGrants {
  return ROLES[role](ctx);
}

/** The kinds `role` uses at all, whatever the user's paths (for deno.json and the release build). */
export function kindsOf(role: Role): Kind[] | "all" {
  const sample = grantsFor(role, sampleContext());
  if ("all" in sample) return "all";
  return KINDS.filter((k) => sample[k] !== undefined);
}

/** A context with placeholder paths, used where only the shape of a grant matters. */
export function sampleContext(): PermissionContext {
  return {
    home: "/home/user",
    runtimeDir: "/run/user/1000",
    config: {
      socket_path: "/run/user/1000/gcp-authcalator.sock",
      admin_socket_path: "/run/user/1000/gcp-authcalator-admin/admin.sock",
      port: 8173,
      scopes: [],
      pam_location: "global",
      token_ttl_seconds: 3600,
      session_ttl_seconds: 28800,
      no_quota_project: false,
      env: {},
    },
  };
}

/**
 * The `--allow-*` flags of `role` for this user, pinned to its paths and ports, after its
 * {@link runtimeFlags}.
 */
export function denoFlags(role: Role, ctx: PermissionContext): string[] {
  const grants = grantsFor(role, ctx);
  if ("all" in grants) return ["--allow-all"];
  const flags = ["--no-prompt", ...runtimeFlags(role)];
  for (const kind of KINDS) {
    const grant = grants[kind];
    if (grant === undefined) continue;
    if (grant === true) flags.push(`--allow-${kind}`);
    else if (grant.length) flags.push(`--allow-${kind}=${[...new Set(grant)].join(",")}`);
  }
  return flags;
}

/** The `--allow-*` flags of `role` for builds that cannot know the user's paths (deno.json's set). */
export function kindFlags(role: Role): string[] {
  const set = permissionSet(role);
  if ("all" in set) return ["--allow-all"];
  return [
    "--no-prompt",
    ...Object.entries(set).map(([kind, grant]) =>
      grant === true ? `--allow-${kind}` : `--allow-${kind}=${(grant as string[]).join(",")}`
    ),
  ];
}

/**
 * The deno.json permission set of `role`: a grant that does not depend on the user's paths is
 * kept as its list; one that does is granted as the whole kind (deno.json cannot know the paths).
 */
export function permissionSet(role: Role): Record<string, boolean | string[]> | { all: true } {
  const a = grantsFor(role, sampleContext());
  if ("all" in a) return { all: true };
  const other = sampleContext();
  other.home = "/home/other";
  other.runtimeDir = "/run/user/2000";
  other.config.socket_path = "/run/user/2000/g.sock";
  other.config.admin_socket_path = "/run/user/2000/a/admin.sock";
  other.config.port = 9999;
  other.config.config_path = "/etc/other.toml";
  other.metadataHost = "127.0.0.1:9999";
  other.kubeconfig = "/srv/kube/config";
  const b = grantsFor(role, other) as Partial<Record<Kind, Grant>>;
  const set: Record<string, boolean | string[]> = {};
  for (const kind of KINDS) {
    const grant = a[kind];
    if (grant === undefined) continue;
    const same = JSON.stringify(grant) === JSON.stringify(b[kind]);
    set[kind] = grant === true || !same ? true : grant;
  }
  return set;
}

/**
 * Revokes every kind `role` does not use, so a role started with `-A` holds only its own
 * kinds before it reads any input. Revocation cannot narrow paths within a kind (Deno revokes the
 * covering grant), which is why the pinned flags are the primary control.
 */
export function revokeUnusedKinds(role: Role): void {
  const kinds = kindsOf(role);
  if (kinds === "all") return;
  for (const kind of KINDS) {
    if ((kinds as string[]).includes(kind)) continue;
    Deno.permissions.revokeSync({ name: kind });
  }
}
