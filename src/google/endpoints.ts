import type { Config } from "../cli/config.ts";

/** Where each Google API the gate calls lives (base URLs without a trailing slash). */
export interface GoogleEndpoints {
  oauth2: string;
  iamcredentials: string;
  cloudresourcemanager: string;
  privilegedaccessmanager: string;
}

/** Google's own hosts, used when nothing overrides them. */
export const GOOGLE_DEFAULTS: GoogleEndpoints = {
  oauth2: "https://oauth2.googleapis.com",
  iamcredentials: "https://iamcredentials.googleapis.com",
  cloudresourcemanager: "https://cloudresourcemanager.googleapis.com",
  privilegedaccessmanager: "https://privilegedaccessmanager.googleapis.com",
};

const trim = (url: string) => url.replace(/\/+$/, "");

/** Resolves endpoints: a per-API key beats `google_api_base`, which beats Google's hosts. */
export function resolveEndpoints(config: Config): GoogleEndpoints {
  const base = config.google_api_base ? trim(config.google_api_base) : undefined;
  const pick = (override: string | undefined, fallback: string) =>
    override ? trim(override) : base ?? fallback;
  return {
    oauth2: pick(config.oauth2_api_base, GOOGLE_DEFAULTS.oauth2),
    iamcredentials: pick(config.iamcredentials_api_base, GOOGLE_DEFAULTS.iamcredentials),
    cloudresourcemanager: pick(
      config.cloudresourcemanager_api_base,
      GOOGLE_DEFAULTS.cloudresourcemanager,
    ),
    privilegedaccessmanager: pick(
      config.privilegedaccessmanager_api_base,
      GOOGLE_DEFAULTS.privilegedaccessmanager,
    ),
  };
}
