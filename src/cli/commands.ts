import type { Config } from "./config.ts";

/** A command-specific flag (config flags are shared and come from CONFIG_KEYS). */
export interface FlagSpec {
  name: string;
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  arg?: string;
  help: string;
}

/** What a parsed command line hands to a command module. */
export interface Invocation {
  command: string;
  positionals: string[];
  /** Command-specific flag values by flag name. */
  flags: Record<string, string | boolean | string[] | undefined>;
  /** The merged, validated configuration (for commands that load it). */
  config?: Config;
  /** The process environment as the command saw it at start. */
  env: Record<string, string>;
}

/** A command module: one per subcommand, loaded on demand so each role loads only its own code. */
export interface CommandModule {
  run(invocation: Invocation): Promise<number>;
}

/** The static description of a subcommand. */
export interface CommandSpec {
  name: string;
  summary: string;
  /** Usage line after `authcalator <name>`. */
  usage: string;
  /** Whether the command reads configuration (and so accepts --config and its config flags). */
  loadsConfig: boolean;
  /**
   * The config keys this command takes as flags and lists in its help (every key when absent).
   * Any key may still come from GCP_AUTHCALATOR_<KEY> or the TOML file, shared between roles.
   */
  configKeys?: readonly string[];
  /** Config keys (or flag names) the command cannot run without, marked in its help. */
  required?: readonly string[];
  flags: FlagSpec[];
  /** Positional arguments accepted: a fixed maximum, or "command" for `-- cmd …`. */
  positionals: number | "command";
  /** Extra paragraphs of help. */
  details?: string;
  /** Example command lines (after `authcalator `), shown at the end of the help. */
  examples?: readonly string[];
  load: () => Promise<CommandModule>;
}

/** The config keys the gate takes as flags: its own, never the container side's. */
/** How a gate client reaches a remote gate (read by src/gate_api/open_transport.ts). */
const REMOTE_GATE_KEYS = ["gate_url", "tls_bundle", "tls_dir", "gate_token_file"];

const GATE_KEYS = [
  "project_id",
  "service_account",
  "socket_path",
  "admin_socket_path",
  "gate_tls_port",
  "gate_bind",
  "tls_dir",
  "gate_bearer_tokens_file",
  "gate_token_review_audience",
  "gate_allowed_service_accounts",
  "gate_kube_api_url",
  "gate_kube_ca_file",
  "gate_kube_token_file",
  "pam_policy",
  "pam_allowed_policies",
  "pam_location",
  "token_ttl_seconds",
  "pam_grant_ttl_seconds",
  "session_ttl_seconds",
  "operator_socket_path",
  "operator_socket_group",
  "auto_approve_pam_policies",
  "agent_uid",
  "google_api_base",
  "oauth2_api_base",
  "iamcredentials_api_base",
  "cloudresourcemanager_api_base",
  "privilegedaccessmanager_api_base",
  "audit_required",
  "audit_max_bytes",
  "audit_max_files",
  "log_level",
  "log_format",
] as const;

