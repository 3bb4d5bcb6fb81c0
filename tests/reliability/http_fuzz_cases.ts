/**
 * Generators of hostile HTTP/1.1 conversations for the raw-socket fuzz tests: malformed request
 * lines, odd methods, paths and percent-encoding, the query parameters each surface parses,
 * huge and odd headers, CR/LF injection, Content-Length lies and smuggling shapes, mid-body
 * stops, pipelining, slowloris pacing, binary garbage and the proxy-header family. Every case is
 * drawn from a seeded {@link Prng}, so a failing case is reproduced from the seed.
 * @module
 */
import type { Prng } from "./prng.ts";
import type { Step } from "./raw_exchange.ts";

/** Which listener a case is aimed at (paths and parameters differ). */
export type Surface = "gate" | "admin" | "proxy";

/**
 * What the client does after sending: `complete` has sent everything (the last request asks
 * for `Connection: close`; proxy cases may also half-close) and the server must answer and end
 * the connection within the bound; `held` may legitimately wait (a prod approval,
 * `wait_for_change`), so the client leaves at its bound; `abandoned` stops mid-message (a
 * mid-body stop, slowloris that never finishes) and leaves after a moment.
 */
export type CaseKind = "complete" | "held" | "abandoned";

/** One generated conversation. */
export interface FuzzCase {
  surface: Surface;
  /** A short description of what was generated (printed with the seed on failure). */
  label: string;
  steps: Step[];
  /** Methods of the requests sent, in order (so HEAD answers parse without a body). */
  methods: string[];
  kind: CaseKind;
  /** Whether a header of the proxy family (X-Forwarded-For, Forwarded, X-Real-IP) was sent. */
  proxyHeader: boolean;
}

const SCOPES = [
  "https://www.googleapis.com/auth/cloud-platform",
  "https://www.googleapis.com/auth/userinfo.email",
  "https://www.googleapis.com/auth/devstorage.read_only",
];

const ODD_STRINGS = [
  "",
  " ",
  "%",
  "%zz",
  "%00",
  "%0d%0aX-Injected:%201",
  "%2e%2e%2f",
  "..",
  "-1",
  "0",
  "1e3",
  "0x10",
  "NaN",
  "Infinity",
  "9".repeat(40),
  "true",
  "TRUE",
  "yes",
  "null",
  "[]",
  "{}",
  "%C3%A9",
  "%FF%FE",
  "a,,b",
  ",",
  "\u00e9",
];

/** A query value: mostly plausible, often odd, sometimes long. */
function value(rng: Prng, plausible: string[]): string {
  const r = rng.next();
  if (r < 0.45) return encodeURIComponent(rng.pick(plausible));
  if (r < 0.85) return rng.pick(ODD_STRINGS);
  if (r < 0.95) return rng.string(rng.int(1, 64), "abcXYZ019-_.~%+,/:;=");
  return "x".repeat(rng.int(2000, 12000));
}

const GATE_PARAMS: Record<string, string[]> = {
  scopes: [SCOPES[0], SCOPES.join(","), `${SCOPES[0]},${SCOPES[0]}`, "openid,email"],
  token_ttl_seconds: ["60", "300", "3600", "43200", "59", "100000"],
  audience: ["https://example.com", "https://run.app/x", "a".repeat(2049)],
  format: ["standard", "full", "compact"],
  session: ["0".repeat(64), "f".repeat(64), "abc"],
  level: ["dev", "prod", "admin"],
  pam_policy: ["", "dev-access", "prod-break-glass"],
  session_ttl_seconds: ["300", "28800", "1"],
};
const GATE_PATHS = [
  "/health",
  "/token",
  "/token",
  "/token",
  "/id-token",
  "/identity",
  "/project-number",
  "/universe-domain",
  "/session",
  "/pending",
  "/",
  "/token/",
  "//token",
  "/TOKEN",
  "/health/../token",
  "/%74oken",
];

const ADMIN_PARAMS: Record<string, string[]> = { id: ["0".repeat(32)], yes: ["1"] };
function adminPaths(rng: Prng): string[] {
  const id = rng.chance(0.5) ? rng.string(32, "0123456789abcdef") : value(rng, ["0".repeat(32)]);
  return [
    "/health",
    "/pending",
    `/pending/${id}`,
    `/pending/${id}/approve`,
    `/pending/${id}/deny`,
    `/pending/${id}/other`,
    "/pending/",
    "/",
  ];
}

