/**
 * The GCE metadata server as a Hono app: the route tree a VM exposes, with the real server's
 * headers, redirects, listings, `recursive`/`alt`, ETags and `wait_for_change`, plus the
 * gate-facing `/identity` and `/session-health`. The backend decides where credentials come from,
 * so the dev proxy and with-prod's temporary proxy share this factory.
 * @module
 */
import { type Context, Hono } from "hono";
import { type Clock, systemClock } from "../clock.ts";
import { HttpError, messageOf } from "../errors.ts";
import { secondsUntil } from "../token_cache.ts";
import { admissionCheck, requestUrl } from "./admission.ts";
import type { MetadataBackend } from "./backend.ts";
import { ChangeWaits, etagOf, type Scheduler } from "./change_wait.ts";
import { parseIdentityQuery, parseScopes, parseValueQuery, type ValueQuery } from "./query.ts";
import {
  badRequest,
  errorJson,
  errorPage,
  JSON_TYPE,
  respond,
  TEXT,
  withStandardHeaders,
} from "./responses.ts";
import type { MetadataStore } from "./store.ts";
import {
  leafJson,
  leafText,
  listing,
  loadLeaf,
  lookup,
  type MetaNode,
  renderJson,
  renderTextLines,
  toPlain,
} from "./tree.ts";
import { buildRootTree } from "./vm_tree.ts";

/** Decides whether a request may proceed; a Response ends it (the standard headers are added). */
export type RequestGuard = (
  request: Request,
  info: Deno.ServeHandlerInfo | undefined,
) => Response | undefined | Promise<Response | undefined>;

/** Everything a metadata app is built from. */
export interface MetadataAppOptions {
  backend: MetadataBackend;
  store: MetadataStore;
  clock?: Clock;
  /** Timer for `wait_for_change` timeouts (tests pass a manual one). */
  scheduler?: Scheduler;
  /** Most concurrent `wait_for_change` requests. */
  maxWaiters?: number;
  /** Runs before everything else (with-prod's caller check). */
  guard?: RequestGuard;
  /** Accepts or refuses the request's `Host` header (DNS-rebinding defence); absent: any. */
  hostAllowed?: (host: string | null) => boolean;
  /** Aborting releases hanging requests so the server can shut down. */
  stop?: AbortSignal;
  /** Where failures are reported (one line each, never a token). */
  log?: (line: string) => void;
}

/** A built app and the waiters it holds. */
export interface MetadataApp {
  app: Hono<MetadataEnv>;
  waits: ChangeWaits;
  /** What to mount on Deno.serve: a fast path for warm default-token reads, else `app.fetch`. */
  handler: (request: Request, info?: Deno.ServeHandlerInfo) => Response | Promise<Response>;
}

const TOKEN_PREFIX = "/computeMetadata/v1/instance/service-accounts/";

/** Hono bindings: on Deno.serve, `c.env` is the connection info. */
export type MetadataEnv = { Bindings: Deno.ServeHandlerInfo | undefined };

/** A value ready to send: body, content type and the ETag of its default representation. */
interface Rendered {
  body: string;
  contentType: string;
  etag: string;
}

