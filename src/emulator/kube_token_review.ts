/**
 * A Kubernetes API server stand-in that answers TokenReview as the real one does, over HTTPS on
 * loopback with a test CA, so the gate's TokenReview verifier (src/kube/token_review.ts) is
 * exercised against real TLS and real shapes: `201 Created` with the request's spec echoed (token
 * included, as the real API server does), `status.authenticated` and `status.user` for a genuine
 * token, `status.audiences` as the intersection of the token's and the asked audiences, no
 * `authenticated` and an `error` string otherwise, and a `Status` object with 401 for an unknown
 * reviewer token or 403 for a reviewer without the `system:auth-delegator` binding.
 *
 * Tokens are JWT-shaped (`exp`, `aud`, `sub`) and known by value; faults make the API hang (until
 * the client gives up or the stand-in closes), answer garbage, or fail with a 500.
 * @module
 */

/** The audience the real API server assumes when a review names none. */
export const API_SERVER_AUDIENCE = "https://kubernetes.default.svc.cluster.local";

/** What the stand-in does with the next reviews. */
export type KubeApiFault = "none" | "hang" | "garbage" | "error500";

/** Options of {@link startKubeApiStandIn}. */
export interface KubeApiStandInOptions {
  /** PEM certificate and key the API server presents (signed by the test CA). */
  cert: string;
  key: string;
  /** Reviewer tokens: "allowed" may create tokenreviews, "forbidden" is authenticated but not. */
  reviewers: Record<string, "allowed" | "forbidden">;
  /** Seconds since the epoch, for expiry (default: the real clock). */
  now?: () => number;
}

interface Issued {
  username: string;
  uid: string;
  audiences: string[];
  exp: number;
}

/** A running stand-in. */
export interface KubeApiStandIn {
  /** `https://127.0.0.1:<port>`. */
  readonly url: string;
  /** Issues a service-account token for `system:serviceaccount:<namespace>:<name>`. */
  issue(
    namespace: string,
    name: string,
    options?: { audiences?: string[]; expiresInSeconds?: number },
  ): string;
  /** Invalidates a token (as deleting its pod or service account does). */
  revoke(token: string): void;
  fault: KubeApiFault;
  /** TokenReview requests received (authorised or not). */
  readonly reviews: number;
  close(): Promise<void>;
}

const b64url = (text: string) =>
  btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

function status(code: number, reason: string, message: string): Response {
  return Response.json(
    { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code },
    { status: code },
  );
}

/** Starts the stand-in on an ephemeral loopback port. */
export function startKubeApiStandIn(options: KubeApiStandInOptions): KubeApiStandIn {
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const tokens = new Map<string, Issued>();
  const stopping = new AbortController();
  let reviews = 0;
  let serial = 0;

  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (url.pathname !== "/apis/authentication.k8s.io/v1/tokenreviews") {
      return status(404, "NotFound", "the server could not find the requested resource");
    }
    if (request.method !== "POST") {
      return status(405, "MethodNotAllowed", `the server does not allow this method`);
    }
    reviews++;
    const auth = /^Bearer (.+)$/.exec(request.headers.get("authorization") ?? "")?.[1];
    const reviewer = auth ? options.reviewers[auth] : undefined;
    if (!reviewer) return status(401, "Unauthorized", "Unauthorized");
    if (reviewer === "forbidden") {
      return status(
        403,
        "Forbidden",
        'tokenreviews.authentication.k8s.io is forbidden: User "system:serviceaccount:gate:gate" ' +
          'cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the ' +
          "cluster scope",
      );
    }
    if (api.fault === "hang") {
      await new Promise<void>((resolve) => {
        request.signal.addEventListener("abort", () => resolve(), { once: true });
        stopping.signal.addEventListener("abort", () => resolve(), { once: true });
      });
      return new Response(null, { status: 504 });
    }
    if (api.fault === "garbage") {
      return new Response("<html>upstream says hello</html>", {
        status: 201,
        headers: { "content-type": "application/json" },
      });
    }
    if (api.fault === "error500") {
      return status(500, "InternalError", "etcdserver: request timed out");
    }
    let body: {
      kind?: string;
      apiVersion?: string;
      spec?: { token?: unknown; audiences?: unknown };
    };
    try {
      body = await request.json();
    } catch {
      return status(400, "BadRequest", "the body of the request was in an unknown format");
    }
    if (body?.kind !== "TokenReview" || typeof body.spec?.token !== "string") {
      return status(
        400,
        "BadRequest",
        "TokenReview in version v1 cannot be handled as a TokenReview",
      );
    }
    const token = body.spec.token;
    const asked = Array.isArray(body.spec.audiences) && body.spec.audiences.length
      ? body.spec.audiences.filter((a): a is string => typeof a === "string")
      : [API_SERVER_AUDIENCE];
    const spec = { token, ...(Array.isArray(body.spec.audiences) ? { audiences: asked } : {}) };
    const answer = (s: Record<string, unknown>) =>
      Response.json({
        kind: "TokenReview",
        apiVersion: "authentication.k8s.io/v1",
        metadata: { creationTimestamp: null },
        spec,
        status: s,
      }, { status: 201 });
    const issued = tokens.get(token);
    if (!issued) {
      return answer({
        user: {},
        error: "[invalid bearer token, square/go-jose: error in cryptographic primitive]",
      });
    }
    if (issued.exp <= now()) {
      return answer({
        user: {},
        error: "[invalid bearer token, service account token has expired]",
      });
    }
    const audiences = issued.audiences.filter((a) => asked.includes(a));
    if (!audiences.length) {
      return answer({
        user: {},
        error: `[invalid bearer token, token audiences ${JSON.stringify(issued.audiences)} is ` +
          `invalid for the target audiences ${JSON.stringify(asked)}]`,
      });
    }
    const [, , namespace] = issued.username.split(":");
    return answer({
      authenticated: true,
      user: {
        username: issued.username,
        uid: issued.uid,
        groups: [
          "system:serviceaccounts",
          `system:serviceaccounts:${namespace}`,
          "system:authenticated",
        ],
      },
      audiences,
    });
  };

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: options.cert,
    key: options.key,
    onListen: () => {},
    signal: stopping.signal,
  }, handler);

  const api: KubeApiStandIn = {
    url: `https://127.0.0.1:${server.addr.port}`,
    fault: "none",
    get reviews() {
      return reviews;
    },
    issue(namespace, name, { audiences = [API_SERVER_AUDIENCE], expiresInSeconds = 3600 } = {}) {
      const username = `system:serviceaccount:${namespace}:${name}`;
      const iat = now();
      const exp = iat + expiresInSeconds;
      const uid = crypto.randomUUID();
      const payload = {
        aud: audiences,
        exp,
        iat,
        iss: API_SERVER_AUDIENCE,
        sub: username,
        "kubernetes.io": { namespace, serviceaccount: { name, uid } },
      };
      const sig = b64url(String(++serial) + crypto.randomUUID());
      const token = `${b64url(JSON.stringify({ alg: "RS256", kid: "stand-in" }))}.${
        b64url(JSON.stringify(payload))
      }.${sig}`;
      tokens.set(token, { username, uid, audiences, exp });
      return token;
    },
    revoke(token) {
      tokens.delete(token);
    },
    async close() {
      stopping.abort();
      await server.finished;
    },
  };
  return api;
}
