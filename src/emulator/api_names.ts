/** Names of the emulated Google API methods, used by counters, the request log and faults. */

/** One emulated API method. */
export type ApiName =
  | "token"
  | "tokeninfo"
  | "generateAccessToken"
  | "generateIdToken"
  | "getProject"
  | "certs";

/** Every API name, in a stable order. */
export const API_NAMES: readonly ApiName[] = [
  "token",
  "tokeninfo",
  "generateAccessToken",
  "generateIdToken",
  "getProject",
  "certs",
];

/** Which API a request is for, by method and path; undefined for paths Google would 404. */
export function classify(method: string, path: string): ApiName | undefined {
  if (path === "/token" && method === "POST") return "token";
  if (path === "/tokeninfo" && (method === "GET" || method === "POST")) return "tokeninfo";
  if (method === "GET" && (path === "/oauth2/v3/certs" || path === "/oauth2/v1/certs")) {
    return "certs";
  }
  if (method === "GET" && /^\/v3\/projects\/[^/]+$/.test(path)) return "getProject";
  const iam =
    /^\/v1\/projects\/[^/]+\/serviceAccounts\/[^/]+:(generateAccessToken|generateIdToken)$/
      .exec(path);
  if (iam && method === "POST") return iam[1] as ApiName;
  return undefined;
}
