/**
 * The emulator's world: projects, the engineer (an OAuth user with a refresh token) and service
 * accounts with their impersonators. Options are partial; {@link resolveOptions} fills defaults
 * and rejects anything a real Google backend could not hold.
 * @module
 */
import type { Clock } from "../clock.ts";
import { randomToken } from "./random.ts";
import type { RequestLogEntry } from "./request_log.ts";

/** A Cloud Resource Manager project. */
export interface ProjectSpec {
  /** Project id, e.g. `demo-project`. */
  id: string;
  /** Project number, decimal digits. */
  number: string;
  displayName?: string;
  /** Lifecycle state reported by Resource Manager (default ACTIVE). */
  state?: "ACTIVE" | "DELETE_REQUESTED";
  /** Emails allowed to read the project; absent means every authenticated principal. */
  viewers?: string[];
}

/** The engineer: the human whose authorized_user ADC the gate holds. */
export interface EngineerSpec {
  email: string;
  /** Numeric Google account id (`sub`). */
  uniqueId: string;
  /** OAuth client the refresh token was issued to. */
  clientId: string;
  clientSecret: string;
  refreshToken: string;
  /** Scopes of the original consent; a refresh may ask for a subset. */
  scopes: string[];
}

/** A service account the emulator knows. */
export interface ServiceAccountSpec {
  email: string;
  /** Numeric unique id (`sub` of its tokens); derived from the email when absent. */
  uniqueId?: string;
  /** Principals (emails) holding Token Creator on this account. */
  impersonators?: string[];
  /** Whether the org policy allows access-token lifetimes up to 12 h (else 1 h). */
  allowExtendedLifetime?: boolean;
}

/** Options of {@link startEmulator}; every field has a default. */
export interface EmulatorOptions {
  /** Loopback address to bind (default 127.0.0.1). */
  hostname?: string;
  /** TCP port (default 0: any free port). */
  port?: number;
  projects?: ProjectSpec[];
  engineer?: Partial<EngineerSpec>;
  /** Default: one dev account impersonable by the engineer. */
  serviceAccounts?: ServiceAccountSpec[];
  /** `quota_project_id` written into ADC files (default: the first project; null: none). */
  quotaProjectId?: string | null;
  /** Time source for token expiry and JWT checks (default: the wall clock). */
  clock?: Clock;
  /** Called after each answered request with its (secret-free) log entry. */
  onRequest?: (entry: RequestLogEntry) => void;
}

/** A project after defaults. */
export type ResolvedProject = Required<Omit<ProjectSpec, "viewers">> & { viewers?: string[] };

/** Options after defaults and validation. */
export interface ResolvedOptions {
  hostname: string;
  port: number;
  projects: ResolvedProject[];
  engineer: EngineerSpec;
  serviceAccounts: Required<ServiceAccountSpec>[];
  quotaProjectId?: string;
}

/** The project id used when none is given. */
export const DEFAULT_PROJECT_ID = "demo-project";
/** The project number used when none is given. */
export const DEFAULT_PROJECT_NUMBER = "123456789012";
/** The engineer's email used when none is given. */
export const DEFAULT_ENGINEER_EMAIL = "engineer@example.com";
/** The dev service account used when none is given. */
export const DEFAULT_SERVICE_ACCOUNT = `dev-runner@${DEFAULT_PROJECT_ID}.iam.gserviceaccount.com`;

/** The scopes `gcloud auth application-default login` consents to. */
export const GCLOUD_ADC_SCOPES: readonly string[] = [
  "openid",
  "https://www.googleapis.com/auth/userinfo.email",
  "https://www.googleapis.com/auth/cloud-platform",
  "https://www.googleapis.com/auth/sqlservice.login",
];

const EMAIL = /^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/;
const PROJECT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const DIGITS = /^[1-9][0-9]{0,29}$/;
const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/;

/** Whether `value` looks like an email address (what Google accepts as a principal). */
export function isEmail(value: string): boolean {
  return EMAIL.test(value);
}

/** Whether `value` is a valid Google Cloud project id. */
export function isProjectId(value: string): boolean {
  return PROJECT_ID.test(value);
}

