/**
 * The devcontainer recipe (examples/devcontainer) across a REAL container boundary (issue 8,
 * item 2). The host side is the shared launcher's emulator plus the recipe's host gate launcher
 * (pinned flags from `authcalator permissions gate`). The "container" is `bwrap` with its own PID,
 * network (own loopback), IPC, UTS and mount namespaces: a read-only /usr and /etc, the checkout
 * and Deno read-only, a private /tmp and HOME, and from the host only the gate socket (at the
 * recipe's mount target) and a results directory. Inside, the recipe's start script starts the
 * metadata proxy; Node, Python and gcloud get dev tokens; with-prod gets the prod token after an
 * approval made on the host's admin socket, and a container process outside with-prod's tree is
 * refused — with-prod's process-tree check working with the container's own PIDs.
 * Needs bubblewrap, node, python3-google-auth and gcloud (.ci/run installs the Debian ones).
 */
import assert from "node:assert/strict";
import { type Chain, PROJECT, SERVICE_ACCOUNT, startChain } from "../../src/testing/chain.ts";
import { ROOT, watchProcess } from "../helpers/cli.ts";
import { installAuthcalator, installedCheckout, stableTempDir } from "../helpers/install.ts";
import { denoDir, runExact } from "../kube/pinned.ts";

const RECIPE = `${ROOT}examples/devcontainer`;
const recipe = JSON.parse(await Deno.readTextFile(`${RECIPE}/devcontainer.json`));
/** The socket's path inside the container, from the recipe's mount. */
const SOCKET_TARGET = /target=([^,]+)/.exec(recipe.mounts[0])![1];

/** Which kind of token the emulator (Google) says this is. */
async function kindOf(chain: Chain, token: string): Promise<"prod" | "dev" | "invalid"> {
  const res = await fetch(
    `${chain.emulatorUrl}/tokeninfo?access_token=${encodeURIComponent(token)}`,
    { signal: AbortSignal.timeout(10_000) },
  );
  const info = await res.json();
  if (!res.ok) return "invalid";
  return info.access_type === "offline" ? "prod" : "dev";
}

/** `key: value` lines of a client's output. */
function values(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf(": ");
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 2);
  }
  return out;
}

/** The JSON body of a raw HTTP answer, and its status. */
function httpAnswer(raw: string): { status: number; body: string } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
  return { status, body: raw.slice(raw.indexOf("\r\n\r\n") + 4) };
}

