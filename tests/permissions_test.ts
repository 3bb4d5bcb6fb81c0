import assert from "node:assert/strict";
import { baseEnv } from "./helpers/cli.ts";
import {
  DAEMON_V8_FLAGS,
  denoFlags,
  grantsFor,
  type PermissionContext,
  sampleContext,
} from "../src/permissions.ts";
import { expectedRoleConfig } from "../scripts/deno_json_roles.ts";
import { shimText } from "../scripts/install.ts";

const PROBE = new URL("./fixtures/probe.ts", import.meta.url).pathname;

async function probe(flags: string[], ...args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...flags, PROBE, ...args],
    env: baseEnv(),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return text;
}

function contextIn(dir: string): PermissionContext {
  const ctx = sampleContext();
  ctx.home = `${dir}/home`;
  ctx.runtimeDir = `${dir}/run`;
  ctx.config.socket_path = `${dir}/run/gcp-authcalator.sock`;
  ctx.config.admin_socket_path = `${dir}/run/gcp-authcalator-admin/admin.sock`;
  return ctx;
}

/** The probe module itself must be readable: add it to a role's read list for the probe run. */
function withProbe(flags: string[]): string[] {
  const src = new URL("../src/", import.meta.url).pathname;
  const extra = [PROBE, src];
  const read = flags.find((f) => f.startsWith("--allow-read"));
  if (read === "--allow-read") return flags;
  if (read) return flags.map((f) => (f === read ? `${read},${extra.join(",")}` : f));
  return [...flags, `--allow-read=${extra.join(",")}`];
}

Deno.test("deno.json permission sets and role tasks match src/permissions.ts", async () => {
  const json = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  const expected = expectedRoleConfig();
  assert.deepEqual(
    json.permissions,
    expected.permissions,
    "run: deno run -A scripts/deno_json_roles.ts",
  );
  for (const [name, task] of Object.entries(expected.tasks)) {
    assert.equal(json.tasks[name], task, name);
  }
});

