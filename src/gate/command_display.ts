/**
 * THE redaction and sanitisation of a reported command. Dialogs, the terminal prompt, the pending
 * CLI, the gate's stderr and the audit log all show what {@link describeCommand} returns, so a
 * secret redacted here is redacted everywhere and a line that cannot be forged here cannot be
 * forged anywhere.
 * @module
 */

/** Most arguments shown; the rest are announced. */
export const MAX_ARGS = 512;
/** Most characters shown of one argument; the rest are announced on that line. */
export const MAX_ARG_CHARS = 2000;
/** Most characters shown of the whole command; the rest are announced. */
export const MAX_TOTAL_CHARS = 32 * 1024;
/** Longest one-line summary (audit `command`, gate stderr). */
export const SUMMARY_CHARS = 80;
/** What a redacted value is replaced with. */
export const REDACTED = "***";

/** A command as every surface shows it. */
export interface CommandDisplay {
  /** The redacted, sanitised arguments shown (capped); the audit log's `command_argv`. */
  argv: string[];
  /** Numbered display lines, one per argument, then a notice line if a cap fired. */
  lines: string[];
  /** Basename of argv[0] and the redacted arguments on one line, at most 80 characters. */
  summary: string;
  /** How many arguments were reported. */
  totalArgs: number;
  /** Whether any cap withheld something. */
  capped: boolean;
}

// C0, DEL and C1 (\p{Cc}); format characters incl. bidi overrides/isolates, zero-width and tag
// characters (\p{Cf}); line/paragraph separators (\p{Zl}, \p{Zp}) that some renderers break on;
// and lone surrogates, which have no faithful rendering.
const UNSAFE =
  /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/gu;

/**
 * Makes text safe to show: C0 controls and DEL become their Unicode control pictures (␊, ␉, ␡ …)
 * so a newline is visible as one and cannot start a forged line; every other control, bidi or
 * format character becomes U+FFFD. Both replacements are visible and never themselves unsafe.
 */
export function sanitizeText(text: string): string {
  return text.replace(UNSAFE, (ch) => {
    const code = ch.charCodeAt(0);
    if (code < 0x20) return String.fromCharCode(0x2400 + code);
    if (code === 0x7f) return "\u2421";
    return "\uFFFD";
  });
}

// Names that end in one of these words carry secrets. Boundaries: start, `-`, `_`, `.`, or a
// camelCase hump, so `--api-key`, `client_secret`, `db.password` and `accessToken` match while
// `--token-ttl-seconds`, `--auth-type` and `monkey` do not.
const SECRET_WORDS = [
  "password",
  "passwd",
  "passphrase",
  "secret",
  "token",
  "credential",
  "credentials",
  "key",
  "auth",
  "authorization",
  "apikey",
  "accesskey",
  "secretkey",
  "privatekey",
  "accesstoken",
  "authtoken",
  "refreshtoken",
  "idtoken",
  "clientsecret",
];
// `private` alone marks a secret in `private=…` but is a common boolean flag (`--private`), so it
// does not swallow the next argument.
const KEY_VALUE_WORDS = [...SECRET_WORDS, "private"];

function endsWithSecretWord(name: string, words: readonly string[]): boolean {
  for (const word of words) {
    if (name.length < word.length) continue;
    const tail = name.slice(name.length - word.length);
    if (tail.toLowerCase() !== word) continue;
    const start = name.length - word.length;
    if (start === 0) return true;
    const before = name[start - 1];
    if (/[-_./\s]/.test(before)) return true;
    // camelCase hump: `accessToken`, `apiKey`.
    if (/[a-z0-9]/.test(before) && /[A-Z]/.test(tail[0])) return true;
  }
  return false;
}

const JWT_WHOLE = /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}$/;
const EMBEDDED = [
  // JWS / JWE compact serialisations (their header always starts with `{"` = `eyJ`).
  /eyJ[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){2,4}/g,
  // Google OAuth access tokens (even glued to other text) and refresh tokens.
  /ya29\.[A-Za-z0-9._~+/=-]+/g,
  /(?<![A-Za-z0-9])1\/\/[A-Za-z0-9._~+/=-]{10,}/g,
  // PEM private keys (to the END line, or to the end of the argument when cut).
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g,
];

