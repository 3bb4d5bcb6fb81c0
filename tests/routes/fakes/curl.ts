/**
 * curl as the safety rules' client: it sends exactly the request line asked for (`--path-as-is`,
 * `--request-target`), so traversal and absolute-form attempts reach the proxy unnormalised.
 * @module
 */

export interface CurlResult {
  /** HTTP status, or 0 when curl got no answer. */
  status: number;
  /** The response head as received. */
  head: string;
  body: string;
  /** curl's exit code (0 = transfer completed). */
  code: number;
}

/** Runs `curl <args> <url>` (bounded by `--max-time`). */
export async function curl(url: string, args: string[] = []): Promise<CurlResult> {
  const out = await new Deno.Command("curl", {
    args: [
      "--silent",
      "--show-error",
      "--path-as-is",
      "--max-time",
      "30",
      "--dump-header",
      "/dev/stderr",
      "--write-out",
      "\n%{http_code}",
      ...args,
      url,
    ],
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    stdin: "null",
    signal: AbortSignal.timeout(40_000),
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const cut = stdout.lastIndexOf("\n");
  return {
    status: Number(stdout.slice(cut + 1)) || 0,
    body: stdout.slice(0, cut),
    head: new TextDecoder().decode(out.stderr),
    code: out.code,
  };
}
