/**
 * `authcalator with-prod [flags] -- cmd …`: asks the gate for a prod session (a human approves the
 * whole command), runs `cmd` with a temporary metadata proxy that serves only its process tree,
 * and cleans up as one transaction on every exit path: the session DELETE is awaited, the token
 * files and the sandbox are removed. The session id stays inside this process.
 * @module
 */
import type { Invocation } from "../cli/commands.ts";
import { type Clock, systemClock } from "../clock.ts";
import { HttpError, messageOf, UsageError } from "../errors.ts";
import { DeadlineError } from "../http/deadline_fetch.ts";
import { realTimers, type Timers } from "../gate/confirm/timers.ts";
import { newPendingId } from "../gate/pending.ts";
import { CLOUD_PLATFORM_SCOPE } from "../cli/config.ts";
import { GateClient } from "../metadata/gate_client.ts";
import { VERSION } from "../version.ts";
import { buildChildEnv } from "../with_prod/child_env.ts";
import { GateSessionClient, GateUnreachable } from "../with_prod/gate_session.ts";
import { detectParentSession } from "../with_prod/nested.ts";
import { realProcFS } from "../with_prod/proc_fs.ts";
import {
  createSandbox,
  type Sandbox,
  sandboxParent,
  writeFileAtomic,
} from "../with_prod/sandbox.ts";
import { SessionTokens } from "../with_prod/session_tokens.ts";
import {
  AcquisitionGuard,
  processSignals,
  signalExitCode,
  type SignalSource,
  superviseChild,
} from "../with_prod/signals.ts";
import { prodBackend, startTempProxy, type TempProxy } from "../with_prod/temp_proxy.ts";

/** When the "still waiting" hint is printed. */
export const HINT_AFTER_MS = 10_000;

const DEFAULT_TOKEN_TTL = 3600;
const DEFAULT_SESSION_TTL = 28800;

/** The effects with-prod runs with (tests of the pure parts replace some). */
interface Effects {
  clock: Clock;
  timers: Timers;
  signals: SignalSource;
  err: (line: string) => void;
}

const effects: Effects = {
  clock: systemClock,
  timers: realTimers,
  signals: processSignals,
  err: (line) => console.error(line),
};

/** Runs the wrapped command; resolves with its exit code. */
export async function run(invocation: Invocation): Promise<number> {
  const config = invocation.config!;
  const argv = invocation.positionals;
  const { err } = effects;
  if (argv.length === 0) throw new UsageError("with-prod requires a command to wrap");
  const requested = typeof invocation.flags.project === "string"
    ? invocation.flags.project.trim()
    : undefined;
  if (requested === "") throw new UsageError("--project must not be empty");
  const env = invocation.env;
  const extras = config.env;

  const parent = await detectParentSession(env, err);
  if (parent && (!requested || requested === parent.projectId)) {
    err(`authcalator v${VERSION} with-prod for project ${parent.projectId}`);
    err(
      `with-prod: reusing existing prod session for project ${parent.projectId} ` +
        `(proxy at ${parent.metadataHost})`,
    );
    const childEnv = buildChildEnv({
      base: env,
      metadataHost: parent.metadataHost,
      cloudsdkConfig: env.CLOUDSDK_CONFIG,
      email: parent.email,
      project: parent.projectId,
      quotaProject: config.quota_project,
      noQuotaProject: config.no_quota_project,
      extras,
    });
    return await spawnAndSupervise(argv, childEnv, undefined);
  }
  if (parent) {
    err(
      `with-prod: parent session is for project ${parent.projectId}; starting a new session for ` +
        `${requested}`,
    );
  }

  const project = requested ?? config.project_id;
  if (!project) {
    throw new UsageError(
      "with-prod needs a target project: --project, project_id in the config, or " +
        "GCP_AUTHCALATOR_PROJECT_ID",
    );
  }
  if (config.gate_url !== undefined) {
    throw new UsageError(
      "gate_url (a TCP + mTLS gate) is not supported by this release; set socket_path to the " +
        "gate's Unix socket",
    );
  }
  err(`authcalator v${VERSION} with-prod for project ${project}`);

  const guard = new AcquisitionGuard(effects.signals);
  const gate = new GateSessionClient(config.socket_path, effects.clock);
  let sessionId: string | undefined;
  let sandbox: Sandbox | undefined;
  let tokens: SessionTokens | undefined;
  let proxy: TempProxy | undefined;
  let info: GateClient | undefined;
  try {
    const created = await acquire(gate, guard, argv, project, config);
    if (typeof created === "number") return created;
    sessionId = created.sessionId;
    // A signal that landed after the gate answered still cancels: the command never runs.
    if (guard.received) return signalExitCode(guard.received);
    err(`with-prod: prod access acquired for ${created.email} on project ${project}`);

    sandbox = await createSandbox(sandboxParent(env), created.token.accessToken);
    const tokenFile = sandbox.tokenFile;
    const id = sessionId;
    tokens = new SessionTokens({
      initial: created.token,
      fetch: () => gate.refresh(id, project),
      persist: (token) => writeFileAtomic(tokenFile, token.accessToken),
      clock: effects.clock,
      timers: effects.timers,
      log: err,
    });
    const tokenSource = tokens;
    info = new GateClient({ socketPath: config.socket_path });
    const gateInfo = info;
    proxy = startTempProxy({
      backend: prodBackend({
        email: created.email,
        token: () => tokenSource.token(),
        projectNumber: () => gateInfo.projectNumber(),
        universeDomain: () => gateInfo.universeDomain(),
        sessionHealth: () => gate.checkSession(id),
      }),
      project,
      email: created.email,
      scopes: config.scopes,
      ancestor: Deno.pid,
      proc: realProcFS,
      log: err,
    });
    const childEnv = buildChildEnv({
      base: env,
      metadataHost: proxy.host,
      cloudsdkConfig: sandbox.dir,
      email: created.email,
      project,
      quotaProject: config.quota_project,
      noQuotaProject: config.no_quota_project,
      extras,
    });
    if (guard.received) return signalExitCode(guard.received);
    return await spawnAndSupervise(argv, childEnv, guard);
  } finally {
    guard.dispose();
    tokens?.stop();
    await proxy?.stop().catch(() => {});
    info?.close();
    if (sessionId) {
      const problem = await gate.revoke(sessionId);
      if (problem) err(`with-prod: warning: could not revoke the prod session: ${problem}`);
    }
    gate.close();
    await sandbox?.remove();
  }
}

