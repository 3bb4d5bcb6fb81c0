/**
 * google-auth-library and gcp-metadata (npm, run by Deno) against the metadata proxy.
 * Env: GCE_METADATA_HOST=host:port only (no GCE_METADATA_IP), an empty HOME, AUDIENCE.
 * Prints one `key: value` line per check; exits 1 on failure.
 */
import { GoogleAuth } from "google-auth-library";
import * as gcpMetadata from "gcp-metadata";

function payloadOf(jwt: string): Record<string, unknown> {
  const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(part.padEnd(Math.ceil(part.length / 4) * 4, "=")));
}

try {
  console.log(`isAvailable: ${await gcpMetadata.isAvailable()}`);
  const auth = new GoogleAuth({ scopes: ["https://www.googleapis.com/auth/cloud-platform"] });
  const client = await auth.getClient();
  console.log(`client type: ${client.constructor.name}`);
  console.log(`project id: ${await auth.getProjectId()}`);
  console.log(`universe domain: ${await auth.getUniverseDomain()}`);
  const token = await auth.getAccessToken();
  console.log(`access token: ${token}`);
  const credentials = await auth.getCredentials();
  console.log(`client email: ${credentials.client_email}`);
  const audience = Deno.env.get("AUDIENCE") ?? "https://svc.example";
  const idClient = await auth.getIdTokenClient(audience);
  const idToken = await idClient.idTokenProvider.fetchIdToken(audience);
  const claims = payloadOf(idToken);
  console.log(`id token aud: ${claims.aud}`);
  console.log(`id token email: ${claims.email}`);
  console.log(`id token iss: ${claims.iss}`);
  const headers = await idClient.getRequestHeaders();
  const authorization = headers instanceof Headers
    ? headers.get("authorization")
    : (headers as Record<string, string>).Authorization;
  console.log(`id token header matches: ${authorization === `Bearer ${idToken}`}`);
} catch (err) {
  console.log(`ERROR: ${err instanceof Error ? err.message : err}`);
  Deno.exit(1);
}