/** Whether `value` is a valid project number or unique id (decimal, no leading zero). */
export function isNumericId(value: string): boolean {
  return DIGITS.test(value);
}

/**
 * A stable 21-digit numeric id for `seed` (Google account and service-account ids look like
 * this), so the same email gets the same `sub` across runs.
 */
export function numericIdFor(seed: string): string {
  let h = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(seed)) {
    h = ((h ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return `1${h.toString().padStart(20, "0").slice(-20)}`;
}

function fail(message: string): never {
  throw new TypeError(`emulator options: ${message}`);
}

function checkEmail(what: string, value: string): string {
  if (!isEmail(value)) fail(`${what} is not an email address: ${JSON.stringify(value)}`);
  return value.toLowerCase();
}

/** Fills defaults and validates; throws TypeError naming the bad field. */
export function resolveOptions(options: EmulatorOptions = {}): ResolvedOptions {
  const hostname = options.hostname ?? "127.0.0.1";
  if (!LOOPBACK.test(hostname)) fail(`hostname must be a loopback address, got ${hostname}`);
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`port out of range: ${port}`);

  const projects = (options.projects ??
    [{ id: DEFAULT_PROJECT_ID, number: DEFAULT_PROJECT_NUMBER }]).map((p) => {
      if (!isProjectId(p.id)) fail(`invalid project id ${JSON.stringify(p.id)}`);
      if (!isNumericId(p.number)) fail(`invalid project number ${JSON.stringify(p.number)}`);
      return {
        id: p.id,
        number: p.number,
        displayName: p.displayName ?? p.id,
        state: p.state ?? "ACTIVE" as const,
        viewers: p.viewers?.map((v) => checkEmail("project viewer", v)),
      };
    });
  const seen = new Set<string>();
  for (const p of projects) {
    if (seen.has(p.id) || seen.has(p.number)) fail(`duplicate project ${p.id}/${p.number}`);
    seen.add(p.id).add(p.number);
  }

  const e = options.engineer ?? {};
  const email = checkEmail("engineer email", e.email ?? DEFAULT_ENGINEER_EMAIL);
  const engineer: EngineerSpec = {
    email,
    uniqueId: e.uniqueId ?? numericIdFor(email),
    clientId: e.clientId ??
      `${numericIdFor(`client:${email}`).slice(0, 12)}-emulator.apps.googleusercontent.com`,
    clientSecret: e.clientSecret ?? `GOCSPX-${randomToken(21)}`,
    refreshToken: e.refreshToken ?? `1//${randomToken(72)}`,
    scopes: [...(e.scopes ?? GCLOUD_ADC_SCOPES)],
  };
  if (!isNumericId(engineer.uniqueId)) fail("engineer uniqueId must be decimal digits");
  for (const [k, v] of Object.entries(engineer)) {
    if (typeof v === "string" && v.length === 0) fail(`engineer ${k} is empty`);
  }

  const serviceAccounts = (options.serviceAccounts ?? [{
    email: `dev-runner@${projects[0]?.id ?? DEFAULT_PROJECT_ID}.iam.gserviceaccount.com`,
  }]).map((sa) => {
    const saEmail = checkEmail("service account email", sa.email);
    const uniqueId = sa.uniqueId ?? numericIdFor(saEmail);
    if (!isNumericId(uniqueId)) fail(`uniqueId of ${saEmail} must be decimal digits`);
    return {
      email: saEmail,
      uniqueId,
      impersonators: (sa.impersonators ?? [email]).map((i) => checkEmail("impersonator", i)),
      allowExtendedLifetime: sa.allowExtendedLifetime ?? false,
    };
  });
  const saSeen = new Set<string>();
  for (const sa of serviceAccounts) {
    if (saSeen.has(sa.email) || saSeen.has(sa.uniqueId)) {
      fail(`duplicate service account ${sa.email}`);
    }
    saSeen.add(sa.email).add(sa.uniqueId);
  }

  const quotaProjectId = options.quotaProjectId === null
    ? undefined
    : options.quotaProjectId ?? projects[0]?.id;
  return { hostname, port, projects, engineer, serviceAccounts, quotaProjectId };
}
