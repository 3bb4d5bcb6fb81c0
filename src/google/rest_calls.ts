/** The gate's own REST calls to Google (the rest goes through google-auth-library). */
import { fetchWithDeadline } from "../http/deadline_fetch.ts";
import { jsonObject } from "./google_answers.ts";
import { googleStatusError } from "./google_status.ts";

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** How a REST call is made: its deadline and the transport's fetch (transport.ts). */
export interface RestCallOptions {
  timeoutMs: number;
  fetchFn?: typeof fetch;
}

/** The email behind an access token, from tokeninfo (token in the form body, never the URL). */
export async function tokenInfoEmail(
  oauth2Base: string,
  accessToken: string,
  options: RestCallOptions,
): Promise<string> {
  const what = "calling tokeninfo";
  const res = await fetchWithDeadline(`${oauth2Base}/tokeninfo`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ access_token: accessToken }),
    what,
    ...options,
  });
  const data = parseJson(res.text);
  if (!res.ok) throw googleStatusError(res, data, what);
  const body = jsonObject("tokeninfo", data);
  if (typeof body.email !== "string" || body.email === "") {
    throw new Error(
      "tokeninfo returned no email: the ADC lacks the userinfo.email scope (run " +
        "`gcloud auth application-default login` again)",
    );
  }
  return body.email;
}

/** A project's number from Cloud Resource Manager v3 `projects.get`. */
export async function projectNumber(
  crmBase: string,
  projectId: string,
  accessToken: string,
  options: RestCallOptions,
): Promise<string> {
  const what = "calling Cloud Resource Manager";
  const res = await fetchWithDeadline(`${crmBase}/v3/projects/${encodeURIComponent(projectId)}`, {
    headers: { authorization: `Bearer ${accessToken}` },
    what,
    ...options,
  });
  const data = parseJson(res.text);
  if (!res.ok) throw googleStatusError(res, data, what);
  const body = jsonObject("Resource Manager projects.get", data);
  const number = typeof body.name === "string" ? body.name.split("/")[1] : undefined;
  if (!number || !/^\d+$/.test(number)) {
    throw new Error("Cloud Resource Manager returned no project number");
  }
  return number;
}
