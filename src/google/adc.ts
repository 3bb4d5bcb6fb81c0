/** Application Default Credentials: finding the file and checking its shape. */

/** An authorized_user ADC (from `gcloud auth application-default login`). */
export interface AuthorizedUserAdc {
  type: "authorized_user";
  client_id: string;
  client_secret: string;
  refresh_token: string;
  quota_project_id?: string;
  universe_domain?: string;
}

/** A service account key file. */
export interface ServiceAccountAdc {
  type: "service_account";
  client_email: string;
  private_key: string;
  private_key_id?: string;
  project_id?: string;
  quota_project_id?: string;
  universe_domain?: string;
}

/** An impersonated_service_account ADC (`gcloud auth application-default login --impersonate-service-account`). */
export interface ImpersonatedAdc {
  type: "impersonated_service_account";
  service_account_impersonation_url: string;
  source_credentials: AuthorizedUserAdc | ServiceAccountAdc;
  delegates?: string[];
  quota_project_id?: string;
  universe_domain?: string;
}

/** Any ADC the gate accepts. */
export type Adc = AuthorizedUserAdc | ServiceAccountAdc | ImpersonatedAdc;

/** Raised when no usable ADC exists; its message is shown to users and never quotes file contents. */
export class AdcError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AdcError";
  }
}

/** The ADC path: GOOGLE_APPLICATION_CREDENTIALS, else gcloud's well-known file. */
export function adcPath(env: Record<string, string | undefined>): string {
  if (env.GOOGLE_APPLICATION_CREDENTIALS) return env.GOOGLE_APPLICATION_CREDENTIALS;
  const dir = env.CLOUDSDK_CONFIG || `${env.HOME ?? ""}/.config/gcloud`;
  return `${dir}/application_default_credentials.json`;
}

const need = (obj: Record<string, unknown>, key: string, where: string): string => {
  const value = obj[key];
  if (typeof value !== "string" || value === "") {
    throw new AdcError(`${where}: field "${key}" is missing or not a string`);
  }
  return value;
};

function parseSource(
  obj: Record<string, unknown>,
  where: string,
): AuthorizedUserAdc | ServiceAccountAdc {
  switch (obj.type) {
    case "authorized_user":
      need(obj, "client_id", where);
      need(obj, "client_secret", where);
      need(obj, "refresh_token", where);
      return obj as unknown as AuthorizedUserAdc;
    case "service_account": {
      need(obj, "client_email", where);
      const key = need(obj, "private_key", where);
      if (!key.includes("PRIVATE KEY-----")) {
        throw new AdcError(`${where}: field "private_key" is not a PEM private key`);
      }
      return obj as unknown as ServiceAccountAdc;
    }
    default:
      throw new AdcError(
        `${where}: unsupported credential type ${JSON.stringify(obj.type ?? null)} ` +
          `(expected authorized_user, service_account or impersonated_service_account)`,
      );
  }
}

/** Parses ADC JSON text from `path`; every problem names the file and field, never a value. */
export function parseAdc(text: string, path: string): Adc {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    throw new AdcError(`${path}: not valid JSON`);
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    throw new AdcError(`${path}: expected a JSON object`);
  }
  const record = obj as Record<string, unknown>;
  if (record.type === "impersonated_service_account") {
    const url = need(record, "service_account_impersonation_url", path);
    if (!/serviceAccounts\/[^/:]+:generateAccessToken$/.test(url)) {
      throw new AdcError(
        `${path}: service_account_impersonation_url does not name a service account`,
      );
    }
    const source = record.source_credentials;
    if (typeof source !== "object" || source === null) {
      throw new AdcError(`${path}: field "source_credentials" is missing`);
    }
    parseSource(source as Record<string, unknown>, `${path} (source_credentials)`);
    if (record.delegates !== undefined && !Array.isArray(record.delegates)) {
      throw new AdcError(`${path}: field "delegates" must be an array`);
    }
    return record as unknown as ImpersonatedAdc;
  }
  return parseSource(record, path);
}

/** The target service account of an impersonated ADC. */
export function impersonationTarget(adc: ImpersonatedAdc): string {
  const m = /serviceAccounts\/([^/:]+):generateAccessToken$/.exec(
    adc.service_account_impersonation_url,
  )!;
  return decodeURIComponent(m[1]);
}

/** Reads and parses the ADC file. */
export async function readAdc(path: string): Promise<Adc> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new AdcError(
        `Could not load the default credentials: ${path} does not exist ` +
          "(run `gcloud auth application-default login` on this host)",
      );
    }
    throw new AdcError(
      `Could not load the default credentials: cannot read ${path} (${(err as Error).name})`,
    );
  }
  return parseAdc(text, path);
}
