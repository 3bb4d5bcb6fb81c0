/**
 * `X-Wrapped-Command`, both ends: the argv as a JSON array, bounded so the header always fits (a
 * server or client that drops an oversized header would leave the dialog unlabelled). When trimmed
 * it always ends with an explicit marker saying how much was omitted. The gate parses it back with
 * {@link parseWrappedCommand}; what it shows a human is built from that in gate/command_display.ts.
 * @module
 */

/** Most bytes of the header value. */
export const HEADER_BYTES = 8192;
const RESERVE = 160;
const MAX_ELEMENTS = 512;
const ARGV0_CHARS = 200;

const bytes = (s: string) => s.length; // asciiJson output is ASCII: one byte per character

/**
 * JSON with every character outside printable ASCII escaped as `\uXXXX`, so the value is a valid
 * header on every HTTP stack (no raw UTF-8, no DEL) and still parses to the same strings.
 */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[^\x20-\x7e]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Encodes `argv` for `X-Wrapped-Command`, at most {@link HEADER_BYTES} bytes. */
export function encodeWrappedCommand(argv: readonly string[]): string {
  const whole = asciiJson(argv);
  if (bytes(whole) <= HEADER_BYTES) return whole;
  const kept: string[] = [];
  let used = 2; // []
  for (const arg of argv) {
    const cost = bytes(asciiJson(arg)) + (kept.length ? 1 : 0);
    if (kept.length >= MAX_ELEMENTS || used + cost > HEADER_BYTES - RESERVE) break;
    kept.push(arg);
    used += cost;
  }
  if (kept.length === 0) {
    const first = Array.from(argv[0]);
    kept.push(
      `${first.slice(0, ARGV0_CHARS).join("")} …(+${
        first.length - ARGV0_CHARS
      } chars omitted by the client from argv[0])`,
    );
    const rest = argv.length - 1;
    kept.push(`… ${rest} further argument(s) omitted by the client (header size limit)`);
    return asciiJson(kept);
  }
  const rest = argv.length - kept.length;
  kept.push(`… ${rest} further argument(s) omitted by the client (header size limit)`);
  return asciiJson(kept);
}

/**
 * Parses an `X-Wrapped-Command` header: a non-empty JSON array of strings. Anything else means
 * "no command reported" (undefined), which every surface says plainly.
 */
export function parseWrappedCommand(header: string | null | undefined): string[] | undefined {
  if (!header) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(header);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || value.length === 0) return undefined;
  if (!value.every((v) => typeof v === "string")) return undefined;
  return value as string[];
}
