/**
 * `authcalator kube-token`: kubectl's exec credential plugin. Prints one ExecCredential with a
 * token from the metadata proxy. Imports nothing but Deno built-ins: kubectl runs it on every call.
 * @module
 */
import type { Invocation } from "../cli/commands.ts";
import { execApiVersion, execCredential } from "../kube/exec_credential.ts";
import { DEFAULT_METADATA_HOST, fetchMetadataToken } from "../kube/metadata_token.ts";

/** Prints the ExecCredential; any failure is thrown and reported by main (exit 1, empty stdout). */
export async function run(invocation: Invocation): Promise<number> {
  const host = invocation.env.GCE_METADATA_HOST || DEFAULT_METADATA_HOST;
  const token = await fetchMetadataToken(host);
  const apiVersion = execApiVersion(invocation.env.KUBERNETES_EXEC_INFO);
  console.log(JSON.stringify(execCredential(apiVersion, token, new Date())));
  return 0;
}
