/**
 * The import-cost probe: imports the modules named on the command line, then listens like the
 * bare baseline (one Deno.serve on loopback) and answers one request, so its idle RSS minus the
 * bare server's is what those imports cost. Usage: deno run -A import_probe.ts <specifier>...
 * @module
 */
for (const specifier of Deno.args) await import(specifier);
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  () => new Response("ok"),
);
await (await fetch(`http://127.0.0.1:${server.addr.port}/`)).text();
console.log(`probe ready on ${server.addr.port}`);
