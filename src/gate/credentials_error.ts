import { HttpError, messageOf } from "../errors.ts";
import { cleanMessage, scrubSecrets } from "../secrets.ts";

/** The wire code for ADC that needs a new `gcloud auth application-default login`. */
export const CREDENTIALS_EXPIRED = "credentials_expired";

const REAUTH_PATTERNS = [
  /invalid_grant/i,
  /invalid_rapt/i,
  /reauth/i,
  /token has been expired or revoked/i,
  /refresh token.*(revoked|expired|invalid)/i,
  /invalid_token/i,
  /could not load the default credentials/i,
];

/** Whether an error from Google or the ADC loader means the engineer must log in again. */
export function needsReauth(err: unknown): boolean {
  const text = messageOf(err) + " " + responseText(err);
  return REAUTH_PATTERNS.some((p) => p.test(text));
}

function responseText(err: unknown): string {
  const data = (err as { response?: { data?: unknown } })?.response?.data;
  if (data === undefined) return "";
  return typeof data === "string" ? data : JSON.stringify(data);
}

/** The user-facing `credentials_expired` error, naming the host where the gate runs. */
export function credentialsExpired(err: unknown, gateHost: string): HttpError {
  const firstLine = scrubSecrets(messageOf(err)).split("\n")[0];
  const message = `Application Default Credentials on host "${gateHost}" (where the authcalator ` +
    `gate runs) need re-authentication: ${firstLine}. Run \`gcloud auth application-default ` +
    "login` on that host (typically your local machine, NOT the devcontainer or a remote SSH " +
    "host); the gate picks up the new credentials automatically, no restart needed.";
  return new HttpError(500, cleanMessage(message), CREDENTIALS_EXPIRED);
}

/** Turns any failure of a Google call into the HttpError the gate answers with. */
export function googleFailure(err: unknown, gateHost: string, what: string): HttpError {
  if (err instanceof HttpError) return err;
  if (needsReauth(err)) return credentialsExpired(err, gateHost);
  return new HttpError(500, cleanMessage(`${what} failed: ${scrubSecrets(messageOf(err))}`));
}
