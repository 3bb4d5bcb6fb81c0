/**
 * TLS material for tests (init-tls, the gate's TCP listener, remote clients): a real tls_dir made
 * by initTls, and generators of every bad client certificate form the gate must refuse (expired,
 * not yet valid, wrong CA, wrong EKU, unnamed, revoked), each as a ready client bundle.
 */
import { formatBundle } from "../../src/tls/bundle.ts";
import { initTls, issueNamedClient, revokeClient } from "../../src/tls/init.ts";
import { issueCa, issueClient, type Issued, issueLeaf, type Issuer } from "../../src/tls/issue.ts";
import { parsePem } from "../../src/tls/pem.ts";
import { parseCertificate, parsePrivateKey } from "../../src/tls/verify.ts";
import {
  CLIENT_NAME_URI_PREFIX,
  FILES,
  OID_CLIENT_AUTH,
  OID_SERVER_AUTH,
} from "../../src/tls/profile.ts";

const DAY_MS = 86_400_000;

/** A tls_dir made by init-tls inside a fresh temp dir; `cleanup()` removes it. */
export interface TlsDirFixture {
  root: string;
  dir: string;
  issuer: Issuer;
  caPem: string;
  cleanup(): Promise<void>;
}

/** Creates `<tmp>/tls` with init-tls (extra server SANs optional). */
export async function makeTlsDir(
  options: { now?: Date; sans?: string[] } = {},
): Promise<TlsDirFixture> {
  const root = await Deno.makeTempDir({ prefix: "authcalator-tls-" });
  const dir = `${root}/tls`;
  await initTls(dir, { now: options.now ?? new Date(), sans: options.sans });
  return {
    root,
    dir,
    issuer: await readIssuer(dir),
    caPem: await Deno.readTextFile(`${dir}/${FILES.ca}`),
    cleanup: () => Deno.remove(root, { recursive: true }),
  };
}

/** The CA of a tls_dir, to sign test certificates with. */
export async function readIssuer(dir: string): Promise<Issuer> {
  return {
    cert: parseCertificate(await Deno.readTextFile(`${dir}/${FILES.ca}`), FILES.ca),
    privateKey: await parsePrivateKey(await Deno.readTextFile(`${dir}/${FILES.caKey}`), "ca key"),
  };
}

/** A client certificate and the bundle (CA + cert + key) that presents it. */
export interface ClientFixture {
  /** The certificate and keys (absent for `revoked`, which init-tls issued). */
  issued?: Issued;
  caPem: string;
  certPem: string;
  keyPem: string;
  bundle: string;
}

function asClient(issued: Issued, caPem: string): ClientFixture {
  return {
    issued,
    caPem,
    certPem: issued.certPem,
    keyPem: issued.keyPem,
    bundle: formatBundle(caPem, issued.certPem, issued.keyPem),
  };
}

const named = (name: string) => ({
  subject: `CN=${name}`,
  sans: [`URI:${CLIENT_NAME_URI_PREFIX}${name}`],
});

/** The bad client forms a gate must refuse. */
export type BadClientKind =
  | "expired"
  | "not-yet-valid"
  | "wrong-ca"
  | "wrong-eku"
  | "unnamed"
  | "revoked";

/**
 * A client bundle of the given bad kind for the tls_dir `fixture`. The bundle's first block is the
 * gate's CA, except for `wrong-ca` (whose chain is self-consistent under a stranger CA). `revoked`
 * is a properly named client issued by init-tls and then revoked with init-tls --revoke.
 */
export async function badClient(
  fixture: TlsDirFixture,
  kind: BadClientKind,
  now = new Date(),
): Promise<ClientFixture> {
  const { issuer, caPem } = fixture;
  switch (kind) {
    case "expired":
      return asClient(
        await issueLeaf(issuer, now, {
          ...named("expired-client"),
          usages: [OID_CLIENT_AUTH],
          notBefore: new Date(now.getTime() - 30 * DAY_MS),
          notAfter: new Date(now.getTime() - DAY_MS),
        }),
        caPem,
      );
    case "not-yet-valid":
      return asClient(
        await issueLeaf(issuer, now, {
          ...named("future-client"),
          usages: [OID_CLIENT_AUTH],
          notBefore: new Date(now.getTime() + DAY_MS),
          notAfter: new Date(now.getTime() + 30 * DAY_MS),
        }),
        caPem,
      );
    case "wrong-ca": {
      const stranger = await issueCa(now);
      const strangerIssuer = { cert: stranger.cert, privateKey: stranger.keys.privateKey };
      return asClient(await issueClient(strangerIssuer, now, "stranger"), stranger.certPem);
    }
    case "wrong-eku":
      return asClient(
        await issueLeaf(issuer, now, { ...named("server-eku"), usages: [OID_SERVER_AUTH] }),
        caPem,
      );
    case "unnamed":
      return asClient(
        await issueLeaf(issuer, now, { subject: "CN=somebody", usages: [OID_CLIENT_AUTH] }),
        caPem,
      );
    case "revoked": {
      const client = await issueNamedClient(fixture.dir, "revoked-client", now);
      await revokeClient(fixture.dir, "revoked-client", now);
      const bundle = await Deno.readTextFile(client.bundlePath);
      const [, cert, key] = parsePem(bundle, client.bundlePath);
      return { caPem, certPem: cert.pem, keyPem: key.pem, bundle };
    }
  }
}

/** Every bad kind, for table-driven tests. */
export const BAD_CLIENT_KINDS: readonly BadClientKind[] = [
  "expired",
  "not-yet-valid",
  "wrong-ca",
  "wrong-eku",
  "unnamed",
  "revoked",
];

/** A good named client issued by init-tls --client (its bundle path and text). */
export async function goodClient(fixture: TlsDirFixture, name: string, now = new Date()) {
  const client = await issueNamedClient(fixture.dir, name, now);
  return { ...client, bundle: await Deno.readTextFile(client.bundlePath) };
}

/** Runs openssl with `args`; returns its exit code and output (for cross-checks). */
export async function openssl(args: string[], cwd?: string) {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}
