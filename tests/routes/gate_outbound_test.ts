/** HTTPS_PROXY / HTTP_PROXY / NO_PROXY for the gate's upstream calls, through a real loopback proxy. */
import assert from "node:assert/strict";
import { noProxyMatches, proxyFor, routeClient } from "../../src/routes/outbound.ts";
import type { RouteConfig } from "../../src/routes/route_config.ts";

Deno.test("proxy choice follows HTTPS_PROXY, HTTP_PROXY and NO_PROXY", () => {
  const env = { HTTPS_PROXY: "http://scanner:3128", http_proxy: "http://plain:3128" };
  assert.equal(proxyFor("https://api.github.com", env), "http://scanner:3128");
  assert.equal(proxyFor("http://127.0.0.1:9", env), "http://plain:3128");
  assert.equal(proxyFor("https://api.github.com", {}), undefined);
  assert.equal(proxyFor("https://api.github.com", { ...env, NO_PROXY: "github.com" }), undefined);
  assert.equal(proxyFor("https://api.github.com", { ...env, no_proxy: ".github.com" }), undefined);
  assert.equal(proxyFor("https://api.github.com", { ...env, NO_PROXY: "*" }), undefined);
  assert.equal(
    proxyFor("https://notgithub.com", { ...env, NO_PROXY: "github.com" }),
    "http://scanner:3128",
  );
  assert.equal(noProxyMatches(new URL("https://a.example:8443"), "a.example:443"), false);
  assert.equal(noProxyMatches(new URL("https://a.example:8443"), "a.example:8443"), true);
  assert.equal(noProxyMatches(new URL("http://[::1]:80"), "::1"), true);
});

Deno.test("the route's client really goes through the proxy, and not when NO_PROXY names the host", async () => {
  const proxied: string[] = [];
  const ac = new AbortController();
  // The "proxy": answers absolute-form requests itself and records them.
  const proxy = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: ac.signal,
    onListen: () => {},
  }, (req) => {
    proxied.push(req.url);
    return new Response("via proxy");
  });
  const upstream = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    () => new Response("direct"),
  );
  try {
    const route = {
      name: "r",
      origin: `http://127.0.0.1:${upstream.addr.port}`,
    } as RouteConfig;
    const proxyUrl = `http://127.0.0.1:${proxy.addr.port}`;
    const via = routeClient(route, { HTTP_PROXY: proxyUrl });
    assert.equal(await (await via.fetch(`${route.origin}/x`, {})).text(), "via proxy");
    via.close();
    assert.equal(proxied.length, 1);
    assert.match(proxied[0], /\/x$/);
    const direct = routeClient(route, { HTTP_PROXY: proxyUrl, NO_PROXY: "127.0.0.1" });
    assert.equal(await (await direct.fetch(`${route.origin}/x`, {})).text(), "direct");
    direct.close();
    assert.equal(proxied.length, 1);
  } finally {
    ac.abort();
    await Promise.all([proxy.finished, upstream.finished]);
  }
});

Deno.test("a ca_file that is missing or holds no certificate fails the route's setup", () => {
  const route = { name: "r", origin: "https://x.example", caFile: "/nope/ca.pem" } as RouteConfig;
  assert.throws(() => routeClient(route, {}), /routes.r.ca_file \/nope\/ca.pem does not exist/);
  assert.throws(() => routeClient(route, {}, () => "junk"), /holds no PEM certificate/);
});

Deno.test("an HTTPS upstream is trusted through the route's ca_file and only through it", async () => {
  const { issueTestCa, serveFake } = await import("./fakes/upstream.ts");
  const { forward } = await import("../../src/routes/forwarder.ts");
  const dir = await Deno.makeTempDir();
  const ca = await issueTestCa(dir);
  const fake = serveFake(ca, () => new Response("tls ok"));
  const base = {
    name: "tls",
    origin: fake.origin,
    basePath: "",
    credential: { kind: "env", name: "X" },
    auth: { kind: "bearer" },
    maxRequestBytes: 1024,
    maxResponseBytes: 1024,
    headersTimeoutMs: 10_000,
    idleTimeoutMs: 10_000,
    level: "dev",
    push: "refuse",
  } as RouteConfig;
  const call = (route: RouteConfig, client: ReturnType<typeof routeClient>) =>
    forward({
      route,
      method: "GET",
      target: { path: "/x", query: "" },
      headers: new Headers(),
      body: null,
      signal: new AbortController().signal,
      credential: "tls-secret",
    }, { fetch: client.fetch });
  const trusted = routeClient({ ...base, caFile: ca.caFile }, {});
  const untrusted = routeClient(base, {});
  try {
    const ok = await call({ ...base, caFile: ca.caFile }, trusted);
    assert.equal(await ok.response.text(), "tls ok");
    assert.equal(fake.log[0].headers["authorization"], "Bearer tls-secret");
    await assert.rejects(call(base, untrusted), /could not be reached/);
    assert.equal(fake.log.length, 1, "nothing reached the untrusted upstream");
  } finally {
    trusted.close();
    untrusted.close();
    await fake.close();
    await Deno.remove(dir, { recursive: true });
  }
});
