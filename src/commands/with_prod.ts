/**
 * `authcalator with-prod [flags] -- cmd …`: asks the gate for a held prod session (a human
 * approves the whole command, matching the pairing code printed here), runs `cmd` with a temporary
 * metadata proxy that serves only its process tree (gcloud included: its sandbox holds no token),
 * and cleans up as one transaction on every exit path: the session DELETE is awaited, the held
 * connection closed, the sandbox removed. If with-prod dies without cleaning up, the gate revokes
 * the session when the held connection drops and the reaper kills the command and removes the
 * sandbox. The session id stays inside this process.
 * @module
 */
import type { Invocation } from "../cli/commands.ts";
import { type Clock, systemClock } from "../clock.ts";
import { HttpError, messageOf, UsageError } from "../errors.ts";
import { pairingCode } from "../gate_api/pairing_code.ts";
import { realTimers, type Timers } from "../gate/confirm/timers.ts";
import { newPendingId } from "../gate_api/wire.ts";
import { CLOUD_PLATFORM_SCOPE } from "../cli/config.ts";
import { GateClient } from "../metadata/gate_client.ts";
import { openGateTransport } from "../gate_api/open_transport.ts";
import { VERSION } from "../version.ts";
import { buildChildEnv } from "../with_prod/child_env.ts";
import { type CreatedSession, GateSessionClient } from "../with_prod/gate_session.ts";
import { detectParentSession } from "../with_prod/nested.ts";
import { realProcFS } from "../with_prod/proc_fs.ts";
import { ACQUIRE_FAILED_EXIT, acquisitionOutcome } from "../with_prod/outcome.ts";
import { processStamp } from "../with_prod/process_stamp.ts";
import { type Reaper, startReaper } from "../with_prod/reaper.ts";
import {
  createSandbox,
  type Sandbox,
  sandboxParent,
  sweepStaleSandboxes,
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
import { ROUTES_URL_VAR, startTempRoutesProxy } from "../with_prod/temp_routes_proxy.ts";

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
  err(`authcalator v${VERSION} with-prod for project ${project}`);

  // Sandboxes of with-prods that died with their reaper (no credential in them, but no litter).
  const ownStamp = await processStamp(realProcFS, Deno.pid);
  const parentDir = sandboxParent(env);
  if (ownStamp) await sweepStaleSandboxes(parentDir, realProcFS);

  const guard = new AcquisitionGuard(effects.signals);
  // The remote settings are checked (and an env bundle warned about) before anything starts.
  const gate = new GateSessionClient(
    await openGateTransport(config, env, (line) => err(`with-prod: warning: ${line}`)),
    effects.clock,
  );
  let created: CreatedSession | undefined;
  let finishing = false;
  let sandbox: Sandbox | undefined;
  let reaper: Reaper | undefined;
  let tokens: SessionTokens | undefined;
  let proxy: TempProxy | undefined;
  let routesProxy: TempProxy | undefined;
  let info: GateClient | undefined;
  try {
    const acquired = await acquire(gate, guard, argv, project, config);
    if (typeof acquired === "number") return acquired;
    created = acquired;
    // A signal that landed after the gate answered still cancels: the command never runs.
    if (guard.received) return signalExitCode(guard.received);
    err(`with-prod: prod access acquired for ${created.email} on project ${project}`);
    if (!created.hold) {
      err(
        "with-prod: warning: this gate does not hold sessions; if with-prod is killed, the prod " +
          "session stays valid on the gate until its TTL ends",
      );
    }

    sandbox = await createSandbox(parentDir, ownStamp ?? `${Deno.pid} 0`);
    try {
      reaper = startReaper(sandbox.dir);
    } catch (e) {
      err(
        `with-prod: cannot start the reaper that stops the command if with-prod dies ` +
          `(${messageOf(e)}); refusing to run the command without it`,
      );
      return ACQUIRE_FAILED_EXIT;
    }
    const id = created.sessionId;
    const sessionTokens = new SessionTokens({
      initial: created.token,
      fetch: () => gate.refresh(id, project),
      clock: effects.clock,
    });
    tokens = sessionTokens;
    created.hold?.lost.then((reason) => {
      sessionTokens.end(`Prod session ended: ${reason}. Re-run with-prod to start a new session.`);
      // The gate's last line after our own DELETE is the expected end, not news.
      if (finishing) return;
      err(
        `with-prod: the prod session ended: ${reason}; prod tokens are no longer served to ` +
          "the command (re-run with-prod for a new session)",
      );
    });
    const tokenSource = tokens;
    info = new GateClient({ transport: await openGateTransport(config, env, () => {}) });
    const gateInfo = info;
    proxy = startTempProxy({
      backend: prodBackend({
        email: created.email,
        token: () => tokenSource.token(),
        projectNumber: () => gateInfo.projectNumber(),
        universeDomain: () => gateInfo.universeDomain(),
        // An ended session is reported as such without asking the gate.
        sessionHealth: () =>
          sessionTokens.ended === undefined
            ? gate.checkSession(id)
            : Promise.reject(new HttpError(401, sessionTokens.ended)),
      }),
      project,
      email: created.email,
      scopes: config.scopes,
      ancestor: Deno.pid,
      proc: realProcFS,
      log: err,
    });
    // `level = "prod"` routes (issue 11): a routes listener of its own that carries the session,
    // served to the wrapped command's tree only; the container's routes port never has it.
    routesProxy = startTempRoutesProxy({
      transport: await openGateTransport(config, env, () => {}),
      session: id,
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
    childEnv[ROUTES_URL_VAR] = `http://${routesProxy.host}`;
    if (guard.received) return signalExitCode(guard.received);
    // A session lost before the command starts: the command is not run on a dead session.
    if (sessionTokens.ended !== undefined) return ACQUIRE_FAILED_EXIT;
    return await spawnAndSupervise(argv, childEnv, guard, reaper);
  } finally {
    finishing = true;
    guard.dispose();
    tokens?.end("with-prod is shutting down");
    await proxy?.stop().catch(() => {});
    await routesProxy?.stop().catch(() => {});
    info?.close();
    if (created) {
      const problem = await gate.revoke(created.sessionId);
      if (problem) err(`with-prod: warning: could not revoke the prod session: ${problem}`);
      // Closing the held connection revokes it on the gate too, should the DELETE have failed.
      created.hold?.release();
    }
    gate.close();
    await sandbox?.remove();
    await reaper?.release();
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
  const code = await pairingCode(pendingId);
  let cancelHint: (() => void) | undefined;
  try {
    await gate.preflight(guard.signal);
    err(
      `with-prod: asking the host for approval; pairing code ${code} — approve only a request ` +
        `that shows ${code}`,
    );
    cancelHint = effects.timers.setTimeout(() => {
      err(
        `with-prod: still waiting for approval (pairing code ${code}) — check for a dialog or a ` +
          "prompt on the host.",
      );
      err(
        `with-prod: pending request ${pendingId}; if no prompt appears, review and approve it ` +
          `on the host with: authcalator pending ${pendingId} && authcalator approve ${pendingId}`,
      );
    }, HINT_AFTER_MS);
    return await gate.createSession(
      {
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
      },
      guard.signal,
      effects.timers,
    );
  } catch (e) {
    if (guard.received) return signalExitCode(guard.received);
    if (e instanceof HttpError && e.code === "credentials_expired") {
      err(`with-prod: ${e.message}`);
      return ACQUIRE_FAILED_EXIT;
    }
    if (e instanceof HttpError) {
      const outcome = acquisitionOutcome(e.code, e.message);
      err(`with-prod: failed to acquire prod token: ${outcome.message}`);
      return outcome.exitCode;
    }
    err(`with-prod: failed to acquire prod token: ${messageOf(e)}`);
    return ACQUIRE_FAILED_EXIT;
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
  reaper?: Reaper,
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
  const supervised = superviseChild(child, effects.signals, effects.timers);
  // From here on, with-prod's death (however it dies) makes the reaper kill this command's tree.
  if (reaper) {
    await processStamp(realProcFS, child.pid).then((stamp) => reaper.watch(stamp)).catch(() => {});
  }
  return await supervised;
}
