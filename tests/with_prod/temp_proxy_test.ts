/** The temporary proxy over the real /proc: our process tree gets tokens, anyone else 403. */
import assert from "node:assert/strict";
import {
  MAX_LOGGED_REFUSALS,
  prodBackend,
  refusalLog,
  startTempProxy,
} from "../../src/with_prod/temp_proxy.ts";
import { realProcFS } from "../../src/with_prod/proc_fs.ts";
import { detectParentSession } from "../../src/with_prod/nested.ts";

function start(logs: string[], healthy = { ok: true }) {
  return startTempProxy({
    backend: prodBackend({
      email: "eng@example.com",
      token: () => Promise.resolve({ accessToken: "ya29.prod-x", expiresAt: Date.now() + 600_000 }),
      projectNumber: () => Promise.resolve("123"),
      universeDomain: () => Promise.resolve("googleapis.com"),
      sessionHealth: () =>
        healthy.ok ? Promise.resolve() : Promise.reject(new Error("session ended")),
    }),
    project: "prod-proj",
    email: "eng@example.com",
    scopes: ["https://www.googleapis.com/auth/cloud-platform"],
    ancestor: Deno.pid,
    proc: realProcFS,
    log: (l) => logs.push(l),
  });
}

/** A raw HTTP GET from bash (so the caller is a separate process), returning the whole answer. */
function bashGet(port: number, path: string): string {
  return `exec 3<>/dev/tcp/127.0.0.1/${port}; printf 'GET ${path} HTTP/1.1\\r\\nHost: 127.0.0.1:${port}\\r\\nMetadata-Flavor: Google\\r\\nConnection: close\\r\\n\\r\\n' >&3; cat <&3`;
}

const TOKEN = "/computeMetadata/v1/instance/service-accounts/default/token";

Deno.test("a grandchild gets the token; a reparented process gets 403 on every path", async () => {
  const logs: string[] = [];
  const proxy = start(logs);
  const dir = await Deno.makeTempDir();
  try {
    // child bash -> grandchild bash -> request
    const inside = await new Deno.Command("bash", {
      args: ["-c", `bash -c "${bashGet(proxy.port, TOKEN).replaceAll('"', '\\"')}"`],
      stdout: "piped",
    }).output();
    const text = new TextDecoder().decode(inside.stdout);
    assert.match(text, /^HTTP\/1\.1 200/);
    assert.match(text, /"access_token":"ya29\.prod-x"/);
    // Outside: the requester's parent exits first, so it is reparented away from this process.
    for (
      const [i, path] of [TOKEN, "/", "/computeMetadata/v1/project/project-id", "/session-health"]
        .entries()
    ) {
      const out = `${dir}/out-${i}`;
      await Deno.writeTextFile(
        `${dir}/get-${i}.sh`,
        `${bashGet(proxy.port, path)} > ${out}.tmp; mv ${out}.tmp ${out}\n`,
      );
      await new Deno.Command("bash", {
        args: ["-c", `(setsid bash ${dir}/get-${i}.sh &); exit 0`],
      }).output();
      let answer: string | undefined;
      for (let n = 0; n < 400 && answer === undefined; n++) {
        await new Promise((r) => setTimeout(r, 25));
        answer = await Deno.readTextFile(out).catch(() => undefined);
      }
      assert.match(answer ?? "(no answer)", /^HTTP\/1\.1 403/, path);
      assert.ok(!answer!.includes("ya29"), path);
    }
    assert.ok(logs.some((l) => /refused a metadata request: process \d+ is outside/.test(l)));
  } finally {
    await proxy.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nested detection: a live parent proxy is found, without minting", async () => {
  const logs: string[] = [];
  const health = { ok: true };
  const proxy = start(logs, health);
  try {
    // This test process is the proxy's ancestor, so its own probes are allowed.
    const found = await detectParentSession({ GCP_AUTHCALATOR_PROD_SESSION: proxy.host }, () => {});
    assert.deepEqual(found, {
      metadataHost: proxy.host,
      email: "eng@example.com",
      projectId: "prod-proj",
    });
    health.ok = false;
    assert.equal(
      await detectParentSession({ GCP_AUTHCALATOR_PROD_SESSION: proxy.host }, () => {}),
      undefined,
    );
  } finally {
    await proxy.stop();
  }
});

Deno.test("nested detection follows only literal loopback hosts", async () => {
  const warnings: string[] = [];
  const calls: string[] = [];
  const fetchFn = ((url: string) => {
    calls.push(url);
    return Promise.reject(new Error("no"));
  }) as unknown as typeof fetch;
  for (const bad of ["evil.example:80", "10.0.0.1:80", "user@127.0.0.1:1", "127.0.0.1:1/x"]) {
    assert.equal(
      await detectParentSession(
        { GCP_AUTHCALATOR_PROD_SESSION: bad },
        (w) => warnings.push(w),
        fetchFn,
      ),
      undefined,
    );
  }
  assert.equal(calls.length, 0);
  assert.equal(warnings.length, 4);
  assert.equal(await detectParentSession({}, (w) => warnings.push(w), fetchFn), undefined);
  assert.equal(
    await detectParentSession({ GCP_AUTHCALATOR_PROD_SESSION: "[::1]:9" }, () => {}, fetchFn),
    undefined,
  );
  assert.equal(calls.length, 1);
});

Deno.test("refusals are logged once per process, and the set of processes is bounded", () => {
  const lines: string[] = [];
  const log = refusalLog((l) => lines.push(l), 3);
  log(10, "process 10 is outside");
  log(10, "process 10 is outside");
  log(11, "process 11 is outside");
  log(12, "process 12 is outside");
  for (let pid = 13; pid < 1000; pid++) log(pid, `process ${pid} is outside`);
  assert.deepEqual(lines, [
    "with-prod: refused a metadata request: process 10 is outside",
    "with-prod: refused a metadata request: process 11 is outside",
    "with-prod: refused a metadata request: process 12 is outside",
    "with-prod: refused requests from 3 outside processes; further refusals are not logged",
  ]);
  assert.equal(MAX_LOGGED_REFUSALS, 256);
});
