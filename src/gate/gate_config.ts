import type { Config } from "../cli/config.ts";
import { UsageError } from "../errors.ts";

/** The configuration the gate runs with, its required keys present. */
export type GateConfig = Config & { project_id: string; service_account: string };

/**
 * Checks the gate-only rules. Keys of gcp-authcalator that this release does not serve yet (PAM,
 * the operator socket, the TCP + mTLS listener) are refused by name instead of being ignored, so
 * nobody believes a control is on when it is not.
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
    ["gate_tls_port", "the TCP + mTLS listener"],
  ];
  for (const [key, what] of unsupported) {
    if (config[key] !== undefined) {
      problems.push(`${key}: ${what} is not served by this release of authcalator; remove the key`);
    }
  }
  if (problems.length) {
    throw new UsageError(`invalid configuration for 'gate'\n  ${problems.join("\n  ")}`);
  }
  return config as GateConfig;
}
