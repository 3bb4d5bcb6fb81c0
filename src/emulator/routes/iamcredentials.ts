/**
 * IAM Service Account Credentials v1: `generateAccessToken` and `generateIdToken` on
 * `/v1/projects/-/serviceAccounts/{account}:{method}`, with Token Creator checks along the
 * delegation chain and Google's `{error: {code, message, status}}` answers.
 * @module
 */
import { Hono } from "hono";
import { authenticate, CLOUD_PLATFORM } from "../bearer.ts";
import { jsonResponse, rpcError } from "../google_errors.ts";
import { isEmail, isNumericId } from "../options.ts";
import { boolField, readJsonMessage, stringList } from "../request_body.ts";
import {
  type EmulatorEnv,
  type EmulatorState,
  findServiceAccount,
  rfc3339,
  type ServiceAccount,
} from "../state.ts";

const IAM_SCOPES = [CLOUD_PLATFORM, "https://www.googleapis.com/auth/iam"];
/** Longest access-token lifetime without the org-policy exception. */
export const DEFAULT_MAX_LIFETIME = 3600;
/** Longest access-token lifetime with `iam.allowServiceAccountCredentialLifetimeExtension`. */
export const EXTENDED_MAX_LIFETIME = 43200;

const DURATION = /^(\d{1,12})(\.\d{1,9})?s$/;
const DELEGATE = /^projects\/[^/]+\/serviceAccounts\/([^/]+)$/;

type Method = "generateAccessToken" | "generateIdToken";
const PERMISSION: Record<Method, string> = {
  generateAccessToken: "iam.serviceAccounts.getAccessToken",
  generateIdToken: "iam.serviceAccounts.getOpenIdToken",
};
const FIELDS: Record<Method, readonly string[]> = {
  generateAccessToken: ["name", "delegates", "scope", "lifetime"],
  generateIdToken: [
    "name",
    "delegates",
    "audience",
    "includeEmail",
    "organizationNumberIncluded",
    "useEmailAzp",
  ],
};

/** Routes of the iamcredentials API. */
export function iamCredentialsRoutes(state: EmulatorState): Hono<EmulatorEnv> {
  const app = new Hono<EmulatorEnv>();
  app.post("/v1/projects/:project/serviceAccounts/:call", async (c) => {
    const call = c.req.param("call");
    const colon = call.lastIndexOf(":");
    const method = call.slice(colon + 1);
    if (colon < 0 || (method !== "generateAccessToken" && method !== "generateIdToken")) {
      return rpcError(404, "Method not found.");
    }
    const caller = authenticate(c.req.raw, state, IAM_SCOPES);
    if (caller instanceof Response) return caller;
    c.set("principal", caller.principal);
    const message = await readJsonMessage(c.req.raw, FIELDS[method]);
    if (message instanceof Response) return message;

    const accountName = call.slice(0, colon);
    if (!isEmail(accountName) && !isNumericId(accountName)) {
      return rpcError(
        400,
        `Invalid form of account ID ${
          accountName.slice(0, 100)
        }. Should be [Gaia ID |Email |Unique ID |] of the account`,
      );
    }
    const delegateNames = stringList(message, "delegates");
    if (delegateNames instanceof Response) return delegateNames;
    const chainNames: string[] = [];
    for (const d of delegateNames) {
      const m = DELEGATE.exec(d);
      if (!m) {
        return rpcError(
          400,
          "Invalid form of delegates: expected projects/-/serviceAccounts/{ACCOUNT_EMAIL_OR_UNIQUEID}.",
        );
      }
      chainNames.push(m[1]);
    }

    // Arguments are validated before the account is resolved, as Google does.
    const args = method === "generateAccessToken" ? accessTokenArgs(message) : idTokenArgs(message);
    if (args instanceof Response) return args;

    const chain: ServiceAccount[] = [];
    for (const name of [...chainNames, accountName]) {
      const account = findServiceAccount(state, name);
      if (!account) return rpcError(404, `Not found; Gaia id not found for email ${name}`);
      chain.push(account);
    }
    const target = chain[chain.length - 1];
    let principal = caller.principal;
    for (const account of chain) {
      if (!account.impersonators.includes(principal)) {
        return rpcError(
          403,
          `Permission '${PERMISSION[method]}' denied on resource (or it may not exist).`,
        );
      }
      principal = account.email;
    }

    if ("scopes" in args) {
      const max = target.allowExtendedLifetime ? EXTENDED_MAX_LIFETIME : DEFAULT_MAX_LIFETIME;
      if (args.lifetime > max) {
        return rpcError(
          400,
          `The lifetime requested is invalid: ${args.lifetime}s is more than the maximum of ${max}s${
            max === DEFAULT_MAX_LIFETIME
              ? " (longer lifetimes need the constraints/iam.allowServiceAccountCredentialLifetimeExtension org policy)"
              : ""
          }.`,
        );
      }
      const { token, record } = state.tokens.issue({
        principal: target.email,
        subject: target.uniqueId,
        clientId: target.uniqueId,
        scopes: args.scopes,
        source: "iamcredentials",
      }, args.lifetime);
      return jsonResponse(200, { accessToken: token, expireTime: rfc3339(record.expiresAt) });
    }

    const iat = Math.floor(state.clock.now() / 1000);
    const claims: Record<string, unknown> = {
      aud: args.audience,
      azp: args.useEmailAzp ? target.email : target.uniqueId,
    };
    if (args.includeEmail) {
      claims.email = target.email;
      claims.email_verified = true;
    }
    Object.assign(claims, {
      exp: iat + 3600,
      iat,
      iss: "https://accounts.google.com",
      sub: target.uniqueId,
    });
    return jsonResponse(200, { token: await state.signingKeys.sign(claims) });
  });
  return app;
}

function accessTokenArgs(
  message: Record<string, unknown>,
): { scopes: string[]; lifetime: number } | Response {
  const scopes = stringList(message, "scope");
  if (scopes instanceof Response) return scopes;
  if (scopes.length === 0 || scopes.some((s) => s.trim() === "")) {
    return rpcError(400, "Scope required.");
  }
  let lifetime = DEFAULT_MAX_LIFETIME;
  if (message.lifetime !== undefined) {
    const m = typeof message.lifetime === "string" ? DURATION.exec(message.lifetime) : null;
    if (!m) {
      return rpcError(
        400,
        "Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration), Field 'lifetime', Illegal duration format; duration must end with 's'",
      );
    }
    lifetime = Number(m[1]);
    if (lifetime < 1) {
      return rpcError(400, "The lifetime requested is invalid: it must be at least 1s.");
    }
  }
  return { scopes, lifetime };
}

function idTokenArgs(
  message: Record<string, unknown>,
): { audience: string; includeEmail: boolean; useEmailAzp: boolean } | Response {
  const audience = message.audience;
  if (typeof audience !== "string" || audience.trim() === "") {
    return rpcError(400, "Audience required.");
  }
  const includeEmail = boolField(message, "includeEmail");
  if (includeEmail instanceof Response) return includeEmail;
  const useEmailAzp = boolField(message, "useEmailAzp");
  if (useEmailAzp instanceof Response) return useEmailAzp;
  const orgNumber = boolField(message, "organizationNumberIncluded");
  if (orgNumber instanceof Response) return orgNumber;
  return { audience, includeEmail, useEmailAzp };
}
