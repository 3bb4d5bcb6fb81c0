import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.ts";
import {
  credentialSource,
  type CredentialSourceDeps,
  CredentialUnavailableError,
} from "../../src/routes/credential_source.ts";

const SECRET = "s3cr3t-value-123";

function deps(env: Record<string, string> = {}, clock = new ManualClock()): CredentialSourceDeps {
  return { env: (n) => env[n], clock, uid: Deno.uid() ?? undefined, home: "/nonexistent" };
}

async function refused(p: Promise<unknown> | (() => Promise<unknown>), expected: RegExp) {
  const err = await (typeof p === "function" ? p() : p).then(() => undefined, (e) => e);
  assert.ok(err instanceof CredentialUnavailableError, String(err));
  assert.match(err.message, expected);
  assert.ok(!err.message.includes(SECRET), "the error must never hold the value");
}

Deno.test("env source: the value, trimmed; missing, empty and control bytes refused", async () => {
  const src = (env: Record<string, string>) =>
    credentialSource("r", { kind: "env", name: "TOK" }, deps(env));
  assert.equal(await src({ TOK: ` ${SECRET}\n` }).get(), SECRET);
  await refused(() => src({}).get(), /environment variable TOK is not set/);
  await refused(() => src({ TOK: "  " }).get(), /is empty/);
  await refused(() => src({ TOK: `${SECRET}\r\nX-Evil: 1` }).get(), /control or non-ASCII/);
});

Deno.test("file source: owner-only, re-read when it changes; missing and loose refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/token`;
    const src = credentialSource("r", { kind: "file", path }, deps());
    await refused(() => src.get(), /does not exist/);
    await Deno.writeTextFile(path, `${SECRET}\n`, { mode: 0o600 });
    await Deno.chmod(path, 0o600);
    assert.equal(await src.get(), SECRET);
    // Rotated: a new value with a different size is picked up at once.
    await Deno.writeTextFile(path, "rotated-value-4567890\n");
    assert.equal(await src.get(), "rotated-value-4567890");
    await Deno.chmod(path, 0o644);
    await refused(() => src.get(), /readable by others \(chmod 600 it\)/);
    await Deno.chmod(path, 0o600);
    await Deno.writeTextFile(path, "\n");
    await refused(() => src.get(), /is empty/);
    await refused(
      () => credentialSource("r", { kind: "file", path: dir }, deps()).get(),
      /is not a file/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("command source: output cached for its time; failure, hang and silence refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const counter = `${dir}/runs`;
    const clock = new ManualClock();
    const cmd = (script: string, timeoutMs = 5000, cacheMs = 60_000) =>
      credentialSource("r", {
        kind: "command",
        argv: ["sh", "-c", script],
        timeoutMs,
        cacheMs,
      }, deps({}, clock));
    const src = cmd(`echo x >> ${counter}; echo ${SECRET}`);
    const [a, b] = await Promise.all([src.get(), src.get()]);
    assert.equal(a, SECRET);
    assert.equal(b, SECRET);
    assert.equal(await src.get(), SECRET);
    assert.equal((await Deno.readTextFile(counter)).split("\n").length - 1, 1, "one run, shared");
    clock.advance(60_001);
    assert.equal(await src.get(), SECRET);
    assert.equal(
      (await Deno.readTextFile(counter)).split("\n").length - 1,
      2,
      "re-run after cache",
    );

    await refused(() => cmd(`echo ${SECRET} >&2; exit 3`).get(), /failed \(exit 3\)/);
    await refused(() => cmd("true").get(), /printed nothing/);
    await refused(() => cmd("exec sleep 30", 300).get(), /did not finish within 0.3s \(killed\)/);
    await refused(
      () =>
        credentialSource("r", {
          kind: "command",
          argv: [`${dir}/no-such-tool`],
          timeoutMs: 1000,
          cacheMs: 0,
        }, deps()).get(),
      /was not found/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