Deno.test("metadata-proxy cannot read gcloud credentials, spawn, or write outside its socket", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ctx = contextIn(dir);
    await Deno.mkdir(`${dir}/home/.config/gcloud`, { recursive: true });
    const adc = `${dir}/home/.config/gcloud/application_default_credentials.json`;
    await Deno.writeTextFile(adc, "{}");
    const flags = withProbe(denoFlags("metadata-proxy", ctx));
    assert.equal(await probe(flags, "read", adc), "NotCapable");
    assert.equal(await probe(flags, "run", "true"), "NotCapable");
    assert.equal(await probe(flags, "write", `${dir}/run/other`), "NotCapable");
    assert.equal(await probe(flags, "env", "GOOGLE_APPLICATION_CREDENTIALS"), "NotCapable");
    assert.equal(await probe(flags, "net", "127.0.0.1:1"), "NotCapable");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gate cannot run anything but the dialogs, nor write outside its directories", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ctx = contextIn(dir);
    const flags = withProbe(denoFlags("gate", ctx));
    assert.equal(await probe(flags, "run", "sh"), "NotCapable");
    assert.equal(await probe(flags, "write", `${dir}/elsewhere`), "NotCapable");
    assert.equal(await probe(flags, "read", "/etc/shadow"), "NotCapable");
    assert.equal(await probe(flags, "net", "127.0.0.1:1"), "NotCapable");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gate may load libc (kernel peer credentials) and no other library; the proxy none", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const gate = withProbe(denoFlags("gate", contextIn(dir)));
    assert.equal(await probe(gate, "ffi"), "OK");
    assert.equal(await probe(gate, "ffi", `${dir}/evil.so`), "NotCapable");
    const proxy = withProbe(denoFlags("metadata-proxy", contextIn(dir)));
    assert.equal(await probe(proxy, "ffi"), "NotCapable");
    assert.equal(await probe(["--allow-all"], "revoke", "metadata-proxy", "ffi"), "NotCapable");
    assert.equal(await probe(["--allow-all"], "revoke", "gate", "ffi"), "OK");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("kube-token may reach only loopback metadata hosts (any port: with-prod's proxy)", async () => {
  const flags = withProbe(
    denoFlags("kube-token", { ...sampleContext(), metadataHost: "127.0.0.1:8173" }),
  );
  assert.equal(await probe(flags, "net", "192.0.2.1:80"), "NotCapable");
  assert.equal(await probe(flags, "read", "/etc/hostname"), "NotCapable");
  assert.equal(await probe(flags, "env", "HOME"), "NotCapable");
});

Deno.test("a role started with -A drops the kinds it does not use before anything else", async () => {
  assert.equal(
    await probe(["--allow-all"], "revoke", "metadata-proxy", "run", "true"),
    "NotCapable",
  );
  assert.equal(
    await probe(["--allow-all"], "revoke", "kube-token", "write", "/tmp/x-probe"),
    "NotCapable",
  );
  // with-prod needs everything (it reads /proc and runs the wrapped command): nothing is dropped.
  assert.equal(await probe(["--allow-all"], "revoke", "with-prod", "run", "true"), "OK");
});

Deno.test("pinned flags are exact: no role but with-prod gets --allow-all", () => {
  for (
    const role of [
      "gate",
      "metadata-proxy",
      "admin-client",
      "kube-token",
      "kube-setup",
      "emulator",
    ] as const
  ) {
    const flags = denoFlags(role, sampleContext());
    assert.ok(!flags.includes("--allow-all"), role);
    assert.ok(flags.includes("--no-prompt"), role);
  }
  assert.deepEqual(grantsFor("with-prod", sampleContext()), { all: true });
});

Deno.test("the daemons get their V8 flags wherever their flags are given; other roles none", () => {
  const { tasks } = expectedRoleConfig();
  const shim = shimText({ deno: "/usr/bin/deno", checkout: "/src/authcalator", version: "0" });
  for (const role of ["gate", "metadata-proxy"] as const) {
    assert.ok(denoFlags(role, sampleContext()).includes(DAEMON_V8_FLAGS), role);
    assert.ok(tasks[role].split(" ").includes(DAEMON_V8_FLAGS), tasks[role]);
    assert.match(shim, new RegExp(`^  ${role}\\) set=${role} flags=${DAEMON_V8_FLAGS} ;;$`, "m"));
  }
  for (const role of ["admin-client", "kube-token", "kube-setup", "emulator"] as const) {
    assert.ok(!denoFlags(role, sampleContext()).some((f) => f.startsWith("--v8-flags")), role);
  }
  for (const command of ["pending", "kube-token", "with-prod", "version"]) {
    assert.ok(!tasks[command].includes("--v8-flags"), tasks[command]);
  }
  assert.ok(shim.includes("\n  pending|approve|deny) set=admin-client ;;\n"), shim);
});

Deno.test("pinnedFlags reads paths and ports from the command line it will run", async () => {
  const { pinnedFlags } = await import("../src/commands/permissions.ts");
  const env = { HOME: "/home/u", XDG_RUNTIME_DIR: "/run/user/7" };
  const proxy = pinnedFlags(
    "metadata-proxy",
    ["--socket-path", "/run/x/g.sock", "--port", "9999"],
    env,
  );
  assert.ok(
    proxy.includes("--allow-net=127.0.0.1:9999,unix:/run/x/g.sock,localhost"),
    proxy.join(" "),
  );
  // The API routes listener's port joins the proxy's net only when routes_port is set.
  const routed = pinnedFlags(
    "metadata-proxy",
    ["--socket-path", "/run/x/g.sock", "--port", "9999", "--routes-port", "9998"],
    env,
  );
  assert.ok(
    routed.includes("--allow-net=127.0.0.1:9999,127.0.0.1:9998,unix:/run/x/g.sock,localhost"),
    routed.join(" "),
  );
  const gate = pinnedFlags("gate", ["--google-api-base", "http://127.0.0.1:4444"], {
    ...env,
    GOOGLE_APPLICATION_CREDENTIALS: "/keys/adc.json",
  });
  assert.ok(
    gate.some((f) => f.startsWith("--allow-net=") && f.includes("127.0.0.1:4444")),
    gate.join(" "),
  );
  assert.ok(gate.some((f) => f.startsWith("--allow-read=/keys/adc.json,")), gate.join(" "));
  assert.throws(() => pinnedFlags("nope", [], env), /unknown command 'nope'/);
  assert.throws(
    () => pinnedFlags("metadata-proxy", ["--port", "x"], env),
    /port: must be a whole number/,
  );
});
