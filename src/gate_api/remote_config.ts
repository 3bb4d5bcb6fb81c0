/**
 * Where a client's remote-gate settings come from and whether they are usable, decided once at
 * start-up: the `gate_url`, the client bundle (with CLI > env > file precedence, which upstream
 * broke by letting its env variable beat `--tls-bundle`), the CA a bearer-only client trusts, and
 * the bearer token file. Every refusal names the setting to change.
 * @module
 */
import { X509Certificate } from "node:crypto";
import { type ClientBundle, parseBundle } from "../tls/bundle.ts";
import { InvalidTlsMaterialError, UnsafeTlsFileError } from "../tls/errors.ts";
import { readPrivateFile } from "../tls/files.ts";
import { readBearerToken, TokenFileError } from "./token_file.ts";

/** What to do about a bad bundle, appended to its messages. */
export const BUNDLE_FIX =
  "re-create it on the gate's host with 'authcalator init-tls' (or 'init-tls --client NAME') and copy client-bundle.pem here";

/** gcp-authcalator's variable holding the base64 of a client bundle. */
export const BUNDLE_B64_VAR = "GCP_AUTHCALATOR_TLS_BUNDLE_B64";

/** The bundle file `init-tls` writes in `tls_dir`. */
export const BUNDLE_FILE_NAME = "client-bundle.pem";

/** The CA certificate `init-tls` writes in `tls_dir` (trusted by a bearer-only client). */
export const CA_FILE_NAME = "ca.pem";

/** The settings a remote client starts from (a subset of the merged config). */
export interface RemoteGateInput {
  gate_url: string;
  tls_bundle?: string;
  tls_dir?: string;
  gate_token_file?: string;
  /** `--tls-bundle` as given on the command line, if it was (it beats the env bundle). */
  cliTlsBundle?: string;
  /** The process environment (for {@link BUNDLE_B64_VAR}). */
  env: Record<string, string | undefined>;
}

/** A usable remote gate: where it is and how this client proves itself. */
export interface RemoteGate {
  /** `gate_url` without trailing slashes; endpoint paths are appended to it. */
  baseUrl: string;
  /** The mTLS client identity, if any. */
  bundle?: ClientBundle;
  /** Where the bundle came from, for messages (`the tls_bundle file /x`). */
  bundleSource?: string;
  /** Certificates the gate's server certificate must chain to; empty = the system's roots. */
  caPems: string[];
  /** The bearer token file, read on every request, if any. */
  tokenFile?: string;
  /** Things the user should know (an env-carried bundle); printed at start-up. */
  warnings: string[];
}

/** A remote-gate setting that cannot be used; the message names the setting and the fix. */
export class RemoteGateConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RemoteGateConfigError";
  }
}

/** The warning printed when the bundle comes from the environment. */
export const ENV_BUNDLE_WARNING =
  `the client bundle comes from ${BUNDLE_B64_VAR}: an environment ` +
  "variable is readable by every process in this container (and stays in /proc/<pid>/environ), " +
  "so any of them can use the gate as this workspace; prefer a 0600 tls_bundle file owned by " +
  "the proxy's user";

/** Does `path` exist (following symlinks)? */
async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** Which bundle to use, by precedence: `--tls-bundle` > env > `tls_bundle` > `tls_dir`. */
async function bundleSource(
  input: RemoteGateInput,
): Promise<{ text: () => Promise<string>; label: string; fromEnv: boolean } | undefined> {
  const file = (path: string, label: string) => ({
    text: async () => {
      // A Kubernetes Secret volume is a root-owned symlink: its target is what is checked.
      const text = await readPrivateFile(path, { allowSymlink: true, allowRootOwner: true });
      if (text === undefined) {
        throw new RemoteGateConfigError(`${label} does not exist: ${BUNDLE_FIX}`);
      }
      return text;
    },
    label,
    fromEnv: false,
  });
  if (input.cliTlsBundle !== undefined) {
    return file(input.cliTlsBundle, `the --tls-bundle file ${input.cliTlsBundle}`);
  }
  const b64 = input.env[BUNDLE_B64_VAR];
  if (b64 !== undefined && b64 !== "") {
    return { text: () => Promise.resolve(b64), label: BUNDLE_B64_VAR, fromEnv: true };
  }
  if (input.tls_bundle !== undefined) {
    return file(input.tls_bundle, `the tls_bundle file ${input.tls_bundle}`);
  }
  if (input.tls_dir !== undefined) {
    const path = `${input.tls_dir.replace(/\/+$/, "")}/${BUNDLE_FILE_NAME}`;
    if (await exists(path)) return file(path, `the tls_dir bundle ${path}`);
  }
  return undefined;
}

/** The CA in `<tls_dir>/ca.pem` for a bearer-only client, or none (the system's roots). */
async function bearerTrust(tlsDir: string | undefined): Promise<string[]> {
  if (tlsDir === undefined) return [];
  const path = `${tlsDir.replace(/\/+$/, "")}/${CA_FILE_NAME}`;
  if (!(await exists(path))) return [];
  const pem = await Deno.readTextFile(path);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    throw new RemoteGateConfigError(
      `${path} does not hold a certificate: copy the gate's ca.pem there (from its tls_dir)`,
    );
  }
  if (!cert.ca) {
    throw new RemoteGateConfigError(
      `${path} is not a CA certificate: copy the gate's ca.pem there (from its tls_dir)`,
    );
  }
  return [pem];
}

/**
 * Resolves and checks a client's remote-gate settings: the bundle parsed and validated, the
 * token file readable and non-empty now (it is read again on every request). Throws
 * {@link RemoteGateConfigError} naming the setting to fix.
 */
export async function loadRemoteGate(
  input: RemoteGateInput,
  now = new Date(),
): Promise<RemoteGate> {
  const baseUrl = input.gate_url.replace(/\/+$/, "");
  const warnings: string[] = [];
  const source = await bundleSource(input);
  let bundle: ClientBundle | undefined;
  if (source) {
    try {
      bundle = await parseBundle(await source.text(), now, source.label);
    } catch (err) {
      if (err instanceof UnsafeTlsFileError) {
        throw new RemoteGateConfigError(`${source.label}: ${err.message}`);
      }
      if (err instanceof InvalidTlsMaterialError) {
        throw new RemoteGateConfigError(`${err.message}: ${BUNDLE_FIX}`);
      }
      throw err;
    }
    if (source.fromEnv) warnings.push(ENV_BUNDLE_WARNING);
  }
  const tokenFile = input.gate_token_file;
  if (tokenFile !== undefined) {
    try {
      await readBearerToken(tokenFile, AbortSignal.timeout(5_000));
    } catch (err) {
      if (err instanceof TokenFileError) throw new RemoteGateConfigError(err.message);
      throw err;
    }
  }
  if (!bundle && tokenFile === undefined) {
    throw new RemoteGateConfigError(
      "gate_url is set but no TLS client bundle is available: pass --tls-bundle FILE or set " +
        `tls_bundle (a 0600 file), set tls_dir to a directory holding ${BUNDLE_FILE_NAME}, or set ` +
        `${BUNDLE_B64_VAR}; for a gate that takes bearer tokens, set gate_token_file instead`,
    );
  }
  const caPems = bundle ? [bundle.caPem] : await bearerTrust(input.tls_dir);
  return { baseUrl, bundle, bundleSource: source?.label, caPems, tokenFile, warnings };
}
