/**
 * The bench's baseline: a bare `Deno.serve` that answers every request with the bytes and headers
 * the metadata-proxy answered for a token. Usage: deno run --allow-net=127.0.0.1 bare_server.ts
 * '<json {"body": string, "headers": [[k, v], ...]}>' [reads]
 * With `reads`, it first reads what any metadata server must (method, URL and the five headers
 * the proxy's admission check looks at): the floor of a server that checks its requests.
 */
const { body, headers } = JSON.parse(Deno.args[0]) as {
  body: string;
  headers: [string, string][];
};
const bytes = new TextEncoder().encode(body);
const answer = () => new Response(bytes, { headers });
const reads = (request: Request) => {
  const h = request.headers;
  const ok = request.method === "GET" && request.url.length > 0 && h.get("host") !== null &&
    !h.has("x-forwarded-for") && !h.has("forwarded") && !h.has("x-real-ip") &&
    h.get("metadata-flavor") === "Google";
  return ok ? answer() : new Response("refused", { status: 403 });
};
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  Deno.args[1] === "reads" ? reads : answer,
);
console.log(`bare listening on http://127.0.0.1:${server.addr.port}`);
