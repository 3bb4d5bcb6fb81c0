import assert from "node:assert/strict";
import {
  DEFAULT_METADATA_HOST,
  fetchMetadataToken,
  type HttpGet,
  KubeTokenError,
  TOKEN_PATH,
  tokenFromResponse,
  tokenUrl,
} from "../../src/kube/metadata_token.ts";
import { HttpDeadlineError, HttpProtocolError } from "../../src/http/raw_http.ts";
import { closedPort, startFakeMetadata, startStallingServer } from "./fake_metadata.ts";

Deno.test("tokenUrl accepts host and host:port forms", () => {
  assert.equal(tokenUrl(DEFAULT_METADATA_HOST), `http://127.0.0.1:8173${TOKEN_PATH}`);
  assert.equal(
    tokenUrl("metadata.google.internal"),
    `http://metadata.google.internal${TOKEN_PATH}`,
  );
  assert.equal(tokenUrl("[::1]:8173"), `http://[::1]:8173${TOKEN_PATH}`);
});

Deno.test("tokenUrl rejects a scheme, a path, spaces and bad ports with a clear message", () => {
  for (
    const bad of ["http://127.0.0.1:8173", "127.0.0.1:8173/x", "a b", "host:", "host:99999", ":80"]
  ) {
    assert.throws(() => tokenUrl(bad), (err: Error) => {
      assert.ok(err instanceof KubeTokenError);
      assert.match(err.message, /GCE_METADATA_HOST must be host or host:port/);
      return true;
    });
  }
});

Deno.test("tokenFromResponse returns the access token of a 200 answer", () => {
  assert.equal(tokenFromResponse("h", 200, '{"access_token":"ya29.a","expires_in":10}'), "ya29.a");
});

Deno.test("tokenFromResponse reports the status and the error field, never the raw body", () => {
  assert.throws(
    () => tokenFromResponse("h:1", 500, '{"error":"gate unreachable","access_token":"ya29.s"}'),
    /metadata server at h:1 answered HTTP 500: gate unreachable$/,
  );
  assert.throws(() => tokenFromResponse("h", 502, "ya29.secret-in-html"), (e: Error) => {
    assert.match(e.message, /answered HTTP 502$/);
    assert.doesNotMatch(e.message, /secret/);
    return true;
  });
});

Deno.test("tokenFromResponse rejects garbage JSON and answers without a token", () => {
  for (const body of ["ya29.secret not json", "[1]", "{}", '{"access_token":""}', "null"]) {
    assert.throws(() => tokenFromResponse("h", 200, body), (e: Error) => {
      assert.ok(e instanceof KubeTokenError);
      assert.doesNotMatch(e.message, /secret/);
      return true;
    });
  }
});

Deno.test("fetchMetadataToken asks the token path with Metadata-Flavor: Google", async () => {
  const fake = startFakeMetadata({ token: "ya29.good" });
  try {
    assert.equal(await fetchMetadataToken(fake.host), "ya29.good");
    assert.deepEqual(fake.requests, [{ path: TOKEN_PATH, flavor: "Google" }]);
  } finally {
    await fake.close();
  }
});

Deno.test("fetchMetadataToken: proxy down is a clear error naming the host", async () => {
  const host = `127.0.0.1:${closedPort()}`;
  await assert.rejects(
    fetchMetadataToken(host),
    (err: Error) => {
      assert.ok(err instanceof KubeTokenError);
      assert.match(err.message, new RegExp(`cannot reach the metadata server at ${host}`));
      assert.match(err.message, /connection refused/);
      assert.match(err.message, /metadata-proxy/);
      return true;
    },
  );
});

Deno.test("fetchMetadataToken: a server that stalls the body hits the deadline", async () => {
  const stall = startStallingServer(
    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{",
  );
  try {
    const started = performance.now();
    await assert.rejects(
      fetchMetadataToken(stall.host, { timeoutMs: 150 }),
      /timed out after 150 ms while waiting for a token from the metadata server/,
    );
    assert.ok(performance.now() - started < 2000);
  } finally {
    await stall.close();
  }
});

Deno.test("fetchMetadataToken maps transport errors to messages", async () => {
  const failWith = (err: Error): HttpGet => () => Promise.reject(err);
  const cases: [Error, RegExp][] = [
    [new Deno.errors.NotCapable('Requires net access to "x:1"'), /not permitted to reach h:1/],
    [new HttpDeadlineError("waiting", 5000), /timed out after 5000 ms/],
    [new HttpProtocolError("the answer is not HTTP/1.1"), /did not answer in HTTP/],
    [new Error("failed to lookup address information"), /host name not found/],
  ];
  for (const [err, pattern] of cases) {
    await assert.rejects(fetchMetadataToken("h:1", { get: failWith(err) }), pattern);
  }
});

Deno.test("fetchMetadataToken passes the 5 s deadline and the right request to its GET", async () => {
  const seen: unknown[] = [];
  const get: HttpGet = (host, path, headers, timeoutMs) => {
    seen.push({ host, path, headers, timeoutMs });
    return Promise.resolve({ status: 200, headers: new Map(), body: '{"access_token":"t"}' });
  };
  assert.equal(await fetchMetadataToken("h:2", { get }), "t");
  assert.deepEqual(seen, [{
    host: "h:2",
    path: TOKEN_PATH,
    headers: { "Metadata-Flavor": "Google", Accept: "application/json" },
    timeoutMs: 5000,
  }]);
});