Deno.test("devcontainer recipe: dev tokens for Node, Python, gcloud; with-prod's prod token, across namespaces", async () => {
  const dd = await denoDir();
  const installRoot = await stableTempDir("devcontainer-install-");
  const host = await Deno.makeTempDir({ prefix: "authcalator-devc-host-" });
  let chain: Chain | undefined;
  try {
    const authcalator = await installAuthcalator(installRoot, dd);
    const checkout = (await installedCheckout()).replace(/\/$/, "");
    chain = await startChain({
      dir: host,
      proxyPort: false,
      gateLauncher: { script: `${RECIPE}/host/authcalator-gate.sh`, authcalator },
    });
    // The launcher ran the gate under the pinned flags `authcalator permissions gate` printed.
    const gatePid = chain.gate.child.pid;
    const cmdline = (await Deno.readTextFile(`/proc/${gatePid}/cmdline`)).split("\0");
    assert.ok(cmdline.includes("--no-prompt"), cmdline.join(" "));
    assert.ok(cmdline.some((w) => w.startsWith(`--allow-net=unix:${chain!.socketPath}`)));
    assert.ok(!cmdline.includes("--allow-all"));

    const out = `${host}/out`;
    await Deno.mkdir(out);
    const deno = await Deno.realPath(Deno.execPath());
    const denoHome = deno.slice(0, deno.lastIndexOf("/"));
    const env: Record<string, string> = {
      ...recipe.remoteEnv,
      GCP_AUTHCALATOR_PROJECT_ID: PROJECT,
      GCP_AUTHCALATOR_SERVICE_ACCOUNT: SERVICE_ACCOUNT,
      PATH: `${installRoot}/bin:/usr/bin:/bin`,
      HOME: "/home/dev",
      DENO: deno,
      DENO_DIR: dd,
      NO_COLOR: "1",
      RUST_BACKTRACE: "0",
      DENO_NO_UPDATE_CHECK: "1",
      AUTHCALATOR_PROXY_LOG: "/tmp/metadata-proxy.log",
      CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: "true",
      CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: "true",
    };
    assert.equal(env.GCP_AUTHCALATOR_SOCKET_PATH, SOCKET_TARGET);
    const bwrapArgs = [
      "--unshare-pid",
      "--unshare-net",
      "--unshare-ipc",
      "--unshare-uts",
      "--die-with-parent",
      "--new-session",
      "--ro-bind",
      "/usr",
      "/usr",
      "--ro-bind",
      "/etc",
      "/etc",
      "--symlink",
      "usr/bin",
      "/bin",
      "--symlink",
      "usr/lib",
      "/lib",
      "--symlink",
      "usr/lib64",
      "/lib64",
      "--proc",
      "/proc",
      "--dev",
      "/dev",
      "--tmpfs",
      "/tmp",
      "--dir",
      "/home/dev",
      "--ro-bind",
      ROOT.replace(/\/$/, ""),
      ROOT.replace(/\/$/, ""),
      // The installed command and the checkout it runs (a mirror when this checkout is under a
      // temporary directory): outside ROOT in that case, so bound explicitly.
      "--ro-bind",
      installRoot,
      installRoot,
      "--ro-bind",
      checkout,
      checkout,
      "--ro-bind",
      denoHome,
      denoHome,
      "--ro-bind",
      dd,
      dd,
      "--bind",
      out,
      "/out",
      "--dir",
      SOCKET_TARGET.slice(0, SOCKET_TARGET.lastIndexOf("/")),
      "--bind",
      chain.socketPath,
      SOCKET_TARGET,
      "--chdir",
      "/home/dev",
      "/bin/bash",
      `${ROOT}tests/e2e/devcontainer/probe.sh`,
      ROOT.replace(/\/$/, ""),
    ];
    const container = watchProcess(
      new Deno.Command("bwrap", {
        args: bwrapArgs,
        env,
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn(),
    );
    try {
      // The approval is made on the host, on the admin socket the container never sees.
      const [, id] = await chain.gate.waitFor(/gate: pending approval ([0-9a-f]{32})/, 120_000);
      const approve = await runExact(
        authcalator,
        ["approve", id, "--yes", "--admin-socket-path", chain.adminSocketPath],
        { HOME: host, DENO_DIR: dd },
      );
      assert.equal(approve.code, 0, approve.stderr);
      const status = await container.exited(120_000);
      assert.equal(status.code, 0, container.output());
    } finally {
      await container.stop("SIGKILL");
    }
    const read = (name: string) => Deno.readTextFile(`${out}/${name}`).catch(() => "");
    const steps = Object.fromEntries(
      (await read("status")).trim().split("\n").map((l) => l.split("=")),
    );
    const report = async () =>
      JSON.stringify(
        Object.fromEntries(
          await Promise.all(
            ["start.txt", "node.txt", "python.txt", "gcloud.err", "with-prod.txt", "outsider.txt"]
              .map(async (n) => [n, await read(n)]),
          ),
        ),
        null,
        1,
      );
    const hasGcloud = await Deno.stat("/usr/bin/gcloud").then(() => true, () => false);
    if (!hasGcloud) {
      console.log(
        "gcloud: not installed (google-cloud-cli is not a Debian package); its step is skipped",
      );
    }
    assert.deepEqual(
      steps,
      {
        start: "0",
        "start-again": "0",
        node: "0",
        python: "0",
        gcloud: hasGcloud ? "0" : "skipped",
        "with-prod": "0",
        done: "0",
      },
      await report(),
    );
    assert.match(
      await read("start.txt"),
      /metadata proxy \(pid \d+\) listening on 127\.0\.0\.1:8173/,
    );
    assert.match(
      await read("start-again.txt"),
      /metadata proxy already answers on 127\.0\.0\.1:8173/,
    );

    // Dev tokens: the same dev-service-account token for Node, Python and gcloud.
    const nodeToken = values(await read("node.txt")).token;
    const pythonToken = values(await read("python.txt")).token;
    const gcloudToken = (await read("gcloud.txt")).trim();
    assert.equal(values(await read("node.txt"))["client type"], "Compute");
    assert.equal(values(await read("python.txt"))["email"], SERVICE_ACCOUNT);
    assert.equal(await kindOf(chain, nodeToken), "dev");
    assert.equal(pythonToken, nodeToken);
    if (hasGcloud) assert.equal(gcloudToken, nodeToken);

    // with-prod: the prod token for its own tree, found by the container's own PIDs.
    const prod = httpAnswer(await read("prod.txt"));
    assert.equal(prod.status, 200, await read("prod.txt"));
    const prodToken = JSON.parse(prod.body).access_token;
    assert.equal(await kindOf(chain, prodToken), "prod");
    assert.notEqual(prodToken, nodeToken);
    const childPid = Number(await read("wp-child-pid"));
    const probePid = Number(await read("probe-pid"));
    assert.ok(probePid > 0 && probePid < 10, `the probe runs as PID ${probePid} of the container`);
    assert.ok(childPid > probePid && childPid < 1000, `with-prod's child is PID ${childPid} there`);
    // ...and a process of the same container outside that tree is refused.
    const outsider = httpAnswer(await read("outsider.txt"));
    assert.equal(outsider.status, 403, await read("outsider.txt"));
    assert.ok(!outsider.body.includes(prodToken));

    // The admin socket and the host's files never entered the container.
    const audit = await Deno.readTextFile(chain.auditLogPath);
    assert.ok(
      !audit.includes(prodToken) && !audit.includes(nodeToken),
      "no token in the audit log",
    );
  } finally {
    await chain?.stop();
    await Deno.remove(host, { recursive: true });
    await Deno.remove(installRoot, { recursive: true });
  }
});

Deno.test("devcontainer recipe: the container's tasks carry exactly the pinned role flags", async () => {
  const { pinnedFlags } = await import("../../src/commands/permissions.ts");
  const tasks = JSON.parse(await Deno.readTextFile(`${RECIPE}/container/deno.json`)).tasks;
  /** Splits a task line into words, honouring single quotes (the task shell's quoting). */
  const words = (line: string) => [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]);
  const env = {
    HOME: "/home/dev",
    GCP_AUTHCALATOR_SOCKET_PATH: recipe.remoteEnv.GCP_AUTHCALATOR_SOCKET_PATH,
    GCP_AUTHCALATOR_PORT: recipe.remoteEnv.GCP_AUTHCALATOR_PORT,
    GCP_AUTHCALATOR_ROUTES_PORT: recipe.remoteEnv.GCP_AUTHCALATOR_ROUTES_PORT,
  };
  const flagsOf = (task: string) =>
    words(task).filter((w) =>
      w.startsWith("--allow-") || w === "--no-prompt" || w.startsWith("--v8-flags=")
    );
  assert.deepEqual(flagsOf(tasks["metadata-proxy"]), pinnedFlags("metadata-proxy", [], env));
  assert.deepEqual(flagsOf(tasks["kube-token"]), pinnedFlags("kube-token", [], env));
  assert.deepEqual(flagsOf(tasks["with-prod"]), ["--allow-all"]);
  assert.deepEqual(flagsOf(tasks["routes"]), pinnedFlags("routes", [], env));
  assert.deepEqual(flagsOf(tasks["git-setup"]), pinnedFlags("git-setup", [], env));
  for (const [name, line] of Object.entries(tasks) as [string, string][]) {
    assert.match(line, new RegExp(`jsr:@x/authcalator ${name}$`));
  }
  // The recipe mounts only the gate socket: never the admin socket.
  assert.equal(recipe.mounts.length, 1);
  assert.doesNotMatch(recipe.mounts[0], /admin/);
  assert.match(recipe.postStartCommand, /container\/start\.sh/);
});

Deno.test("devcontainer start script: a missing gate socket is a clear error, exit 1, bounded", async () => {
  const out = await runExact("/bin/sh", [`${RECIPE}/container/start.sh`], {
    GCP_AUTHCALATOR_SOCKET_PATH: "/nonexistent/gate.sock",
    GCE_METADATA_HOST: "127.0.0.1:1",
    AUTHCALATOR_PROXY_LOG: "/dev/null",
  });
  assert.equal(out.code, 1);
  assert.match(out.stderr, /the gate socket \/nonexistent\/gate\.sock is missing: start the gate/);
});

Deno.test("devcontainer host launcher: a missing config is a clear error, exit 2", async () => {
  const out = await runExact("/bin/sh", [`${RECIPE}/host/authcalator-gate.sh`], {
    HOME: "/nonexistent",
    AUTHCALATOR_GATE_CONFIG: "/nonexistent/gate.toml",
  });
  assert.equal(out.code, 2);
  assert.match(
    out.stderr,
    /no config at \/nonexistent\/gate\.toml \(copy gate\.toml\.example there\)/,
  );
});
