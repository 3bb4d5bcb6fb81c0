/**
 * Credential files for the emulator, in the exact formats gcloud and the IAM console write:
 * authorized_user ADC, service-account keys and impersonated_service_account ADC. URL fields
 * point at the emulator, for the client libraries that honour them.
 * @module
 */
import { type EmulatorState, findServiceAccount } from "./state.ts";

/** An `authorized_user` ADC file, as `gcloud auth application-default login` writes it. */
export interface AuthorizedUserAdc {
  type: "authorized_user";
  account: string;
  client_id: string;
  client_secret: string;
  refresh_token: string;
  quota_project_id?: string;
  universe_domain: string;
  /** Honoured by google-auth (Python); the Node library ignores it (see the emulator docs). */
  token_uri: string;
}

/** A service-account key file, as `gcloud iam service-accounts keys create` writes it. */
export interface ServiceAccountKeyFile {
  type: "service_account";
  project_id: string;
  private_key_id: string;
  private_key: string;
  client_email: string;
  client_id: string;
  auth_uri: string;
  token_uri: string;
  auth_provider_x509_cert_url: string;
  client_x509_cert_url: string;
  universe_domain: string;
}

/** An `impersonated_service_account` ADC file (`gcloud auth application-default login --impersonate-service-account`). */
export interface ImpersonatedAdc {
  type: "impersonated_service_account";
  service_account_impersonation_url: string;
  delegates: string[];
  source_credentials: AuthorizedUserAdc;
  quota_project_id?: string;
}

/** The engineer's authorized_user ADC. */
export function authorizedUserAdc(state: EmulatorState): AuthorizedUserAdc {
  const e = state.options.engineer;
  const adc: AuthorizedUserAdc = {
    type: "authorized_user",
    account: "",
    client_id: e.clientId,
    client_secret: e.clientSecret,
    refresh_token: e.refreshToken,
    universe_domain: "googleapis.com",
    token_uri: `${state.baseUrl}/token`,
  };
  if (state.options.quotaProjectId) adc.quota_project_id = state.options.quotaProjectId;
  return adc;
}

function account(state: EmulatorState, email: string) {
  const sa = findServiceAccount(state, email);
  if (!sa) throw new Error(`emulator: unknown service account ${email}`);
  return sa;
}

/** A key file for `email` with a fresh RSA key the emulator trusts for JWT-bearer grants. */
export async function serviceAccountKey(
  state: EmulatorState,
  email: string,
): Promise<ServiceAccountKeyFile> {
  const sa = account(state, email);
  const { keyId, privateKeyPem } = await state.serviceAccountKeys.issue(sa.email);
  const domain = sa.email.split("@")[1];
  const projectId = domain.endsWith(".iam.gserviceaccount.com")
    ? domain.slice(0, -".iam.gserviceaccount.com".length)
    : state.options.projects[0]?.id ?? "";
  return {
    type: "service_account",
    project_id: projectId,
    private_key_id: keyId,
    private_key: privateKeyPem,
    client_email: sa.email,
    client_id: sa.uniqueId,
    auth_uri: "https://accounts.google.com/o/oauth2/auth",
    token_uri: `${state.baseUrl}/token`,
    auth_provider_x509_cert_url: `${state.baseUrl}/oauth2/v1/certs`,
    // Informational only; no client library fetches it when minting tokens.
    client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${
      encodeURIComponent(sa.email)
    }`,
    universe_domain: "googleapis.com",
  };
}

/** An impersonated_service_account ADC: the engineer's authorized_user credential impersonating `target`. */
export function impersonatedAdc(
  state: EmulatorState,
  target: string,
  delegates: string[] = [],
): ImpersonatedAdc {
  const sa = account(state, target);
  const adc: ImpersonatedAdc = {
    type: "impersonated_service_account",
    service_account_impersonation_url:
      `${state.baseUrl}/v1/projects/-/serviceAccounts/${sa.email}:generateAccessToken`,
    delegates: delegates.map((d) => `projects/-/serviceAccounts/${account(state, d).email}`),
    source_credentials: authorizedUserAdc(state),
  };
  if (state.options.quotaProjectId) adc.quota_project_id = state.options.quotaProjectId;
  return adc;
}
