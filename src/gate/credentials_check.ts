/**
 * The gate's start-up check of Application Default Credentials: the file is found and parsed, its
 * type is known, and one refresh against Google's token endpoint (through the identity lookup, so
 * the banner can name the engineer) succeeds within the token service's deadline. A gate whose
 * credentials cannot work fails at start on the host's terminal, with the fix, instead of
 * answering "listening" and failing later inside the container.
 * @module
 */
import { AdcError, adcPath, readAdc } from "../google/adc.ts";
import { messageOf } from "../errors.ts";
import { cleanMessage, scrubSecrets } from "../secrets.ts";
import type { GateTokenService } from "./types.ts";

/** What the check found; `problem` and `fix` are set when the credentials cannot be used. */
export interface CredentialsReport {
  /** The ADC file on the host (shown on the host's terminal only). */
  path: string;
  /** The credential type, when the file parsed. */
  type?: string;
  /** The engineer's identity, when the refresh and lookup worked. */
  email?: string;
  problem?: string;
  fix?: string;
}

const LOGIN_FIX = "run `gcloud auth application-default login` on this host, or point " +
  "GOOGLE_APPLICATION_CREDENTIALS at a valid credential file";

/** Checks ADC as the gate will use it; never throws, never puts a credential in its report. */
export async function checkCredentials(
  tokens: Pick<GateTokenService, "identityEmail">,
  env: Record<string, string | undefined>,
): Promise<CredentialsReport> {
  const path = adcPath(env);
  let type: string;
  try {
    type = (await readAdc(path)).type;
  } catch (err) {
    const problem = err instanceof AdcError
      ? err.message
      : `cannot read ${path}: ${messageOf(err)}`;
    return { path, problem: safe(problem), fix: LOGIN_FIX };
  }
  try {
    const email = await tokens.identityEmail();
    return { path, type, email };
  } catch (err) {
    return {
      path,
      type,
      problem: safe(`refreshing the ${type} credential with Google failed: ${messageOf(err)}`),
      fix: `${LOGIN_FIX}; check that the Google endpoints are reachable from this host`,
    };
  }
}

function safe(text: string): string {
  return cleanMessage(scrubSecrets(text));
}

/** The start-up failure message for a report with a problem. */
export function credentialsFailure(report: CredentialsReport): string {
  return `cannot start: Application Default Credentials (${report.path}) are not usable: ` +
    `${report.problem}\n  Fix: ${report.fix}.\n  To start anyway (every token request will ` +
    "fail until this is fixed), pass --allow-missing-credentials.";
}
