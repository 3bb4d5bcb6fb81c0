/**
 * A container-side client with no credentials: google-auth-library finds the metadata server from
 * GCE_METADATA_HOST alone, as any Google client in a devcontainer would.
 */
import { GoogleAuth } from "google-auth-library";

const auth = new GoogleAuth({ scopes: ["https://www.googleapis.com/auth/cloud-platform"] });
const client = await auth.getClient();
const token = await client.getAccessToken();
const projectId = await auth.getProjectId();
const email = (await auth.getCredentials()).client_email;
console.log(JSON.stringify({
  client: client.constructor.name,
  projectId,
  email,
  tokenPrefix: token.token?.slice(0, 8),
}));
