import type { Config } from "../cli/config.ts";
import { UsageError } from "../errors.ts";
import { checkApiUrl, SERVICE_ACCOUNT_USER } from "../kube/token_review.ts";

/** The configuration the gate runs with, its required keys present. */
export type GateConfig = Config & { project_id: string; service_account: string };

/** How the TCP listener's clients authenticate (see src/gate/tcp_listener.ts). */
export type TcpClientAuth = "certificate" | "bearer_file" | "token_review";

/** The TCP listener's client authentication, from which keys are set. */
export function tcpClientAuth(config: Config): TcpClientAuth {
  if (config.gate_bearer_tokens_file !== undefined) return "bearer_file";
  if (config.gate_token_review_audience !== undefined) return "token_review";
  return "certificate";
}

/** Whether `address` is an IP literal (v4 dotted quad or v6). */
function isIpLiteral(address: string): boolean {
  if (/^(\d{1,3})(\.\d{1,3}){3}$/.test(address)) {
    return address.split(".").every((part) => Number(part) <= 255);
  }
  if (!address.includes(":") || !/^[0-9a-fA-F:.]+$/.test(address)) return false;
  try {
    return new URL(`http://[${address}]/`).hostname.length > 2;
  } catch {
    return false;
  }
}

/** Whether a bind address stays on this machine. */
export function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === "::1" || address === "localhost";
}

/** The TCP listener's rules: bind address, one client authentication, and their keys' forms. */
function tcpProblems(config: Config): string[] {
  const problems: string[] = [];
  const tcpKeys: (keyof Config)[] = [
    "gate_bind",
    "gate_bearer_tokens_file",
    "gate_token_review_audience",
    "gate_allowed_service_accounts",
    "gate_kube_api_url",
    "gate_kube_ca_file",
    "gate_kube_token_file",
  ];
  if (config.gate_tls_port === undefined) {
    for (const key of tcpKeys) {
      if (config[key] !== undefined) {
        problems.push(`${key}: applies to the TCP listener only; set gate_tls_port too`);
      }
    }
    return problems;
  }
  const bind = config.gate_bind;
  if (bind !== undefined && bind !== "localhost" && !isIpLiteral(bind)) {
    problems.push(
      `gate_bind: must be an IP address (127.0.0.1, ::1, 0.0.0.0, a host's address), got ${
        JSON.stringify(bind)
      }`,
    );
  }
  if (
    config.gate_bearer_tokens_file !== undefined && config.gate_token_review_audience !== undefined
  ) {
    problems.push(
      "gate_bearer_tokens_file and gate_token_review_audience: choose one way for TCP clients " +
        "to authenticate",
    );
  }
  const review = config.gate_token_review_audience !== undefined;
  if (review && !config.gate_token_review_audience!.trim()) {
    problems.push("gate_token_review_audience: must not be empty");
  }
  if (review && !config.gate_allowed_service_accounts?.length) {
    problems.push(
      "gate_allowed_service_accounts: required with gate_token_review_audience " +
        "(system:serviceaccount:<namespace>:<name>, …): nobody would be admitted",
    );
  }
  for (const id of config.gate_allowed_service_accounts ?? []) {
    if (!SERVICE_ACCOUNT_USER.test(id)) {
      problems.push(
        `gate_allowed_service_accounts: ${
          JSON.stringify(id)
        } is not system:serviceaccount:<namespace>:<name>`,
      );
    }
  }
  if (!review) {
    for (
      const key of [
        "gate_allowed_service_accounts",
        "gate_kube_api_url",
        "gate_kube_ca_file",
        "gate_kube_token_file",
      ] as const
    ) {
      if (config[key] !== undefined) {
        problems.push(`${key}: applies to TokenReview only; set gate_token_review_audience too`);
      }
    }
  }
  if (config.gate_kube_api_url !== undefined) {
    try {
      checkApiUrl(config.gate_kube_api_url);
    } catch (err) {
      problems.push(`gate_kube_api_url: ${(err as Error).message}`);
    }
  }
  return problems;
}

/**
 * Checks the gate-only rules. Keys of gcp-authcalator that this release does not serve yet (PAM,
 * the operator socket) are refused by name instead of being ignored, so nobody believes a control
 * is on when it is not.
 */
export function checkGateConfig(config: Config): GateConfig {
  const problems: string[] = [];
  if (!config.project_id) problems.push("project_id: required for the gate (--project-id)");
  if (!config.service_account) {
    problems.push(
      "service_account: required for the gate (--service-account): dev tokens impersonate it",
    );
  }
  const unsupported: [keyof Config, string][] = [
    ["pam_policy", "PAM"],
    ["pam_allowed_policies", "PAM"],
    ["auto_approve_pam_policies", "PAM"],
    ["pam_grant_ttl_seconds", "PAM"],
    ["operator_socket_path", "the operator socket"],
    ["operator_socket_group", "the operator socket"],
    ["agent_uid", "the operator socket"],
  ];
  for (const [key, what] of unsupported) {
    if (config[key] !== undefined) {
      problems.push(`${key}: ${what} is not served by this release of authcalator; remove the key`);
    }
  }
  problems.push(...tcpProblems(config));
  if (problems.length) {
    throw new UsageError(`invalid configuration for 'gate'\n  ${problems.join("\n  ")}`);
  }
  return config as GateConfig;
}
