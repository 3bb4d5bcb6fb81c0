/**
 * Real Google clients against the real chain: emulator → gate → metadata-proxy, each a process.
 * Needs Debian packages python3-google-auth python3-requests golang-go
 * golang-google-cloud-compute-metadata-dev golang-golang-x-oauth2-google-dev; gcloud is used
 * when the machine has it (and the output says so when it does not).
 */
import assert from "node:assert/strict";
import { ROOT } from "../helpers/cli.ts";
import {
  CLOUD_PLATFORM,
  metadataGet,
  PROJECT,
  runClient,
  SERVICE_ACCOUNT,
  type Stack,
  startStack,
} from "../metadata/stack.ts";

const CLIENTS = `${ROOT}tests/e2e/clients`;

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function requireTool(path: string, debianPackages: string): void {
  if (!exists(path)) {
    throw new Error(`${path} is missing: install the Debian packages ${debianPackages}`);
  }
}

/** The gate's own token for the default scopes, read straight from its socket. */
async function gateToken(stack: Stack): Promise<string> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: stack.socketPath } });
  try {
    const res = await fetch(
      `http://localhost/token?scopes=${encodeURIComponent(CLOUD_PLATFORM)}`,
      { client, signal: AbortSignal.timeout(15_000) },
    );
    return (await res.json()).access_token;
  } finally {
    client.close();
  }
}

function b64urlDecode(part: string): Uint8Array<ArrayBuffer> {
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(
    atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, "=")),
    (c) => c.charCodeAt(0),
  );
}

/** Verifies an RS256 JWT against the emulator's JWKS and returns its claims. */
async function verifiedClaims(stack: Stack, jwt: string): Promise<Record<string, unknown>> {
  const [h, p, s] = jwt.split(".");
  const header = JSON.parse(new TextDecoder().decode(b64urlDecode(h)));
  const jwks = await (await fetch(`${stack.emulatorUrl}/oauth2/v3/certs`, {
    signal: AbortSignal.timeout(15_000),
  })).json();
  const jwk = jwks.keys.find((k: { kid: string }) => k.kid === header.kid);
  assert.ok(jwk, `kid ${header.kid} is in the emulator's JWKS`);
  const key = await crypto.subtle.importKey(
    "jwk",
    jwk,
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["verify"],
  );
  const ok = await crypto.subtle.verify(
    "RSASSA-PKCS1-v1_5",
    key,
    b64urlDecode(s),
    new TextEncoder().encode(`${h}.${p}`),
  );
  assert.ok(ok, "the identity token's signature verifies against the emulator's JWKS");
  return JSON.parse(new TextDecoder().decode(b64urlDecode(p)));
}

