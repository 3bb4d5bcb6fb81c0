/**
 * The bench's baseline: a bare `Deno.serve` that answers every request with the bytes and headers
 * the metadata-proxy answered for a token. Usage: deno run --allow-net=127.0.0.1 bare_server.ts
 * '<json {"body": string, "headers": [[k, v], ...]}>'
 */
const { body, headers } = JSON.parse(Deno.args[0]) as {
  body: string;
  headers: [string, string][];
};
const bytes = new TextEncoder().encode(body);
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  () => new Response(bytes, { headers }),
);
console.log(`bare listening on http://127.0.0.1:${server.addr.port}`);
