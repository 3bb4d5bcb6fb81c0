/**
 * `authcalator init-tls`: creates the gate's mTLS material in tls_dir (upstream's files and
 * profiles), keeps the CA on re-runs (`--rotate-ca` replaces it and says what that breaks), issues
 * named client bundles (`--client NAME`) and revokes clients (`--revoke NAME|SERIAL`).
 * @module
 */
import type { Invocation } from "../cli/commands.ts";
import { UsageError } from "../errors.ts";
import { defaultTlsDir, ensurePrivateDir, readPrivateFile } from "../tls/files.ts";
import { type InitReport, initTls, issueNamedClient, revokeClient } from "../tls/init.ts";
import { encodeBase64 } from "../tls/pem.ts";
import { FILES, parseSan } from "../tls/profile.ts";

/** Runs init-tls; exit 0 on success, 1 (with `init-tls: <why>` from main) on failure. */
export async function run(invocation: Invocation): Promise<number> {
  const flags = invocation.flags;
  const dir = invocation.config?.tls_dir ?? defaultTlsDir(invocation.env);
  const client = flags.client as string | undefined;
  const revoke = flags.revoke as string | undefined;
  const rotateCa = flags["rotate-ca"] === true;
  const bundleB64 = flags["bundle-b64"] === true;
  const sans = ((flags.san as string[] | undefined) ?? []).flatMap((v) => v.split(","))
    .filter((v) => v.trim() !== "");
  if (flags["show-path"] === true) {
    if (client || revoke || rotateCa || bundleB64 || sans.length) {
      throw new UsageError("--show-path takes no other init-tls flag");
    }
    console.log(dir);
    return 0;
  }
  if (revoke !== undefined) {
    if (client || rotateCa || bundleB64 || sans.length) {
      throw new UsageError("--revoke takes no other init-tls flag");
    }
    const done = await revokeClient(dir, revoke, new Date());
    const who = done.name ? `client ${done.name} (serial ${done.serial})` : `serial ${done.serial}`;
    console.log(
      done.added
        ? `Revoked ${who}: added to ${dir}/${FILES.crl}. A running gate refuses it from its next ` +
          `connection on.`
        : `${who} was already revoked.`,
    );
    return 0;
  }
  let parsedSans: string[];
  try {
    parsedSans = sans.map(parseSan);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const now = new Date();
  const report = await initTls(dir, { now, rotateCa, sans: parsedSans });
  if (!bundleB64) printReport(report);
  if (client !== undefined) {
    const issued = await issueNamedClient(dir, client, now);
    if (bundleB64) {
      console.log(await bundleBase64(issued.bundlePath));
      return 0;
    }
    console.log(
      `Issued client ${issued.name} (serial ${issued.serial}, expires ` +
        `${issued.notAfter.toISOString()}).\n  Bundle: ${issued.bundlePath}\n` +
        `  Copy it into that workspace as a 0600 file owned by the proxy's user and set ` +
        `tls_bundle to it; the gate audits this client as "${issued.name}".`,
    );
    return 0;
  }
  if (bundleB64) console.log(await bundleBase64(`${dir}/${FILES.bundle}`));
  return 0;
}

async function bundleBase64(path: string): Promise<string> {
  await ensurePrivateDir(path.slice(0, path.lastIndexOf("/")));
  const text = await readPrivateFile(path);
  if (text === undefined) throw new Error(`${path} is missing`);
  return encodeBase64(new TextEncoder().encode(text));
}

function printReport(report: InitReport): void {
  const caLine = {
    created: "created a new CA",
    kept: "kept the existing CA",
    rotated: "ROTATED the CA",
  }[report.ca];
  console.log(
    `TLS material in ${report.dir}: ${caLine} (expires ${report.caNotAfter.toISOString()}).`,
  );
  console.log(
    report.written.length ? `  Wrote: ${report.written.join(", ")}` : "  Nothing needed changing.",
  );
  for (const why of report.renewed) console.log(`  Renewed ${why}`);
  console.log(`  Server names: ${report.serverSans.join(", ")}`);
  console.log(
    `  Client bundle: ${report.dir}/${FILES.bundle} (shared "default" client); for one identity ` +
      `per workspace: authcalator init-tls --client NAME`,
  );
  if (report.ca === "rotated") {
    console.error(
      `init-tls: the CA was replaced. Every bundle issued from the old CA stops working: ` +
        `${FILES.bundle} (copy the new one to every workspace)` +
        (report.invalidatedClients.length
          ? ` and the named clients ${report.invalidatedClients.join(", ")} (re-issue each with ` +
            `--client NAME)`
          : "") +
        `. Restart the gate so it loads the new CA.`,
    );
  } else if (report.written.includes(FILES.client)) {
    if (report.ca === "kept") {
      console.error(
        `init-tls: the default client certificate was renewed; copy ${FILES.bundle} to the ` +
          `workspaces that use it.`,
      );
    }
  }
  if (report.written.includes(FILES.server) && report.ca === "kept") {
    console.error("init-tls: the server certificate was renewed; restart the gate to serve it.");
  }
  for (const warning of report.warnings) console.error(`init-tls: warning: ${warning}`);
}
