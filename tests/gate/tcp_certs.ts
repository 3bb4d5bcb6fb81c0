/**
 * Test PKI for the gate's TCP listener and the Kubernetes API stand-in, made with the openssl CLI
 * (in .ci/run's packages): a CA, and leaves with any name, extended key usage, SANs and validity
 * window, including expired and not-yet-valid ones (`openssl ca -startdate/-enddate`), so the
 * listener is tested against the certificates a real client could present.
 * @module
 */

/** A certificate and its private key (PEM). */
export interface Leaf {
  cert: string;
  key: string;
  /** Serial number, uppercase hex as Node reports it. */
  serial: string;
}

/** A test CA in its own directory. */
export interface TestCa {
  dir: string;
  cert: string;
  key: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Makes a CA (P-256) in a new directory under `parent`. */
export async function makeCa(parent: string, name = "authcalator test CA"): Promise<TestCa> {
  const dir = await Deno.makeTempDir({ dir: parent, prefix: "ca-" });
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    "ca-key.pem",
    "-out",
    "ca.pem",
    "-subj",
    `/CN=${name}`,
    "-days",
    "30",
    "-addext",
    "basicConstraints=critical,CA:true,pathlen:0",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ], dir); // deno-fmt-ignore
  await Deno.writeTextFile(`${dir}/index.txt`, "");
  await Deno.writeTextFile(`${dir}/serial`, "1000\n");
  await Deno.writeTextFile(
    `${dir}/ca.cnf`,
    [
      "[ca]",
      "default_ca = d",
      "[d]",
      `database = ${dir}/index.txt`,
      `new_certs_dir = ${dir}`,
      `serial = ${dir}/serial`,
      "default_md = sha256",
      "policy = any",
      "unique_subject = no",
      "[any]",
      "commonName = optional",
      "organizationName = optional",
    ].join("\n") + "\n",
  );
  return {
    dir,
    cert: await Deno.readTextFile(`${dir}/ca.pem`),
    key: await Deno.readTextFile(`${dir}/ca-key.pem`),
  };
}

/** What a leaf is issued with. */
export interface LeafOptions {
  /** The subject CN; absent: an unnamed certificate (subject O=unnamed). */
  cn?: string;
  eku: "serverAuth" | "clientAuth";
  /** subjectAltName entries, e.g. `DNS:localhost`, `IP:127.0.0.1`. */
  san?: string[];
  /** Validity window as `YYYYMMDDHHMMSSZ` (default: from an hour ago for a day). */
  start?: string;
  end?: string;
}

/** `Date` as openssl's `YYYYMMDDHHMMSSZ`. */
export function asn1Time(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, "").replace(/\.\d+Z$/, "Z").slice(0, 14) + "Z";
}

let leafCount = 0;

/** Issues a leaf signed by `ca`. */
export async function issue(ca: TestCa, options: LeafOptions): Promise<Leaf> {
  const n = ++leafCount;
  const start = options.start ?? asn1Time(new Date(Date.now() - 3600_000));
  const end = options.end ?? asn1Time(new Date(Date.now() + 86400_000));
  const ext = [
    "basicConstraints=critical,CA:false",
    `extendedKeyUsage=critical,${options.eku}`,
    ...(options.san?.length ? [`subjectAltName=${options.san.join(",")}`] : []),
  ];
  await Deno.writeTextFile(`${ca.dir}/leaf${n}.ext`, ext.join("\n") + "\n");
  await openssl([
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    `leaf${n}-key.pem`,
    "-out",
    `leaf${n}.csr`,
    "-subj",
    options.cn ? `/CN=${options.cn}` : "/O=unnamed",
  ], ca.dir); // deno-fmt-ignore
  await openssl([
    "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca-key.pem",
    "-in", `leaf${n}.csr`, "-out", `leaf${n}.pem`, "-notext", "-startdate", start,
    "-enddate", end, "-extfile", `leaf${n}.ext`,
  ], ca.dir); // deno-fmt-ignore
  const cert = await Deno.readTextFile(`${ca.dir}/leaf${n}.pem`);
  const serialOut = await new Deno.Command("openssl", {
    args: ["x509", "-noout", "-serial", "-in", `leaf${n}.pem`],
    cwd: ca.dir,
    stdout: "piped",
  }).output();
  const serial = new TextDecoder().decode(serialOut.stdout).trim().replace(/^serial=/, "");
  return { cert, key: await Deno.readTextFile(`${ca.dir}/leaf${n}-key.pem`), serial };
}

/** A server certificate for loopback names, signed by `ca`. */
export function loopbackServer(ca: TestCa): Promise<Leaf> {
  return issue(ca, {
    cn: "authcalator test server",
    eku: "serverAuth",
    san: ["DNS:localhost", "IP:127.0.0.1"],
  });
}
