/** Bearer token files: read on every call; missing, empty and malformed files are named errors. */
import assert from "node:assert/strict";
import { readBearerToken, TokenFileError } from "../../src/gate_api/token_file.ts";

const dir = await Deno.makeTempDir();
const signal = () => AbortSignal.timeout(5_000);

async function refused(path: string, pattern: RegExp): Promise<void> {
  const err = await readBearerToken(path, signal()).then(() => undefined, (e) => e);
  assert.ok(err instanceof TokenFileError, String(err));
  assert.match(err.message, pattern);
  assert.ok(err.message.includes(path));
}

Deno.test("the token is read fresh on every call, whitespace trimmed", async () => {
  const path = `${dir}/token`;
  await Deno.writeTextFile(path, "first.jwt.value\n");
  assert.equal(await readBearerToken(path, signal()), "first.jwt.value");
  await Deno.writeTextFile(`${path}.new`, "second.jwt.value");
  await Deno.rename(`${path}.new`, path);
  assert.equal(await readBearerToken(path, signal()), "second.jwt.value");
});

Deno.test("a missing file, an empty one and a directory are refused by name", async () => {
  await refused(`${dir}/absent`, /does not exist.*gate_token_file/);
  await Deno.writeTextFile(`${dir}/empty`, " \n");
  await refused(`${dir}/empty`, /is empty/);
  await Deno.mkdir(`${dir}/sub`);
  await refused(`${dir}/sub`, /not a regular file/);
});

Deno.test("a token a header cannot carry is refused without echoing it", async () => {
  await Deno.writeTextFile(`${dir}/split`, "abc\r\nX-Injected: yes");
  const err = await readBearerToken(`${dir}/split`, signal()).then(() => undefined, (e) => e);
  assert.ok(err instanceof TokenFileError);
  assert.match(err.message, /characters an Authorization header cannot carry/);
  assert.doesNotMatch(err.message, /Injected|abc/);
});

Deno.test("an oversized file is refused", async () => {
  await Deno.writeTextFile(`${dir}/big`, "a".repeat(70 * 1024));
  await refused(`${dir}/big`, /larger than 65536 bytes/);
});

Deno.test("a file emptied and rewritten in place is read once rewritten", async () => {
  const path = `${dir}/inplace`;
  await Deno.writeTextFile(path, "");
  const read = readBearerToken(path, signal());
  await Deno.writeTextFile(path, "rewritten.token");
  assert.equal(await read, "rewritten.token");
});

Deno.test("an aborted read rejects with the signal's reason", async () => {
  await Deno.writeTextFile(`${dir}/empty2`, "");
  const stop = new AbortController();
  const read = readBearerToken(`${dir}/empty2`, stop.signal);
  stop.abort(new Error("caller gone"));
  await assert.rejects(read, /caller gone/);
});

Deno.test("teardown", async () => {
  await Deno.remove(dir, { recursive: true });
});
