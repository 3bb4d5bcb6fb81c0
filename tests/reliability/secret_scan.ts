/**
 * The secret scan of the reliability suite: finds credentials in what the suite's processes
 * printed, wrote to the audit log or answered, by shape (the token formats Google and the
 * emulator issue: `ya29.` access tokens, `1//` refresh tokens, `GOCSPX-` client secrets, JWTs,
 * PEM private keys, 64-hex session ids) and by exact value (every secret the test saw). Written
 * independently of src/secrets.ts on purpose: the scrubber is what is under test. Findings
 * never quote the secret, so a failing assertion cannot leak it either.
 * @module
 */

/** One credential found in a line. */
export interface Finding {
  /** Which output or body: e.g. `gate#1`, `audit.log`, `proxy body`. */
  source: string;
  /** 1-based line number within the source. */
  line: number;
  kind: string;
  /** The line with every secret-shaped span replaced by `[kind]`, cut to 300 characters. */
  redacted: string;
}

const SHAPES: [string, RegExp][] = [
  // The marker and what follows it on the line (a JSON key file keeps the PEM on one line).
  ["private key", /-----BEGIN [A-Z ]*PRIVATE KEY-----(?:\\n|[^"\n])*/g],
  // A PEM body line printed on its own.
  ["key material", /^[A-Za-z0-9+/]{64}$/g],
  ["access token", /ya29\.[A-Za-z0-9_\-.]{20,}/g],
  ["refresh token", /1\/\/[A-Za-z0-9_\-]{20,}/g],
  ["client secret", /GOCSPX-[A-Za-z0-9_\-]{10,}/g],
  ["jwt", /eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}/g],
  ["session id", /(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])/g],
];

/** `text` with every secret-shaped span replaced by `[kind]`: safe for a failure message. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const [kind, re] of SHAPES) out = out.replace(re, `[${kind}]`);
  return out;
}

function redact(line: string, known: readonly string[]): string {
  let out = line;
  for (const secret of known) if (secret) out = out.split(secret).join("[known secret]");
  for (const [kind, re] of SHAPES) out = out.replace(re, `[${kind}]`);
  return out.length > 300 ? out.slice(0, 300) + "…" : out;
}

/**
 * Every credential in `text` (split in lines), by shape and by exact match of `known` (values of
 * at least 8 characters: refresh tokens, client secrets, tokens the test received).
 */
export function findSecrets(
  source: string,
  text: string,
  known: readonly string[] = [],
): Finding[] {
  const secrets = known.filter((k) => k.length >= 8);
  const findings: Finding[] = [];
  text.split("\n").forEach((line, i) => {
    const kinds = new Set<string>();
    for (const [kind, re] of SHAPES) {
      re.lastIndex = 0;
      if (re.test(line)) kinds.add(kind);
    }
    if (secrets.some((s) => line.includes(s))) kinds.add("known secret");
    for (const kind of kinds) {
      findings.push({ source, line: i + 1, kind, redacted: redact(line, secrets) });
    }
  });
  return findings;
}

/** Where a host-side detail (a host path, an internal URL) shows in container-facing text. */
export function findHostDetails(
  source: string,
  text: string,
  hostOnly: readonly string[],
): Finding[] {
  const findings: Finding[] = [];
  text.split("\n").forEach((line, i) => {
    for (const detail of hostOnly) {
      if (detail && line.includes(detail)) {
        findings.push({
          source,
          line: i + 1,
          kind: `host detail ${JSON.stringify(detail)}`,
          redacted: redact(line, []),
        });
      }
    }
  });
  return findings;
}

/** A readable failure text for findings (never the secrets themselves). */
export function describeFindings(findings: Finding[], max = 20): string {
  const lines = findings.slice(0, max).map((f) =>
    `  ${f.source}:${f.line} ${f.kind}: ${f.redacted}`
  );
  if (findings.length > max) lines.push(`  … and ${findings.length - max} more`);
  return lines.join("\n");
}