const PROXY_PARAMS: Record<string, string[]> = {
  scopes: GATE_PARAMS.scopes,
  audience: ["https://example.com", "32555940559.apps.googleusercontent.com"],
  format: ["standard", "full"],
  licenses: ["TRUE", "FALSE"],
  recursive: ["true", "false", "on", "1"],
  alt: ["json", "text", "xml"],
  wait_for_change: ["false", "true"],
  timeout_sec: ["0", "1", "2", "-1", "3601"],
  last_etag: ["0", "abc", "NONE"],
};
const PROXY_PATHS = [
  "/",
  "/computeMetadata/",
  "/computeMetadata/v1/",
  "/computeMetadata/v1/project/project-id",
  "/computeMetadata/v1/project/numeric-project-id",
  "/computeMetadata/v1/instance/",
  "/computeMetadata/v1/instance/service-accounts/",
  "/computeMetadata/v1/instance/service-accounts/default/",
  "/computeMetadata/v1/instance/service-accounts/default/token",
  "/computeMetadata/v1/instance/service-accounts/default/token",
  "/computeMetadata/v1/instance/service-accounts/default/identity",
  "/computeMetadata/v1/instance/service-accounts/default/email",
  "/computeMetadata/v1/instance/service-accounts/default/scopes",
  "/computeMetadata/v1/instance/service-accounts/someone@x.iam.gserviceaccount.com/token",
  "/computeMetadata/v1/universe/universe-domain",
  "/computeMetadata/v1/instance/zone",
  "/computeMetadata/v1/instance/attributes/",
  "/computeMetadata/v1beta1/instance/id",
  "/computeMetadata/v1/../v1/project/project-id",
  "/computeMetadata/v1/project/project-id/..%2f..%2f",
  "/computeMetadata//v1//project",
  "/identity",
  "/session-health",
];

const METHODS = ["GET", "GET", "GET", "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"];
const ODD_METHODS = ["get", "G ET", "CONNECT", "TRACE", "BREW", "G\u0000T", "X".repeat(300), ""];

function pathAndQuery(rng: Prng, surface: Surface): string {
  const [paths, params] = surface === "gate"
    ? [GATE_PATHS, GATE_PARAMS]
    : surface === "admin"
    ? [adminPaths(rng), ADMIN_PARAMS]
    : [PROXY_PATHS, PROXY_PARAMS];
  let path = rng.pick(paths);
  const r = rng.next();
  if (r < 0.05) {
    path = rng.pick(["*", "", "http://metadata.google.internal" + path, "?", "/\u00ff"]);
  } else if (r < 0.1) path = path + "/" + rng.pick(ODD_STRINGS);
  else if (r < 0.12) path = "/" + "a/".repeat(rng.int(100, 3000));
  const names = Object.keys(params);
  const parts: string[] = [];
  for (let i = rng.int(0, 3); i > 0; i--) {
    const name = rng.chance(0.9) ? rng.pick(names) : rng.pick(ODD_STRINGS) || "x";
    parts.push(rng.chance(0.05) ? name : `${name}=${value(rng, params[name] ?? ["1"])}`);
  }
  return parts.length ? `${path}?${parts.join("&")}` : path;
}

/** A valid Host for the surface, or an odd one. */
function hostHeader(rng: Prng, surface: Surface, proxyPort: number): string[] {
  const good = surface === "proxy"
    ? rng.pick([`127.0.0.1:${proxyPort}`, "metadata.google.internal", "169.254.169.254"])
    : "localhost";
  const r = rng.next();
  if (r < 0.8) return [`Host: ${good}`];
  if (r < 0.85) return [];
  if (r < 0.9) return [`Host: ${good}`, `Host: evil.example`];
  return [
    `Host: ${rng.pick(["evil.example", "", "metadata.google.internal.evil", "[::1", "a:b:c"])}`,
  ];
}

const PROXY_FAMILY = [
  "X-Forwarded-For: 10.0.0.1",
  "Forwarded: for=10.0.0.1",
  "X-Real-IP: 10.0.0.1",
];
const PROXY_FAMILY_ODD = [
  "x-forwarded-for: ",
  'FORWARDED: for="[::1]";proto=http',
  "X-Real-Ip: 127.0.0.1",
  "X-Forwarded-For: 127.0.0.1, 10.0.0.1",
];

