/**
 * The daemons' own log lines (gate, metadata-proxy): one level filter and one format switch, so an
 * operator can ask for `--log-level debug` or `--log-format json` without every module growing its
 * own printing. Every message passes through the secret scrubber on its way out: a log line is
 * never the place a token, refresh token, key or session id ends up, whatever a caller hands in.
 * @module
 */
import type { Clock } from "./clock.ts";
import { systemClock } from "./clock.ts";
import { cleanMessage, scrubSecrets } from "./secrets.ts";

/** Severity, most severe first. */
export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Line formats: `text` (`gate: warning: …`) or `json` (one object per line). */
export const LOG_FORMATS = ["text", "json"] as const;
/** One of {@link LOG_FORMATS}. */
export type LogFormat = typeof LOG_FORMATS[number];

/** Extra structured facts of a line; rendered as `key=value` in text, as fields in JSON. */
export type LogFields = Record<string, string | number | boolean | undefined>;

/** A leveled logger for one component. */
export interface Logger {
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  /** Whether lines of `level` are written (to skip building expensive debug lines). */
  enabled(level: LogLevel): boolean;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Component name, the line prefix (`gate`, `metadata-proxy`). */
  component: string;
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go (default stderr). Receives one line without its trailing newline. */
  write?: (line: string) => void;
  clock?: Clock;
}

/** Whether `value` names a log level. */
export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/** Whether `value` names a log format. */
export function isLogFormat(value: string): value is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(value);
}

const TEXT_TAG: Record<LogLevel, string> = {
  error: "error: ",
  warn: "warning: ",
  info: "",
  debug: "debug: ",
};

/** Removes anything secret-shaped and control characters (a newline stays, for multi-line text). */
function safe(text: string): string {
  return cleanMessage(scrubSecrets(text), 4096);
}

/** Builds a logger; lines below `level` are dropped. */
export function createLogger(options: LoggerOptions): Logger {
  const threshold = LOG_LEVELS.indexOf(options.level ?? "info");
  const format = options.format ?? "text";
  const write = options.write ?? ((line: string) => console.error(line));
  const clock = options.clock ?? systemClock;
  const component = options.component;

  const emit = (level: LogLevel, message: string, fields?: LogFields) => {
    if (LOG_LEVELS.indexOf(level) > threshold) return;
    if (format === "json") {
      const out: Record<string, unknown> = {
        time: new Date(clock.now()).toISOString(),
        level,
        component,
        msg: safe(message),
      };
      for (const [k, v] of Object.entries(fields ?? {})) {
        if (v !== undefined && !(k in out)) out[k] = typeof v === "string" ? safe(v) : v;
      }
      write(JSON.stringify(out));
      return;
    }
    const extra = Object.entries(fields ?? {})
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => ` ${k}=${typeof v === "string" ? JSON.stringify(safe(v)) : v}`)
      .join("");
    write(`${component}: ${TEXT_TAG[level]}${safe(message)}${extra}`);
  };
  return {
    error: (m, f) => emit("error", m, f),
    warn: (m, f) => emit("warn", m, f),
    info: (m, f) => emit("info", m, f),
    debug: (m, f) => emit("debug", m, f),
    enabled: (level) => LOG_LEVELS.indexOf(level) <= threshold,
  };
}