Deno.test("e2e: real clients get tokens and identity through emulator → gate → metadata-proxy", async (t) => {
  await using stack = await startStack();
  const home = `${stack.dir}/home`;
  await Deno.mkdir(home);
  const expected = await gateToken(stack);
  assert.match(expected, /^ya29\./);

  await t.step("the proxy hands out the gate's token and a verifiable identity token", async () => {
    const res = await metadataGet(
      stack,
      "/computeMetadata/v1/instance/service-accounts/default/token",
    );
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("metadata-flavor"), "Google");
    const body = await res.json();
    assert.equal(body.access_token, expected);
    assert.ok(body.expires_in > 3500 && body.expires_in <= 3600, String(body.expires_in));
    for (const format of ["standard", "full"]) {
      const id = await metadataGet(
        stack,
        `/computeMetadata/v1/instance/service-accounts/${SERVICE_ACCOUNT}/identity?audience=https://svc.example&format=${format}&licenses=FALSE`,
      );
      assert.equal(id.status, 200);
      const claims = await verifiedClaims(stack, await id.text());
      assert.equal(claims.aud, "https://svc.example");
      assert.equal(claims.iss, "https://accounts.google.com");
      assert.equal((claims.exp as number) - (claims.iat as number), 3600);
      assert.equal(claims.email, format === "full" ? SERVICE_ACCOUNT : undefined);
    }
    const number = await metadataGet(stack, "/computeMetadata/v1/project/numeric-project-id");
    assert.match(await number.text(), /^[0-9]+$/);
    const me = await metadataGet(stack, "/identity");
    assert.match((await me.json()).email, /@/);
  });

  await t.step(
    "Python google.auth.default() then refresh() (Debian python3-google-auth)",
    async () => {
      requireTool(
        "/usr/lib/python3/dist-packages/google/auth",
        "python3-google-auth python3-requests",
      );
      const run = await runClient("/usr/bin/python3", [`${CLIENTS}/python_client.py`], {
        PATH: "/usr/bin:/bin",
        HOME: home,
        GCE_METADATA_HOST: stack.metadataHost,
        GCE_METADATA_IP: stack.metadataHost,
        GCE_METADATA_ROOT: stack.metadataHost,
      });
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
      assert.equal(run.values["ping"], "True");
      assert.equal(run.values["default type"], "Credentials");
      assert.equal(run.values["default project"], PROJECT);
      assert.equal(run.values["token"], expected);
      assert.equal(run.values["email"], SERVICE_ACCOUNT);
      assert.equal(run.values["expiry set"], "True");
      assert.equal(run.values["same token"], "True");
      assert.equal(run.values["identity segments"], "3");
    },
  );

  await t.step(
    "Go metadata.ProjectID, Email and an oauth2 ComputeTokenSource token (GOPATH mode)",
    async () => {
      requireTool(
        "/usr/share/gocode/src/golang.org/x/oauth2/google",
        "golang-go golang-google-cloud-compute-metadata-dev golang-golang-x-oauth2-google-dev",
      );
      requireTool("/usr/bin/go", "golang-go");
      const bin = `${stack.dir}/gomd`;
      const build = await runClient("/usr/bin/go", ["build", "-o", bin, "."], {
        PATH: "/usr/bin:/bin",
        HOME: home,
        GO111MODULE: "off",
        GOPATH: "/usr/share/gocode",
        GOPROXY: "off",
        GOFLAGS: "",
        GOCACHE: `${stack.dir}/gocache`,
      }, { cwd: `${CLIENTS}/go_metadata` });
      assert.equal(build.code, 0, build.stderr);
      const run = await runClient(bin, [], {
        PATH: "/usr/bin:/bin",
        HOME: home,
        GCE_METADATA_HOST: stack.metadataHost,
      });
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
      assert.equal(run.values["on gce"], "true");
      assert.equal(run.values["project id"], PROJECT);
      assert.match(run.values["numeric project id"], /^[0-9]+$/);
      assert.equal(run.values["email"], SERVICE_ACCOUNT);
      assert.equal(run.values["zone"], "us-central1-a");
      assert.match(run.values["instance id"], /^[0-9]{19}$/);
      assert.equal(run.values["scopes"], CLOUD_PLATFORM);
      assert.equal(run.values["universe_domain not defined"], "true");
      assert.equal(run.values["compute token"], expected);
      assert.equal(run.values["compute token type"], "Bearer");
      assert.equal(run.values["compute token expiry set"], "true");
      assert.equal(run.values["default credentials project"], PROJECT);
      assert.equal(run.values["default credentials token"], expected);
    },
  );

  await t.step(
    "Node google-auth-library and gcp-metadata with only GCE_METADATA_HOST",
    async () => {
      const env: Record<string, string> = {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        HOME: home,
        RUST_BACKTRACE: "0",
        NO_COLOR: "1",
        DENO_NO_UPDATE_CHECK: "1",
        DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`,
        GCE_METADATA_HOST: stack.metadataHost,
        AUDIENCE: "https://svc.example/node",
      };
      const run = await runClient(
        Deno.execPath(),
        [
          "run",
          "--quiet",
          "--allow-env",
          "--allow-net",
          "--allow-read",
          "--allow-sys",
          `${CLIENTS}/node_client.ts`,
        ],
        env,
        { cwd: ROOT },
      );
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
      assert.equal(run.values["isAvailable"], "true");
      assert.equal(run.values["client type"], "Compute");
      assert.equal(run.values["project id"], PROJECT);
      assert.equal(run.values["universe domain"], "googleapis.com");
      assert.equal(run.values["access token"], expected);
      assert.equal(run.values["client email"], SERVICE_ACCOUNT);
      assert.equal(run.values["id token aud"], "https://svc.example/node");
      assert.equal(run.values["id token email"], SERVICE_ACCOUNT);
      assert.equal(run.values["id token iss"], "https://accounts.google.com");
      assert.equal(run.values["id token header matches"], "true");
    },
  );

  const gcloud = "/usr/bin/gcloud";
  const hasGcloud = exists(gcloud);
  if (!hasGcloud) {
    console.log(`gcloud: not installed on this machine (${gcloud}); its step is skipped`);
  }
  await t.step({
    name: "gcloud config list and auth print-access-token (when the machine has gcloud)",
    ignore: !hasGcloud,
    fn: async () => {
      const env = {
        PATH: "/usr/bin:/bin",
        HOME: home,
        CLOUDSDK_CONFIG: `${stack.dir}/gcloud`,
        GCE_METADATA_ROOT: stack.metadataHost,
        CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: "true",
        CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: "true",
      };
      const list = await runClient(gcloud, ["config", "list"], env);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, new RegExp(`account = ${SERVICE_ACCOUNT}`));
      assert.match(list.stdout, new RegExp(`project = ${PROJECT}`));
      const token = await runClient(gcloud, ["auth", "print-access-token"], env);
      assert.equal(token.code, 0, token.stderr);
      assert.equal(token.stdout.trim(), expected);
    },
  });

  assert.ok(!stack.proxy.output().includes(expected), "no token in the proxy's output");
});
