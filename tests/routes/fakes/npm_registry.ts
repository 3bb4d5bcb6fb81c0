/**
 * A fake private npm registry: one scoped package (`@acme/secret-pkg`), its packument and its
 * tarball (a real gzip'd ustar archive built here, with the sha512 integrity npm checks), both
 * refused without the registry's bearer token. Real `npm install` through a route proves the token
 * arrived here (the request log) and the package installed.
 * @module
 */
import { type FakeUpstream, serveFake, type TestCa, text } from "./upstream.ts";
import { encodeBase64, encodeHex } from "./encoding.ts";

export const PACKAGE_NAME = "@acme/secret-pkg";
export const PACKAGE_VERSION = "1.0.0";
/** What the installed package's index.js exports (`module.exports = SECRET_PKG_VALUE`). */
export const SECRET_PKG_VALUE = "hello from the private registry";

export interface FakeRegistry extends FakeUpstream {
  /** Tarball downloads answered 200. */
  tarballs(): number;
}

/**
 * Starts the registry. `base` is the URL npm will be configured with (the route's URL, or the
 * fake's origin when reached directly): the packument's tarball URL is built from it, as a real
 * registry builds it from its public address.
 */
export async function serveRegistry(
  ca: TestCa,
  token: string,
  base: () => string,
): Promise<FakeRegistry> {
  const tarball = await packTarball({
    "package/package.json": JSON.stringify({
      name: PACKAGE_NAME,
      version: PACKAGE_VERSION,
      main: "index.js",
    }),
    "package/index.js": `module.exports = ${JSON.stringify(SECRET_PKG_VALUE)};\n`,
  });
  const integrity = `sha512-${
    encodeBase64(new Uint8Array(await crypto.subtle.digest("SHA-512", tarball)))
  }`;
  const shasum = encodeHex(new Uint8Array(await crypto.subtle.digest("SHA-1", tarball)));
  const tarballPath = `/${PACKAGE_NAME}/-/secret-pkg-${PACKAGE_VERSION}.tgz`;
  const packumentPaths = new Set([
    `/${PACKAGE_NAME}`,
    `/${PACKAGE_NAME.replace("/", "%2f")}`,
    `/${PACKAGE_NAME.replace("/", "%2F")}`,
  ]);

  const fake = serveFake(ca, (request, url) => {
    if (request.headers.get("authorization") !== `Bearer ${token}`) {
      return json(401, { error: "authentication required" });
    }
    const path = url.pathname;
    if (packumentPaths.has(path)) {
      const root = base().replace(/\/$/, "");
      return json(200, {
        name: PACKAGE_NAME,
        "dist-tags": { latest: PACKAGE_VERSION },
        versions: {
          [PACKAGE_VERSION]: {
            name: PACKAGE_NAME,
            version: PACKAGE_VERSION,
            main: "index.js",
            dist: { tarball: `${root}${tarballPath}`, integrity, shasum },
          },
        },
      });
    }
    if (path === tarballPath) {
      return new Response(tarball, {
        headers: { "content-type": "application/octet-stream" },
      });
    }
    return text(404, "not found\n");
  });
  return {
    ...fake,
    tarballs: () => fake.log.filter((r) => r.target === tarballPath && r.status === 200).length,
  };
}

function json(status: number, value: unknown): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** A gzip'd ustar archive of `files` (regular files, mode 0644). */
export async function packTarball(files: Record<string, string>): Promise<Uint8Array<ArrayBuffer>> {
  const encoder = new TextEncoder();
  const blocks: Uint8Array[] = [];
  for (const [name, content] of Object.entries(files)) {
    const data = encoder.encode(content);
    blocks.push(tarHeader(name, data.length));
    const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
    padded.set(data);
    blocks.push(padded);
  }
  blocks.push(new Uint8Array(1024));
  const tar = new Blob(blocks as BlobPart[]);
  const gz = tar.stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(gz).arrayBuffer());
}

function tarHeader(name: string, size: number): Uint8Array {
  const header = new Uint8Array(512);
  const put = (offset: number, value: string) =>
    header.set(new TextEncoder().encode(value), offset);
  const octal = (value: number, width: number) => value.toString(8).padStart(width - 1, "0");
  put(0, name);
  put(100, octal(0o644, 8));
  put(108, octal(0, 8));
  put(116, octal(0, 8));
  put(124, octal(size, 12));
  put(136, octal(0, 12));
  put(148, "        ");
  put(156, "0");
  put(257, "ustar\u000000");
  const sum = header.reduce((total, byte) => total + byte, 0);
  put(148, `${sum.toString(8).padStart(6, "0")}\u0000 `);
  return header;
}
