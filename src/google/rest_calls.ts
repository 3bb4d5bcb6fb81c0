/** The gate's own REST calls to Google (the rest goes through google-auth-library). */
import { fetchWithDeadline } from "../http/deadline_fetch.ts";

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text);
    return typeof value === "object" && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The email behind an access token, from tokeninfo (token in the form body, never the URL). */
export async function tokenInfoEmail(
  oauth2Base: string,
  accessToken: string,
  timeoutMs: number,
): Promise<string> {
  const res = await fetchWithDeadline(`${oauth2Base}/tokeninfo`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ access_token: accessToken }),
    timeoutMs,
    what: "calling tokeninfo",
  });
  const body = parseJson(res.text);
  if (!res.ok) {
    throw new Error(
      `tokeninfo answered ${res.status}: ${String(body?.error ?? res.text.slice(0, 200))}`,
    );
  }
  if (typeof body?.email !== "string") throw new Error("tokeninfo returned no email");
  return body.email;
}

/** A project's number from Cloud Resource Manager v3 `projects.get`. */
export async function projectNumber(
  crmBase: string,
  projectId: string,
  accessToken: string,
  timeoutMs: number,
): Promise<string> {
  const res = await fetchWithDeadline(`${crmBase}/v3/projects/${encodeURIComponent(projectId)}`, {
    headers: { authorization: `Bearer ${accessToken}` },
    timeoutMs,
    what: "calling Cloud Resource Manager",
  });
  const body = parseJson(res.text);
  if (!res.ok) {
    const err = body?.error as { message?: string; status?: string } | undefined;
    throw new Error(
      `Cloud Resource Manager answered ${res.status}: ${err?.status ?? ""} ${err?.message ?? ""}`
        .trim(),
    );
  }
  const number = typeof body?.name === "string" ? body.name.split("/")[1] : undefined;
  if (!number || !/^\d+$/.test(number)) {
    throw new Error("Cloud Resource Manager returned no project number");
  }
  return number;
}
