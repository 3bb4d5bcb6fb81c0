/**
 * A fake git host: Debian's real `git http-backend` (smart HTTP, protocol v0–v2, fetch and
 * receive-pack) behind a small CGI host on the loopback HTTPS fake upstream. It insists on the
 * credential a git host expects (`Authorization: Basic <user:token>`) and logs every request, so a
 * test driving real `git clone`/`fetch`/`push` through a route proves the credential arrived here.
 * Bodies stream both ways through the CGI child (no buffering).
 * @module
 */
import { type FakeUpstream, serveFake, type TestCa, text } from "./upstream.ts";

/** Where Debian keeps the backend. */
export const GIT_HTTP_BACKEND = "/usr/lib/git-core/git-http-backend";

/** How long the backend may take to start answering (a hang fails the request, bounded). */
const CGI_HEADER_TIMEOUT_MS = 15_000;

export interface GitServerOptions {
  /** Directory holding bare repositories (`<root>/<name>.git`). */
  projectRoot: string;
  /** The exact `Authorization` value required, e.g. `Basic base64("x-access-token:TOKEN")`. */
  authorization: string;
}

export interface FakeGitServer extends FakeUpstream {
  /** Pushes that the backend accepted (requests to git-receive-pack answered 200). */
  receivePacks(): number;
}

/** Starts the fake git host. */
export function serveGit(ca: TestCa, options: GitServerOptions): FakeGitServer {
  const fake = serveFake(ca, (request, url) => {
    if (request.headers.get("authorization") !== options.authorization) {
      return text(401, "authentication required\n", {
        "www-authenticate": 'Basic realm="fake git host"',
      });
    }
    return runCgi(request, url, options.projectRoot);
  });
  return {
    ...fake,
    receivePacks: () =>
      fake.log.filter((r) => r.target.endsWith("/git-receive-pack") && r.status === 200).length,
  };
}

/** Bare repository `<root>/<name>.git` with one commit on main (a file `README` saying `text`). */
export async function makeBareRepo(root: string, name: string, text: string): Promise<string> {
  const bare = `${root}/${name}.git`;
  const work = await Deno.makeTempDir({ prefix: "fake-git-work-" });
  try {
    await git(["init", "--quiet", "--bare", "--initial-branch=main", bare]);
    await git(["init", "--quiet", "--initial-branch=main", work]);
    await Deno.writeTextFile(`${work}/README`, text);
    await git(["-C", work, "add", "README"]);
    await git(["-C", work, "commit", "--quiet", "-m", "first"]);
    await git(["-C", work, "push", "--quiet", bare, "main"]);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
  return bare;
}

/** Git's identity and no host or user config: what every git run in these tests uses. */
export function gitEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: home,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_TERMINAL_PROMPT: "0",
    GIT_AUTHOR_NAME: "Test",
    GIT_AUTHOR_EMAIL: "test@example.invalid",
    GIT_COMMITTER_NAME: "Test",
    GIT_COMMITTER_EMAIL: "test@example.invalid",
    ...extra,
  };
}

/** Runs git with a clean environment; throws with its stderr when it fails. */
export async function git(
  args: string[],
  env: Record<string, string> = gitEnv(Deno.env.get("HOME") ?? "/tmp"),
): Promise<string> {
  const out = await new Deno.Command("git", {
    args,
    env,
    clearEnv: true,
    stdin: "null",
    signal: AbortSignal.timeout(60_000),
  }).output();
  if (!out.success) {
    throw new Error(`git ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

async function runCgi(request: Request, url: URL, projectRoot: string): Promise<Response> {
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    GIT_PROJECT_ROOT: projectRoot,
    GIT_HTTP_EXPORT_ALL: "1",
    GIT_CONFIG_NOSYSTEM: "1",
    HOME: projectRoot,
    REQUEST_METHOD: request.method,
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.slice(1),
    REMOTE_ADDR: "127.0.0.1",
    // An authenticated user is what lets http-backend serve receive-pack.
    REMOTE_USER: "fake-user",
    GATEWAY_INTERFACE: "CGI/1.1",
    SERVER_PROTOCOL: "HTTP/1.1",
  };
  const contentType = request.headers.get("content-type");
  if (contentType) env.CONTENT_TYPE = contentType;
  const contentLength = request.headers.get("content-length");
  if (contentLength) env.CONTENT_LENGTH = contentLength;
  const encoding = request.headers.get("content-encoding");
  if (encoding) env.HTTP_CONTENT_ENCODING = encoding;
  const protocol = request.headers.get("git-protocol");
  if (protocol) env.GIT_PROTOCOL = protocol;

  const child = new Deno.Command(GIT_HTTP_BACKEND, {
    env,
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const feed = request.body
    ? request.body.pipeTo(child.stdin).catch(() => {})
    : child.stdin.close();
  void feed;

  const reader = child.stdout.getReader();
  const timer = setTimeout(() => {
    try {
      child.kill();
    } catch { /* already gone */ }
  }, CGI_HEADER_TIMEOUT_MS);
  let head: { status: number; headers: Headers; rest: Uint8Array } | undefined;
  try {
    head = await readCgiHead(reader);
  } finally {
    clearTimeout(timer);
  }
  if (!head) {
    await child.status;
    return text(502, "git http-backend gave no headers\n");
  }
  const { rest } = head;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      if (rest.length) controller.enqueue(rest);
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) {
        controller.close();
        await child.status;
      } else controller.enqueue(value);
    },
    async cancel() {
      try {
        child.kill();
      } catch { /* already gone */ }
      await child.status;
    },
  });
  return new Response(body, { status: head.status, headers: head.headers });
}

/** Reads the CGI header block (up to the blank line); undefined when the child wrote none. */
async function readCgiHead(
  reader: ReadableStreamDefaultReader<Uint8Array>,
): Promise<{ status: number; headers: Headers; rest: Uint8Array } | undefined> {
  let buffer = new Uint8Array(0);
  while (true) {
    const end = headEnd(buffer);
    if (end) {
      const lines = new TextDecoder().decode(buffer.subarray(0, end.at)).split(/\r?\n/);
      const headers = new Headers();
      let status = 200;
      for (const line of lines) {
        const colon = line.indexOf(":");
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === "status") status = Number.parseInt(value, 10);
        else headers.append(name, value);
      }
      return { status, headers, rest: buffer.subarray(end.at + end.length) };
    }
    const { done, value } = await reader.read();
    if (done) return undefined;
    const next = new Uint8Array(buffer.length + value.length);
    next.set(buffer);
    next.set(value, buffer.length);
    buffer = next;
  }
}

function headEnd(buffer: Uint8Array): { at: number; length: number } | undefined {
  for (let i = 0; i < buffer.length - 1; i++) {
    if (buffer[i] === 10 && buffer[i + 1] === 10) return { at: i, length: 2 };
    if (
      buffer[i] === 13 && buffer[i + 1] === 10 && buffer[i + 2] === 13 && buffer[i + 3] === 10
    ) return { at: i, length: 4 };
  }
  return undefined;
}