/** Builds the metadata app. */
export function createMetadataApp(options: MetadataAppOptions): MetadataApp {
  const { backend, store } = options;
  const clock = options.clock ?? systemClock;
  const log = options.log ?? ((line: string) => console.error(line));
  const waits = new ChangeWaits({
    feed: store.feed,
    scheduler: options.scheduler,
    maxWaiters: options.maxWaiters,
    stop: options.stop,
  });
  const app = new Hono<MetadataEnv>();
  const admit = admissionCheck(options.hostAllowed);

  const fail = (c: Context<MetadataEnv>, err: unknown): Response => {
    const path = requestUrl(c.req.url).pathname;
    if (err instanceof HttpError) {
      if (err.status >= 500) log(`GET ${path} -> ${err.status}: ${err.message}`);
      return err.status === 400 ? badRequest(err.message) : errorJson(err);
    }
    log(`GET ${path} -> 500: ${messageOf(err)}`);
    return errorJson(new HttpError(500, "internal error in the metadata server"));
  };

  app.onError((err, c) => withStandardHeaders(fail(c, err)));

  app.use("*", async (c, next) => {
    const req = c.req.raw;
    const url = requestUrl(req.url);
    const path = url.pathname;
    if (options.guard) {
      const refused = await options.guard(req, c.env);
      if (refused) return withStandardHeaders(refused);
    }
    const refused = admit(req.method, req.headers, path, url.search !== "");
    if (refused) return refused;
    await next();
  });

  app.get("/identity", async (c) => {
    try {
      const email = await backend.identityEmail();
      return respond(200, JSON.stringify({ email }), JSON_TYPE);
    } catch (err) {
      return fail(c, err);
    }
  });

  if (backend.sessionHealth) {
    const check = backend.sessionHealth.bind(backend);
    app.get("/session-health", async () => {
      try {
        await check();
        return respond(200, JSON.stringify({ status: "ok" }), JSON_TYPE);
      } catch (err) {
        return respond(503, JSON.stringify({ error: messageOf(err) }), JSON_TYPE);
      }
    });
  }

  const locate = (segments: string[]): MetaNode | undefined =>
    lookup(buildRootTree(store.values, backend), segments);

  /** Renders the node at `segments`, or undefined when it does not exist (now). */
  const render = async (
    segments: string[],
    q: ValueQuery,
  ): Promise<Rendered | undefined> => {
    const node = locate(segments);
    if (!node || node.kind === "endpoint") return undefined;
    if (node.kind === "dir") {
      if (!q.recursive) {
        if (q.alt === "json") {
          throw new HttpError(400, "alt=json needs recursive=true on a directory");
        }
        const body = listing(node);
        return { body, contentType: TEXT, etag: etagOf(body) };
      }
      const plain = (await toPlain(node)) ?? {};
      const json = renderJson(plain);
      return q.alt === "text"
        ? { body: renderTextLines(plain), contentType: TEXT, etag: etagOf(json) }
        : { body: json, contentType: JSON_TYPE, etag: etagOf(json) };
    }
    const leaf = await loadLeaf(node);
    if (!leaf) return undefined;
    const jsonByDefault = leaf.kind === "list" && leaf.json === true;
    const byDefault = jsonByDefault ? leafJson(leaf) : leafText(leaf);
    const etag = etagOf(byDefault);
    if (q.alt === "json") return { body: leafJson(leaf), contentType: JSON_TYPE, etag };
    if (q.alt === "text") return { body: leafText(leaf), contentType: TEXT, etag };
    return { body: byDefault, contentType: jsonByDefault ? JSON_TYPE : TEXT, etag };
  };

  const serveToken = async (params: URLSearchParams): Promise<Response> => {
    const scopes = parseScopes(params, store.values.scopes);
    const q = parseValueQuery(params);
    if (q.waitForChange) throw new HttpError(400, "wait_for_change is not supported for token");
    const token = await backend.token(scopes);
    const expiresIn = secondsUntil(token.expiresAt, clock.now());
    if (expiresIn <= 0) throw new HttpError(503, "the access token has expired; retry");
    if (q.alt === "text") {
      const body = `access_token ${token.accessToken}\nexpires_in ${expiresIn}\ntoken_type Bearer`;
      return respond(200, body, TEXT);
    }
    const body = JSON.stringify({
      access_token: token.accessToken,
      expires_in: expiresIn,
      token_type: "Bearer",
    });
    return respond(200, body, JSON_TYPE);
  };

  const serveIdentity = async (params: URLSearchParams): Promise<Response> => {
    const { audience, format } = parseIdentityQuery(params);
    if (parseValueQuery(params).waitForChange) {
      throw new HttpError(400, "wait_for_change is not supported for identity");
    }
    return respond(200, await backend.idToken(audience, format), TEXT);
  };

  app.get("*", async (c) => {
    const req = c.req.raw;
    const url = requestUrl(req.url);
    // First-party agents send `v1//?recursive=true`; GCE treats repeated slashes as one.
    const path = url.pathname.replace(/\/{2,}/g, "/");
    let segments: string[];
    try {
      segments = path.split("/").filter((s) => s !== "").map(decodeURIComponent);
    } catch {
      return errorPage(404, path);
    }
    const wantsDir = path.endsWith("/");
    try {
      const node = locate(segments);
      if (!node) return errorPage(404, path);
      if (node.kind === "dir" && !wantsDir) {
        const host = req.headers.get("host") ?? url.host;
        return respond(301, `${path}/\n`, "text/html", {
          Location: `http://${host}${path}/${url.search}`,
        });
      }
      if (node.kind !== "dir" && wantsDir) return errorPage(404, path);
      if (node.kind === "endpoint") {
        return node.name === "token"
          ? await serveToken(url.searchParams)
          : await serveIdentity(url.searchParams);
      }
      const q = parseValueQuery(url.searchParams);
      if (q.waitForChange) {
        if (node.kind === "dir" && !q.recursive) {
          throw new HttpError(400, "wait_for_change on a directory needs recursive=true");
        }
        await waits.wait({
          lastEtag: q.lastEtag,
          timeoutMs: q.timeoutMs,
          current: async () => (await render(segments, q))?.etag ?? "",
          signal: req.signal,
        });
      }
      const out = await render(segments, q);
      if (!out) return errorPage(404, path);
      return respond(200, out.body, out.contentType, { ETag: out.etag });
    } catch (err) {
      return fail(c, err);
    }
  });

  const fetch = (request: Request, info?: Deno.ServeHandlerInfo) => app.fetch(request, info);
  // A guard may await (with-prod's caller check) and a backend without a synchronous cache has
  // nothing warm to serve: either way every request takes the full app.
  const cachedToken = !options.guard && backend.cachedToken?.bind(backend);
  if (!cachedToken) return { app, waits, handler: fetch };

  const defaultTokenPath = `${TOKEN_PREFIX}default/token`;
  let emailPathOf: unknown;
  let emailTokenPath = "";
  const isTokenPath = (path: string) => {
    if (path === defaultTokenPath) return true;
    if (emailPathOf !== store.values) {
      emailPathOf = store.values;
      emailTokenPath = `${TOKEN_PREFIX}${store.values.serviceAccountEmail}/token`;
    }
    return path === emailTokenPath;
  };
  // The last answer, reused while the token and its whole seconds left are the same.
  let lastToken: unknown;
  let lastExpiresIn = 0;
  let lastBody = "";

  /**
   * The request every client makes most: the default token, already cached. It is answered
   * without routing or awaiting, with exactly the bytes and headers the Hono route would send,
   * after the same admission check (one home: ./admission.ts); anything else (a query, a cold
   * cache, another path or method) takes the full app.
   */
  const handler = (
    request: Request,
    info?: Deno.ServeHandlerInfo,
  ): Response | Promise<Response> => {
    if (request.method !== "GET") return fetch(request, info);
    const url = request.url;
    const path = url.slice(url.indexOf("/", url.indexOf("//") + 2));
    if (!isTokenPath(path)) return fetch(request, info);
    const refused = admit("GET", request.headers, path, false);
    if (refused) return refused;
    const token = cachedToken(store.values.scopes);
    if (!token) return fetch(request, info);
    const expiresIn = secondsUntil(token.expiresAt, clock.now());
    if (expiresIn <= 0) return fetch(request, info);
    if (token !== lastToken || expiresIn !== lastExpiresIn) {
      lastBody = `{"access_token":${JSON.stringify(token.accessToken)},"expires_in":${expiresIn},` +
        `"token_type":"Bearer"}`;
      lastToken = token;
      lastExpiresIn = expiresIn;
    }
    return respond(200, lastBody, JSON_TYPE);
  };

  return { app, waits, handler };
}
