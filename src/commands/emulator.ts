/**
 * `authcalator emulator`: runs the embedded Google API emulator on loopback until SIGINT or
 * SIGTERM, optionally writing the engineer's authorized_user ADC file for a gate to use.
 * @module
 */
import { waitForStopSignal } from "../stop_signal.ts";
import type { Invocation } from "../cli/commands.ts";
import { UsageError } from "../errors.ts";
import {
  DEFAULT_ENGINEER_EMAIL,
  DEFAULT_PROJECT_ID,
  DEFAULT_PROJECT_NUMBER,
  type EmulatorOptions,
  isEmail,
  isNumericId,
  isProjectId,
  startEmulator,
} from "../emulator/mod.ts";

function flag(invocation: Invocation, name: string): string | undefined {
  const v = invocation.flags[name];
  return typeof v === "string" ? v : undefined;
}

/** Turns the command's flags into emulator options; throws UsageError on a bad value. */
export function optionsFromFlags(invocation: Invocation): EmulatorOptions {
  const portText = flag(invocation, "port") ?? "0";
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new UsageError(
      `--port must be a number from 0 to 65535, got ${JSON.stringify(portText)}`,
    );
  }
  const projectId = flag(invocation, "project-id") ?? DEFAULT_PROJECT_ID;
  if (!isProjectId(projectId)) {
    throw new UsageError(
      `--project-id must be 6-30 lowercase letters, digits or hyphens, starting with a letter; got ${
        JSON.stringify(projectId)
      }`,
    );
  }
  const projectNumber = flag(invocation, "project-number") ?? DEFAULT_PROJECT_NUMBER;
  if (!isNumericId(projectNumber)) {
    throw new UsageError(
      `--project-number must be decimal digits without a leading zero, got ${
        JSON.stringify(projectNumber)
      }`,
    );
  }
  const engineer = flag(invocation, "engineer-email") ?? DEFAULT_ENGINEER_EMAIL;
  if (!isEmail(engineer)) {
    throw new UsageError(`--engineer-email is not an email address: ${JSON.stringify(engineer)}`);
  }
  const serviceAccount = flag(invocation, "service-account") ??
    `dev-runner@${projectId}.iam.gserviceaccount.com`;
  if (!isEmail(serviceAccount)) {
    throw new UsageError(
      `--service-account is not an email address: ${JSON.stringify(serviceAccount)}`,
    );
  }
  const writeAdc = flag(invocation, "write-adc");
  if (writeAdc !== undefined && writeAdc.trim() === "") {
    throw new UsageError("--write-adc needs a file path");
  }
  return {
    port: Number(portText),
    projects: [{ id: projectId, number: projectNumber }],
    engineer: { email: engineer },
    serviceAccounts: [{ email: serviceAccount, impersonators: [engineer] }],
  };
}

/** Writes `text` to `path` as mode 0600, tightening an existing file before any secret lands. */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true, mode: 0o600 });
  try {
    await Deno.chmod(path, 0o600);
    const bytes = new TextEncoder().encode(text);
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
  } finally {
    file.close();
  }
}

/** Runs the emulator until SIGINT/SIGTERM; exit code 0 after a clean stop. */
export async function run(invocation: Invocation): Promise<number> {
  const options = optionsFromFlags(invocation);
  const writeAdc = flag(invocation, "write-adc");
  const stopped = waitForStopSignal();
  const emulator = await startEmulator({
    ...options,
    onRequest: (e) =>
      console.error(
        `emulator: ${e.method} ${e.path} -> ${e.status}${e.principal ? ` (${e.principal})` : ""}${
          e.fault ? ` [fault: ${e.fault}]` : ""
        }`,
      ),
  });
  try {
    console.log(`emulator listening on ${emulator.baseUrl}`);
    if (writeAdc !== undefined) {
      await writePrivateFile(
        writeAdc,
        JSON.stringify(emulator.authorizedUserAdc(), null, 2) + "\n",
      );
      console.log(`authorized_user ADC written to ${writeAdc}`);
    }
    await stopped;
  } finally {
    await emulator.stop();
  }
  return 0;
}
