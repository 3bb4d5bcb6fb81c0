/**
 * The gate's apps as `authcalator gate` wires them (one prod layer, an API listener's app over its
 * handlers, the admin app), over fakes: Google tokens, timers on a manual clock, an in-memory
 * audit log, no display and no terminal (every confirmation lands in the pending queue).
 */
import type { Clock } from "../../src/clock.ts";
import { type Config, loadConfig } from "../../src/cli/config.ts";
import { createGateApp } from "../../src/gate/app.ts";
import { type AuditLog, MemoryAuditLog } from "../../src/gate/audit.ts";
import { createProdLayer } from "../../src/gate/prod.ts";
import type { TerminalIO } from "../../src/gate/confirm/terminal.ts";
import type { ApiListener, GateDeps, GateTokenService } from "../../src/gate/types.ts";
import { FakeTimers } from "./confirm/fake_timers.ts";
import { FakeTokens } from "./fake_tokens.ts";

/** What a test may change. */
export interface TestGateOptions<T extends GateTokenService, A extends AuditLog> {
  /** Configuration flags over `project_id: p` and a service account. */
  flags?: Record<string, string>;
  /** A configuration built by the test itself (then `flags` is not used). */
  config?: Config;
  /** The token service (default {@link FakeTokens}). */
  tokens?: (clock: Clock) => T;
  /** The audit log (default a {@link MemoryAuditLog}). */
  audit?: A;
  /** The API listener the app serves (default `main`). */
  listener?: ApiListener;
  /** How long the gate has been up, for `/health`. */
  uptimeMs?: number;
  /** The gate's terminal (default none). */
  terminal?: TerminalIO;
}

/** Builds the gate's apps over fakes. */
export function testGate<
  T extends GateTokenService = FakeTokens,
  A extends AuditLog = MemoryAuditLog,
>(options: TestGateOptions<T, A> = {}) {
  const timers = new FakeTimers();
  const clock = timers.clock;
  const tokens = options.tokens?.(clock) ?? (new FakeTokens(clock) as unknown as T);
  const audit = options.audit ?? (new MemoryAuditLog() as unknown as A);
  const config = options.config ?? loadConfig({
    flags: {
      project_id: "p",
      service_account: "sa@p.iam.gserviceaccount.com",
      ...options.flags,
    },
    env: { HOME: "/h" },
  });
  const logs: string[] = [];
  const log = (line: string) => logs.push(line);
  const deps: GateDeps & { tokens: T; audit: A; clock: typeof clock } = {
    config,
    clock,
    tokens,
    audit,
    startedAt: clock.now() - (options.uptimeMs ?? 0),
  };
  const layer = createProdLayer(deps, {
    platform: "linux",
    env: {},
    runDialog: () => Promise.reject(new Error("no dialog expected")),
    terminal: options.terminal,
    timers,
    log,
  });
  const listener = options.listener ?? "main";
  const app = createGateApp(deps, listener, layer.handlers(listener), log);
  return { timers, clock, tokens, audit, config, logs, deps, layer, app };
}