/** Extra header lines: flavor variants, proxy headers, junk; returns lines and proxy flag. */
function extraHeaders(rng: Prng, surface: Surface): { lines: string[]; proxyHeader: boolean } {
  const lines: string[] = [];
  let proxyHeader = false;
  if (surface === "proxy" || rng.chance(0.2)) {
    const r = rng.next();
    if (r < 0.75) lines.push("Metadata-Flavor: Google");
    else if (r < 0.8) lines.push("Metadata-Flavor: google");
    else if (r < 0.85) lines.push("Metadata-Flavor: Google", "Metadata-Flavor: Other");
    else if (r < 0.9) lines.push("metadata-flavor:Google");
    else if (r < 0.95) lines.push("X-Google-Metadata-Request: True");
  }
  if (rng.chance(0.15)) {
    lines.push(rng.pick([...PROXY_FAMILY, ...PROXY_FAMILY_ODD]));
    proxyHeader = true;
  }
  for (let i = rng.chance(0.3) ? rng.int(1, 4) : 0; i > 0; i--) {
    const r = rng.next();
    if (r < 0.2) lines.push(`X-Big: ${"b".repeat(rng.int(4000, 70000))}`);
    else if (r < 0.3) { for (let j = rng.int(50, 300); j > 0; j--) lines.push(`X-N${j}: ${j}`); }
    else if (r < 0.4) lines.push("X-Injected: a\rInjected-Too: b");
    else if (r < 0.5) lines.push("X-Injected: a\nInjected-Too: b");
    else if (r < 0.55) lines.push("No-Colon-Here");
    else if (r < 0.6) lines.push("Space-Before-Colon : x");
    else if (r < 0.65) lines.push("X-Fold: a", " folded");
    else if (r < 0.7) lines.push(`X-Bin: ${rng.string(20, "\u0001\u0080\u00ff\u007fab")}`);
    else if (r < 0.75) lines.push("Connection: close");
    else if (r < 0.8) lines.push("Expect: 100-continue");
    else if (r < 0.85) lines.push("Upgrade: websocket", "Connection: Upgrade");
    else if (r < 0.9) lines.push(`Authorization: Bearer ya29.not-a-real-token`);
    else lines.push(`${rng.string(rng.int(1, 20), "abcXYZ-_!#")}: ${rng.string(10, "abc ;=,")}`);
  }
  return { lines, proxyHeader };
}

/** Body framing: nothing, an honest body, Content-Length lies, chunked (good, bad, smuggling). */
function framing(rng: Prng): { lines: string[]; body: string; lie: "none" | "short" | "long" } {
  const r = rng.next();
  if (r < 0.6) return { lines: [], body: "", lie: "none" };
  const body = rng.string(rng.int(0, 40), 'abc{}":,0123');
  if (r < 0.68) return { lines: [`Content-Length: ${body.length}`], body, lie: "none" };
  if (r < 0.76) {
    return { lines: [`Content-Length: ${body.length + rng.int(1, 5000)}`], body, lie: "long" };
  }
  if (r < 0.8) return { lines: [`Content-Length: 0`], body: body || "x", lie: "short" };
  if (r < 0.84) {
    return {
      lines: [rng.pick(["Content-Length: -1", "Content-Length: abc", "Content-Length: 1e3"])],
      body,
      lie: "none",
    };
  }
  if (r < 0.88) {
    return { lines: ["Content-Length: 3", "Content-Length: 5"], body: "abc", lie: "none" };
  }
  if (r < 0.92) {
    return { lines: ["Transfer-Encoding: chunked"], body: "3\r\nabc\r\n0\r\n\r\n", lie: "none" };
  }
  if (r < 0.96) {
    return {
      lines: ["Transfer-Encoding: chunked"],
      body: rng.pick(["zz\r\nabc\r\n", "3\r\nabcdef\r\n0\r\n\r\n", "ffffffffffffffff\r\n"]),
      lie: "long",
    };
  }
  return {
    lines: ["Content-Length: 4", "Transfer-Encoding: chunked"],
    body: "0\r\n\r\nGET /health HTTP/1.1\r\nHost: localhost\r\n\r\n",
    lie: "short",
  };
}

/** One request's text and method. */
function request(
  rng: Prng,
  surface: Surface,
  proxyPort: number,
  last: boolean,
): { text: string; method: string; lie: string; proxyHeader: boolean } {
  const method = rng.chance(0.93) ? rng.pick(METHODS) : rng.pick(ODD_METHODS);
  const target = pathAndQuery(rng, surface);
  const version = rng.chance(0.9)
    ? "HTTP/1.1"
    : rng.pick(["HTTP/1.0", "HTTP/2.0", "HTTP/1.1 extra", "", "http/1.1", "HTTP/9.9"]);
  const requestLine = rng.chance(0.97) ? `${method} ${target} ${version}`.trimEnd() : rng.pick([
    `${method}  ${target} HTTP/1.1`,
    `${method} ${target}`,
    method,
    "\r\nGET / HTTP/1.1",
  ]);
  const extra = extraHeaders(rng, surface);
  const frame = framing(rng);
  const lines = [
    requestLine,
    ...hostHeader(rng, surface, proxyPort),
    ...extra.lines,
    // The last request asks the server to close after answering, as raw clients do.
    ...(last ? ["Connection: close"] : []),
    ...frame.lines,
  ];
  if (rng.chance(0.1)) {
    lines.splice(1 + rng.int(0, lines.length - 1), 0, rng.pick(ODD_STRINGS));
  }
  const eol = rng.chance(0.97) ? "\r\n" : rng.pick(["\n", "\r"]);
  return {
    text: lines.join(eol) + eol + eol + frame.body,
    method,
    lie: frame.lie,
    proxyHeader: extra.proxyHeader,
  };
}