/** Every subcommand; the loaders are dynamic imports so kube-token never loads the gate. */
export const COMMANDS: readonly CommandSpec[] = [
  {
    name: "gate",
    summary: "host daemon: holds ADC, mints tokens, serves the gate socket",
    usage: "[flags]",
    loadsConfig: true,
    flags: [
      {
        name: "allow-missing-credentials",
        type: "boolean",
        help: "start even when the ADC check fails (says loudly what is wrong)",
      },
      {
        name: "no-audit-required",
        type: "boolean",
        help: "keep granting dev tokens when the audit log cannot be written (prod never)",
      },
    ],
    positionals: 0,
    configKeys: GATE_KEYS,
    required: ["project_id", "service_account"],
    examples: [
      "gate --project-id my-project --service-account dev-runner@my-project.iam.gserviceaccount.com",
      "gate --config ~/.config/authcalator/gate.toml",
    ],
    load: () => import("../commands/gate.ts"),
  },
  {
    name: "metadata-proxy",
    summary: "container-side GCE metadata server on 127.0.0.1:<port>",
    usage: "[flags]",
    loadsConfig: true,
    flags: [
      {
        name: "bind",
        type: "string",
        arg: "addr",
        help: "listen address (default 127.0.0.1; a non-loopback address must be given explicitly)",
      },
    ],
    positionals: 0,
    configKeys: [
      "project_id",
      "service_account",
      "socket_path",
      "port",
      "routes_port",
      "scopes",
      ...REMOTE_GATE_KEYS,
    ],
    required: ["project_id"],
    examples: [
      "metadata-proxy --project-id my-project --socket-path /run/authcalator/gate.sock",
      "metadata-proxy --port 0   # any free port; it prints the one it took",
    ],
    load: () => import("../commands/metadata_proxy.ts"),
  },
  {
    name: "with-prod",
    summary: "run one command with production credentials after a human approves",
    usage: "[flags] -- <command> [args…]",
    loadsConfig: true,
    flags: [{
      name: "project",
      type: "string",
      arg: "id",
      help: "target project for this run only",
    }],
    positionals: "command",
    configKeys: [
      "project_id",
      "socket_path",
      "scopes",
      "quota_project",
      "no_quota_project",
      "env",
      "pam_policy",
      "token_ttl_seconds",
      "session_ttl_seconds",
      ...REMOTE_GATE_KEYS,
    ],
    examples: [
      "with-prod -- gcloud projects describe my-prod-project",
      "with-prod --project my-prod-project -- kubectl get pods",
    ],
    load: () => import("../commands/with_prod.ts"),
  },
  {
    name: "pending",
    summary: "list pending prod requests, or show one (admin socket)",
    usage: "[id] [flags]",
    loadsConfig: true,
    flags: [],
    positionals: 1,
    configKeys: ["admin_socket_path"],
    examples: ["pending", "pending 0123456789abcdef0123456789abcdef"],
    load: () => import("../commands/pending.ts"),
  },
  {
    name: "approve",
    summary: "approve a pending prod request after reading its command (admin socket)",
    usage: "<id> [--yes] [flags]",
    loadsConfig: true,
    flags: [{ name: "yes", type: "boolean", help: "approve without the typed confirmation" }],
    positionals: 1,
    configKeys: ["admin_socket_path"],
    examples: ["approve 0123456789abcdef0123456789abcdef"],
    load: () => import("../commands/approve.ts"),
  },
  {
    name: "deny",
    summary: "deny a pending prod request (admin socket)",
    usage: "<id> [flags]",
    loadsConfig: true,
    flags: [],
    positionals: 1,
    configKeys: ["admin_socket_path"],
    examples: ["deny 0123456789abcdef0123456789abcdef"],
    load: () => import("../commands/deny.ts"),
  },
  {
    name: "routes",
    summary: "routes env: print the variables that send API clients through the routes listener",
    usage: "env [flags]",
    loadsConfig: true,
    flags: [],
    positionals: 1,
    configKeys: [
      "socket_path",
      "routes_port",
      ...REMOTE_GATE_KEYS,
    ],
    required: ["routes_port"],
    details: "Asks the gate for its routes (names and upstreams, never a credential) and prints " +
      'shell lines: eval "$(authcalator routes env)". Keys printed are placeholders; the ' +
      "gate injects the real credential.",
    examples: ["routes env --routes-port 8174", 'eval "$(authcalator routes env)"'],
    load: () => import("../commands/routes_env.ts"),
  },
  {
    name: "git-setup",
    summary: "write git url.<route>.insteadOf rules so git goes through the routes listener",
    usage: "[--exclude HOST]… [--file PATH] [--undo] [flags]",
    loadsConfig: true,
    flags: [
      {
        name: "exclude",
        type: "string",
        multiple: true,
        arg: "host",
        help: "never write a rule for this upstream host (repeatable, or comma-separated)",
      },
      {
        name: "file",
        type: "string",
        arg: "path",
        help: "the git config file to edit (default: the global one, git config --global)",
      },
      {
        name: "undo",
        type: "boolean",
        help: "remove every rule git-setup wrote (any route, any port) and nothing else",
      },
    ],
    positionals: 0,
    configKeys: [
      "socket_path",
      "routes_port",
      ...REMOTE_GATE_KEYS,
    ],
    examples: ["git-setup", "git-setup --exclude gitlab.com", "git-setup --undo"],
    load: () => import("../commands/git_setup.ts"),
  },
  {
    name: "init-tls",
    summary: "create or maintain the gate's mTLS material (CA, server, client bundles)",
    usage: "[--client NAME | --revoke NAME|SERIAL | --rotate-ca] [--san NAME] [flags]",
    loadsConfig: true,
    flags: [
      {
        name: "client",
        type: "string",
        arg: "name",
        help: "issue a named client bundle (clients/NAME.bundle.pem) from the existing CA",
      },
      {
        name: "revoke",
        type: "string",
        arg: "name|serial",
        help: "put a client on the revocation list (a running gate honours it at once)",
      },
      {
        name: "rotate-ca",
        type: "boolean",
        help: "replace the CA (every issued client bundle stops working)",
      },
      {
        name: "san",
        type: "string",
        multiple: true,
        arg: "name",
        help: "add a DNS name or IP address to the server certificate (repeatable)",
      },
      {
        name: "bundle-b64",
        type: "boolean",
        help: "print the client bundle as one line of base64",
      },
      { name: "show-path", type: "boolean", help: "print the TLS directory and exit" },
    ],
    positionals: 0,
    configKeys: ["tls_dir"],
    details: "Re-running keeps the CA: it only renews leaves that are invalid or expire within " +
      "14 days and repairs client-bundle.pem. Files are 0600 in a 0700 directory " +
      "(default ~/.gcp-authcalator/tls).",
    examples: [
      "init-tls --san gate.internal.example",
      "init-tls --client alice-laptop",
      "init-tls --revoke alice-laptop",
    ],
    load: () => import("../commands/init_tls.ts"),
  },
  {
    name: "kube-token",
    summary: "kubectl exec credential plugin backed by the metadata proxy",
    usage: "",
    loadsConfig: false,
    flags: [],
    positionals: 0,
    examples: ["kube-token   # kubectl runs this; see kube-setup"],
    load: () => import("../commands/kube_token.ts"),
  },
  {
    name: "kube-setup",
    summary: "point kubeconfig users of gke-gcloud-auth-plugin at kube-token",
    usage: "[--command <path>]",
    loadsConfig: false,
    flags: [{
      name: "command",
      type: "string",
      arg: "path",
      help: "absolute path kubectl runs (default: this authcalator executable)",
    }],
    positionals: 0,
    examples: ["kube-setup", "kube-setup --command /usr/local/bin/authcalator"],
    load: () => import("../commands/kube_setup.ts"),
  },
  {
    name: "emulator",
    summary: "run the embedded Google API emulator on loopback (no Google account needed)",
    usage: "[flags]",
    loadsConfig: false,
    flags: [
      { name: "port", type: "string", short: "p", arg: "port", help: "port (0 = any free port)" },
      { name: "project-id", type: "string", arg: "id", help: "project id (demo-project)" },
      { name: "project-number", type: "string", arg: "n", help: "project number" },
      { name: "service-account", type: "string", arg: "email", help: "dev service account" },
      { name: "engineer-email", type: "string", arg: "email", help: "the engineer's identity" },
      {
        name: "write-adc",
        type: "string",
        arg: "path",
        help: "write an authorized_user ADC file for the engineer (mode 0600)",
      },
    ],
    positionals: 0,
    examples: ["emulator --port 0 --write-adc /tmp/adc.json"],
    load: () => import("../commands/emulator.ts"),
  },
  {
    name: "permissions",
    summary: "print the pinned `deno run` permission flags of a role",
    usage: "<role> [flags]",
    loadsConfig: true,
    flags: [],
    positionals: 1,
    examples: [
      "permissions gate --config ~/.config/authcalator/gate.toml",
      "permissions kube-token",
    ],
    load: () => import("../commands/permissions.ts"),
  },
  {
    name: "version",
    summary: "print the version",
    usage: "",
    loadsConfig: false,
    flags: [],
    positionals: 0,
    examples: ["version"],
    load: () => import("../commands/version.ts"),
  },
];

/** Finds a command by name. */
export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}