/** Hides the token shapes (JWTs, Google tokens, PEM keys) inside `text`, nothing else. */
function redactTokenShapes(text: string): string {
  if (text.length >= 40 && JWT_WHOLE.test(text)) return REDACTED;
  let out = text;
  for (const pattern of EMBEDDED) out = out.replace(pattern, REDACTED);
  return out;
}

/**
 * Redacts a free-text value a client sent (e.g. `X-Target-Project`) with the same rules as one
 * command argument, before it is shown or audited.
 */
export function redactValue(text: string): string {
  return redactElement(text);
}

/** Redacts one argument on its own (no look at its neighbours). */
function redactElement(arg: string, depth = 0): string {
  if (arg.length >= 40 && JWT_WHOLE.test(arg)) return REDACTED;
  let out = arg;
  for (const pattern of EMBEDDED) out = out.replace(pattern, REDACTED);
  out = redactUrlSecrets(out);
  out = redactEmbedded(out);
  // key=value or key:value: keep through the first separator, hide the value.
  const m = /^(-*)([^=:\s]+)([=:])([\s\S]*)$/.exec(out);
  if (m) {
    const name = m[2].trim();
    if (endsWithSecretWord(name, KEY_VALUE_WORDS) && m[4] !== "") {
      return `${m[1]}${m[2]}${m[3]}${REDACTED}`;
    }
    // A value can itself be `Name: secret` (`--header=Authorization: Bearer …`).
    if (depth < 2 && m[4] !== "" && !/^\/\//.test(m[4])) {
      const inner = redactElement(m[4], depth + 1);
      if (inner !== m[4]) return `${m[1]}${m[2]}${m[3]}${inner}`;
    }
  }
  return out;
}

/**
 * Inside a longer text (a `sh -c` script, a JSON blob) hides the values of secret-named
 * assignments, headers, options and JSON members.
 */
