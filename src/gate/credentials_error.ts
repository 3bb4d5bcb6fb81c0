/**
 * How a failed Google call becomes the gate's answer: one place that maps every cause to a
 * status, a message that names the cause and the fix, and (for 429/503) a `Retry-After`. What
 * the container receives never holds the host's ADC path, a Google endpoint URL or a local
 * address: those go to the gate's own log through `HttpError.logDetail`.
 *
 * | cause                                   | status | code                  |
 * | --------------------------------------- | ------ | --------------------- |
 * | ADC needs a new login (invalid_grant…)  | 500    | `credentials_expired` |
 * | deadline passed                         | 504    | `google_timeout`      |
 * | Google answered 429                     | 429    | `google_rate_limited` |
 * | Google answered 503                     | 503    | `google_unavailable`  |
 * | Google answered another 5xx             | 502    | `google_error`        |
 * | Google answered another 4xx             | 502    | `google_refused`      |
 * | Google's 2xx answer malformed           | 502    | `google_bad_answer`   |
 * | connection failed (reset, refused, TLS) | 502    | `google_unreachable`  |
 * | ADC file unusable (not a reauth case)   | 500    | `adc_invalid`         |
 * @module
 */
import { HttpError, messageOf } from "../errors.ts";
import { AdcError } from "../google/adc.ts";
import { GoogleAnswerError } from "../google/google_answers.ts";
import { googleWordsOf, retryAfterOf, statusOf } from "../google/google_status.ts";
import { TransportAbortedError } from "../google/transport.ts";
import { DeadlineError } from "../http/deadline_fetch.ts";
import { cleanMessage, scrubSecrets } from "../secrets.ts";

/** The wire code for ADC that needs a new `gcloud auth application-default login`. */
export const CREDENTIALS_EXPIRED = "credentials_expired";

/** Seconds suggested in `Retry-After` when Google rate-limits without saying how long. */
export const DEFAULT_RETRY_AFTER_SECONDS = 10;

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
  if (statusOf(err) !== undefined && statusOf(err)! >= 500) return false;
  const text = messageOf(err) + " " + responseText(err);
  return REAUTH_PATTERNS.some((p) => p.test(text));
}

function responseText(err: unknown): string {
  const data = (err as { response?: { data?: unknown } })?.response?.data;
  if (data === undefined) return "";
  return typeof data === "string" ? data : JSON.stringify(data);
}

/** Hosts whose URLs may appear in what the container sees: public documentation. */
const PUBLIC_DOC_HOSTS = /^https:\/\/(support|developers|cloud)\.google\.com\//;

/**
 * Returns a function that removes from text what the container must not see: each of `hidden`
 * (the ADC path, endpoint base URLs), any other URL but Google's public documentation, and
 * IP:port addresses.
 */
export function containerRedactor(hidden: string[]): (text: string) => string {
  const secrets = hidden.filter((h) => h.length > 0).sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const h of secrets) {
      out = out.replaceAll(h, /^https?:/.test(h) ? "<Google endpoint>" : "<the ADC file>");
    }
    return out
      .replace(
        /\bhttps?:\/\/[^\s"'<>)]+/g,
        (url) => PUBLIC_DOC_HOSTS.test(url) ? url : "<Google endpoint>",
      )
      .replace(
        /\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b|\[[0-9a-f:]+\](?::\d{1,5})?/gi,
        "<address>",
      );
  };
}

const keep = (text: string) => text;

/** The user-facing `credentials_expired` error, naming the host where the gate runs. */
export function credentialsExpired(
  err: unknown,
  gateHost: string,
  redact: (text: string) => string = keep,
): HttpError {
  const firstLine = redact(scrubSecrets(messageOf(err))).split("\n")[0];
  const message = `Application Default Credentials on host "${gateHost}" (where the authcalator ` +
    `gate runs) need re-authentication: ${firstLine}. Run \`gcloud auth application-default ` +
    "login` on that host (typically your local machine, NOT the devcontainer or a remote SSH " +
    "host); the gate picks up the new credentials automatically, no restart needed.";
  return new HttpError(500, cleanMessage(message), CREDENTIALS_EXPIRED, {
    logDetail: detailOf(err, "Google refused the ADC"),
  });
}

/** Whether `err` or any error in its `cause` chain is an instance of `type`. */
export function causedBy<T>(
  err: unknown,
  type: abstract new (...args: never[]) => T,
): T | undefined {
  for (let e = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof type) return e;
  }
  return undefined;
}

/** Whether the failure happened below HTTP: no answer at all (reset, refused, TLS, DNS). */
export function isTransportFailure(err: unknown): boolean {
  if (statusOf(err) !== undefined) return false;
  if (causedBy(err, TypeError) || causedBy(err, TransportAbortedError)) return true;
  return (err as { name?: string })?.name === "GaxiosError";
}