/** Preflight, then `POST /session` with the hint timer; returns an exit code on failure. */
async function acquire(
  gate: GateSessionClient,
  guard: AcquisitionGuard,
  argv: string[],
  project: string,
  config: NonNullable<Invocation["config"]>,
) {
  const { err } = effects;
  const pendingId = newPendingId();
  let cancelHint: (() => void) | undefined;
  try {
    await gate.preflight(guard.signal);
    cancelHint = effects.timers.setTimeout(() => {
      err("with-prod: still waiting for approval — check for a dialog or a prompt on the host.");
      err(
        `with-prod: pending request ${pendingId}; if no prompt appears, review and approve it ` +
          `on the host with: authcalator pending ${pendingId} && authcalator approve ${pendingId}`,
      );
    }, HINT_AFTER_MS);
    return await gate.createSession({
      argv,
      pendingId,
      targetProject: project,
      scopes: config.scopes.length ? config.scopes : [CLOUD_PLATFORM_SCOPE],
      pamPolicy: config.pam_policy,
      tokenTtlSeconds: config.token_ttl_seconds === DEFAULT_TOKEN_TTL
        ? undefined
        : config.token_ttl_seconds,
      sessionTtlSeconds: config.session_ttl_seconds === DEFAULT_SESSION_TTL
        ? undefined
        : config.session_ttl_seconds,
    }, guard.signal);
  } catch (e) {
    if (guard.received) return signalExitCode(guard.received);
    if (e instanceof HttpError && e.code === "credentials_expired") {
      err(`with-prod: ${e.message}`);
    } else if (e instanceof GateUnreachable || e instanceof DeadlineError) {
      err(`with-prod: failed to acquire prod token: ${e.message}`);
    } else {
      err(`with-prod: failed to acquire prod token: ${messageOf(e)}`);
    }
    return 1;
  } finally {
    cancelHint?.();
  }
}

/**
 * Spawns the command and supervises it. The acquisition handlers give way to the forwarding
 * ones in the same tick as the spawn, so no signal falls between them.
 */
async function spawnAndSupervise(
  argv: string[],
  childEnv: Record<string, string>,
  guard: AcquisitionGuard | undefined,
): Promise<number> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      env: childEnv,
      clearEnv: true,
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (e) {
    const notFound = e instanceof Deno.errors.NotFound;
    effects.err(
      `with-prod: cannot run ${argv[0]}: ${notFound ? "command not found" : messageOf(e)}`,
    );
    return notFound ? 127 : 126;
  }
  guard?.dispose();
  return await superviseChild(child, effects.signals, effects.timers);
}