/** Splits `text` into paced chunks (slowloris): many small writes with short pauses. */
function paced(rng: Prng, text: string): Step[] {
  const steps: Step[] = [];
  let off = 0;
  const pieces = rng.int(5, 15);
  const size = Math.max(1, Math.ceil(text.length / pieces));
  while (off < text.length) {
    steps.push({ send: text.slice(off, off + size) }, { pauseMs: rng.int(5, 40) });
    off += size;
  }
  return steps;
}

/** Whether a request may legitimately wait (prod approval, a long `wait_for_change`). */
function mayWait(text: string): boolean {
  return /level=prod|\/session|session=|wait_for_change=(true|on|yes|1)/i.test(text) ||
    /^(POST|GET|DELETE|PUT)[^\r\n]*\/session/m.test(text);
}

/** The text for a failure message: runs of one character collapsed, cut at 600 characters. */
function describeText(text: string): string {
  const collapsed = text.replace(/(.)\1{19,}/gs, (run, c) => `${c}{×${run.length}}`);
  return JSON.stringify(collapsed.length > 600 ? collapsed.slice(0, 600) + "…" : collapsed);
}

/** Draws one conversation for `surface`. */
export function fuzzCase(rng: Prng, surface: Surface, proxyPort: number): FuzzCase {
  const shape = rng.next();
  // Half-closing after the request is legal HTTP, but the gate reads a client's EOF as its
  // departure (how it notices a with-prod that died), so only the proxy gets half-closes.
  const ending: Step[] = surface === "proxy" && rng.chance(0.5) ? [{ closeWrite: true }] : [];
  if (shape < 0.06) {
    // Ends with a blank line, so the server has a whole "head" to refuse.
    const junk = new Uint8Array([...rng.bytes(rng.int(1, 3000)), 13, 10, 13, 10]);
    return {
      surface,
      label: `binary garbage (${junk.length} bytes)`,
      steps: [{ send: junk }, ...ending],
      methods: [],
      kind: "complete",
      proxyHeader: false,
    };
  }
  const count = shape < 0.16 ? rng.int(2, 5) : 1;
  const requests = Array.from(
    { length: count },
    (_, i) => request(rng, surface, proxyPort, i === count - 1),
  );
  const text = requests.map((r) => r.text).join("");
  const methods = requests.map((r) => r.method);
  const proxyHeader = requests.some((r) => r.proxyHeader);
  const slow = rng.chance(0.1);
  const label = `${count > 1 ? `pipelined x${count}` : "request"}${slow ? ", paced" : ""}: ` +
    describeText(text);
  const sendSteps: Step[] = slow ? paced(rng, text) : [{ send: text }];
  const midBody = requests.some((r) => r.lie === "long");
  // A client that announced more body than it sends is in the wrong and may be waited for
  // (the gate's own body deadline is pinned in http_edges_test.ts): it leaves after a moment.
  if (midBody || rng.chance(0.03)) {
    // Stops mid-message and stays: the client has gone quiet, not away.
    const cut = midBody ? text.length : rng.int(1, Math.max(1, text.length - 1));
    return {
      surface,
      label: `abandoned at ${cut}/${text.length}: ${label}`,
      steps: [{ send: text.slice(0, cut) }, { pauseMs: rng.int(50, 300) }],
      methods,
      kind: "abandoned",
      proxyHeader,
    };
  }
  // A head that never ends (bare-CR line ends): the gate ends it at its head deadline, the
  // proxy (Deno.serve) has none, so there the client gives up (a documented limit).
  const unterminated = !/\r\n\r\n|\n\n/.test(text.slice(text.lastIndexOf("HTTP/")));
  return {
    surface,
    label,
    steps: [...sendSteps, ...ending],
    methods,
    kind: mayWait(text) ? "held" : surface === "proxy" && unterminated ? "abandoned" : "complete",
    proxyHeader,
  };
}