/**
 * Whether the clients that met `err` must be thrown away and rebuilt: their connection timed
 * out, failed below HTTP, or carried a malformed answer. Google's own error answers keep them.
 */
export function shouldRebuild(err: unknown): boolean {
  return Boolean(causedBy(err, DeadlineError)) || isTransportFailure(err) ||
    Boolean(causedBy(err, GoogleAnswerError));
}

/** The full story for the gate's log (secrets scrubbed; paths and URLs kept). */
function detailOf(err: unknown, what: string): string {
  const causes: string[] = [];
  for (let e = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    causes.push(messageOf(e));
  }
  return scrubSecrets(`${what}: ${[...new Set(causes)].join(" <- ")}`);
}

/** A `Retry-After` value safe to forward: delta-seconds or an HTTP date, else the default. */
function retryAfterValue(raw: string | undefined): string {
  if (raw && /^\d{1,6}$/.test(raw.trim())) return raw.trim();
  if (raw && /^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(raw.trim())) {
    return raw.trim();
  }
  return String(DEFAULT_RETRY_AFTER_SECONDS);
}

/**
 * Turns any failure of a Google call into the HttpError the gate answers with (table in the
 * module doc). `redact` removes what the container must not see (see {@link containerRedactor}).
 */
export function googleFailure(
  err: unknown,
  gateHost: string,
  what: string,
  redact: (text: string) => string = keep,
): HttpError {
  if (err instanceof HttpError) return err;
  if (needsReauth(err)) return credentialsExpired(err, gateHost, redact);
  const logDetail = detailOf(err, `${what} failed`);
  const fail = (status: number, message: string, code: string, headers?: Record<string, string>) =>
    new HttpError(status, cleanMessage(redact(scrubSecrets(message))), code, {
      headers,
      logDetail,
    });
  const deadline = causedBy(err, DeadlineError);
  if (deadline) {
    return fail(
      504,
      `Google did not answer in time while ${what} (${deadline.message.replace(/ while .*/, "")})` +
        ". The gate dropped that connection and reconnects on the next request; if this " +
        "persists, check the network between the gate host and Google (proxy, VPN, firewall).",
      "google_timeout",
    );
  }
  const status = statusOf(err);
  const words = googleWordsOf(err) || messageOf(err);
  if (status === 429) {
    return fail(
      429,
      `Google is rate-limiting the gate while ${what} (429: ${words}). Retry after the ` +
        "Retry-After delay; if it persists, check the quota of the ADC's project in the " +
        "Cloud console (IAM Service Account Credentials API).",
      "google_rate_limited",
      { "retry-after": retryAfterValue(retryAfterOf(err)) },
    );
  }
  if (status !== undefined && status >= 500) {
    const unavailable = status === 503;
    const retryAfter = retryAfterOf(err);
    return fail(
      unavailable ? 503 : 502,
      `Google answered ${status} while ${what} (${words}). This is on Google's side: ` +
        "retry shortly; if it persists, see https://status.cloud.google.com/.",
      unavailable ? "google_unavailable" : "google_error",
      unavailable ? { "retry-after": retryAfterValue(retryAfter) } : undefined,
    );
  }
  if (status !== undefined) {
    const hint = status === 403
      ? " Check that the ADC identity has roles/iam.serviceAccountTokenCreator on the " +
        "service account (and the API is enabled in its project)."
      : status === 404
      ? " Check the service account and project names in the gate's configuration."
      : " Check the gate's configuration and the request's parameters.";
    return fail(
      502,
      `Google refused ${what} (${status}: ${words}).${hint}`,
      "google_refused",
    );
  }
  const malformed = causedBy(err, GoogleAnswerError);
  if (malformed) {
    return fail(
      502,
      `${malformed.description} while ${what}; nothing was cached, retry. If it persists, ` +
        "something between the gate host and Google (a proxy?) is altering answers.",
      "google_bad_answer",
    );
  }
  const adc = causedBy(err, AdcError);
  if (adc) {
    return fail(
      500,
      `The gate host's Application Default Credentials are unusable: ${adc.message}. Run ` +
        "`gcloud auth application-default login` on the gate host, or fix the file named by " +
        "GOOGLE_APPLICATION_CREDENTIALS there.",
      "adc_invalid",
    );
  }
  if (isTransportFailure(err)) {
    return fail(
      502,
      `Could not reach Google while ${what} (the connection failed before an answer). The ` +
        "gate reconnects on the next request; if this persists, check the network between " +
        "the gate host and Google (proxy, VPN, firewall, TLS interception).",
      "google_unreachable",
    );
  }
  return fail(500, `${what} failed: ${messageOf(err)}`, "google_failure");
}