function redactEmbedded(text: string): string {
  if (!/[\s"{]/.test(text)) return text;
  return text
    // "name": "value" (JSON)
    .replace(
      /("([^"\\]{1,100})"\s*:\s*")((?:[^"\\]|\\.)+)(")/g,
      (all, head, name, _v, tail) =>
        endsWithSecretWord(name, KEY_VALUE_WORDS) ? `${head}${REDACTED}${tail}` : all,
    )
    // NAME=value, name: [Bearer] value, --name=value
    .replace(
      /(^|[\s;&|('"`])(-{0,2}[A-Za-z_][A-Za-z0-9_.-]*)(=|:[ \t]*(?:(?:bearer|basic|token)[ \t]+)?)((?:"[^"]*"|'[^']*'|[^\s;&|'"`)])+)/gi,
      (all, lead, name, sep, _v) =>
        endsWithSecretWord(name.replace(/^-+/, ""), KEY_VALUE_WORDS)
          ? `${lead}${name}${sep}${REDACTED}`
          : all,
    )
    // --name value
    .replace(
      /(^|\s)(--?[A-Za-z0-9][A-Za-z0-9_.-]*)([ \t]+)("[^"]*"|'[^']*'|[^\s;&|'"`)]+)/g,
      (all, lead, name, ws, value) =>
        takesSecretValue(name) && value !== REDACTED ? `${lead}${name}${ws}${REDACTED}` : all,
    );
}

/** Hides the password of `scheme://user:password@host` and secret-named query parameters. */
function redactUrlSecrets(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^\s/@]*)@/gi, (all, scheme, userinfo) => {
    const colon = userinfo.indexOf(":");
    return colon < 0 ? all : `${scheme}${userinfo.slice(0, colon)}:${REDACTED}@`;
  }).replace(/([?&;])([^=&#\s]+)=([^&#\s]*)/g, (all, sep, name, value) => {
    const decoded = safeDecode(name);
    return value !== "" && endsWithSecretWord(decoded, KEY_VALUE_WORDS)
      ? `${sep}${name}=${REDACTED}`
      : all;
  });
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Whether `arg` is a bare option (`-x`, `--xyz`) whose name ends in a secret word. */
function takesSecretValue(arg: string): boolean {
  const m = /^--?([A-Za-z0-9][A-Za-z0-9_.-]*)$/.exec(arg);
  return m !== null && endsWithSecretWord(m[1], SECRET_WORDS);
}

/** Options of {@link redactArgv} and {@link describeCommand}. */
export interface RedactOptions {
  /**
   * Keep hiding the value after a secret-named option past a literal `--`. For argv whose `--`
   * may start another command line (a wrapper's kernel argv: `with-prod -- cmd --password x`).
   */
  throughDashes?: boolean;
}

/**
 * Redacts a whole argv: per-argument rules, plus the value after a bare secret-named option.
 * argv[0] is the program: only token shapes inside it are hidden. After a literal `--` the
 * next-value rule stops (what follows is positional) unless `throughDashes`; the per-argument
 * rules stay.
 */
export function redactArgv(argv: readonly string[], options: RedactOptions = {}): string[] {
  const out: string[] = [];
  let hideNext = false;
  let afterDashes = false;
  argv.forEach((arg, i) => {
    if (i === 0) {
      // The program keeps its name; only a token shape embedded in it is hidden.
      out.push(redactTokenShapes(arg));
      return;
    }
    if (hideNext) {
      out.push(REDACTED);
      hideNext = false;
      return;
    }
    if (arg === "--" && !afterDashes) {
      afterDashes = !options.throughDashes;
      out.push(arg);
      return;
    }
    out.push(redactElement(arg));
    if (!afterDashes && takesSecretValue(arg)) hideNext = true;
  });
  return out;
}

function basename(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1) || path;
}

/** Cuts `text` to `max` characters, ending with `…` when cut. */
export function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length > max ? chars.slice(0, max - 1).join("") + "…" : text;
}

/** The one-line summary of an already redacted argv: basename of the program, then arguments. */
function summarize(redacted: readonly string[]): string {
  if (redacted.length === 0) return "";
  const words = [basename(redacted[0]), ...redacted.slice(1)].map(sanitizeText);
  return truncate(words.join(" "), SUMMARY_CHARS);
}

/**
 * Describes a reported command for every surface: redacted, sanitised per argument (so an
 * embedded newline cannot forge a numbered line), each argument capped at 2000 characters, at
 * most 512 arguments and 32 KiB of text; every cap announces what it withheld.
 */
export function describeCommand(
  argv: readonly string[],
  options: RedactOptions = {},
): CommandDisplay {
  const redacted = redactArgv(argv, options);
  const shown: string[] = [];
  let capped = false;
  let used = 0;
  let stop: string | undefined;
  for (let i = 0; i < redacted.length; i++) {
    if (i >= MAX_ARGS) {
      stop = `argument limit ${MAX_ARGS}`;
      break;
    }
    let text = sanitizeText(redacted[i]);
    if (text.length > MAX_ARG_CHARS) {
      text = `${text.slice(0, MAX_ARG_CHARS)} …(+${text.length - MAX_ARG_CHARS} chars)`;
      capped = true;
    }
    if (used + text.length > MAX_TOTAL_CHARS) {
      stop = `${MAX_TOTAL_CHARS}-character display limit`;
      break;
    }
    used += text.length;
    shown.push(text);
  }
  const width = String(redacted.length).length;
  const lines = shown.map((text, i) => `  ${String(i + 1).padStart(width)}  ${text}`);
  if (stop) {
    capped = true;
    const rest = redacted.length - shown.length;
    lines.push(`  … ${rest} further argument${rest === 1 ? "" : "s"} not shown (${stop})`);
  }
  return { argv: shown, lines, summary: summarize(redacted), totalArgs: argv.length, capped };
}

/** "N argument(s)". */
export function argumentCount(n: number): string {
  return `${n} argument${n === 1 ? "" : "s"}`;
}
