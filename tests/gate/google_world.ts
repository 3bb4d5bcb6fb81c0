/**
 * The world of the gate's Google-side tests: an emulator with the dev service account, a temp
 * dir for the ADC file, and a factory for a real GoogleTokenService pointed at the emulator.
 */
import { type Emulator, startEmulator } from "../../src/emulator/mod.ts";
import { GoogleTokenService } from "../../src/gate/google_tokens.ts";
import { resolveEndpoints } from "../../src/google/endpoints.ts";
import { loadConfig } from "../../src/cli/config.ts";
import { type Clock, systemClock } from "../../src/clock.ts";

export const DEV = "dev-runner@demo-project.iam.gserviceaccount.com";
export const KEY_SA = "ci-key@demo-project.iam.gserviceaccount.com";
export const ADC_TARGET = "adc-target@demo-project.iam.gserviceaccount.com";
export const CLOUD = "https://www.googleapis.com/auth/cloud-platform";

/** What a test gets. */
export interface GoogleWorld {
  emulator: Emulator;
  dir: string;
  /** Writes `adc` as the ADC file and builds a service over it. */
  service: (adc: unknown, timeoutMs?: number, clock?: Clock) => Promise<GoogleTokenService>;
}

/** Runs `fn` in a fresh world and tears it down. */
export async function world(fn: (w: GoogleWorld) => Promise<void>): Promise<void> {
  const emulator = await startEmulator({
    projects: [{ id: "demo-project", number: "123456789012" }],
    serviceAccounts: [
      { email: DEV, impersonators: ["engineer@example.com", KEY_SA, ADC_TARGET] },
      { email: KEY_SA },
      { email: ADC_TARGET, impersonators: ["engineer@example.com"] },
    ],
  });
  const dir = await Deno.makeTempDir();
  try {
    await fn({
      emulator,
      dir,
      service: async (adc, timeoutMs, clock = systemClock) => {
        const path = `${dir}/adc.json`;
        await Deno.writeTextFile(path, typeof adc === "string" ? adc : JSON.stringify(adc));
        const config = loadConfig({
          flags: { google_api_base: emulator.baseUrl },
          env: { HOME: dir },
        });
        return new GoogleTokenService({
          projectId: "demo-project",
          serviceAccount: DEV,
          endpoints: resolveEndpoints(config),
          env: { GOOGLE_APPLICATION_CREDENTIALS: path, HOME: dir },
          clock,
          hostname: "laptop-1",
          timeoutMs,
        });
      },
    });
  } finally {
    await emulator.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `promise`, returning what it threw (or failing when it resolved) and how long it took. */
// deno-lint-ignore no-explicit-any
export async function failure(promise: Promise<unknown>): Promise<{ err: any; ms: number }> {
  const t0 = performance.now();
  try {
    await promise;
  } catch (err) {
    return { err, ms: performance.now() - t0 };
  }
  throw new Error("expected a failure, got a result");
}
