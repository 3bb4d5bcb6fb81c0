/**
 * The emulator's own ID-token signing key, published the way Google publishes its keys: a JWKS
 * at `/oauth2/v3/certs` and a kid → X.509 PEM map at `/oauth2/v1/certs`.
 * @module
 */
import type { Clock } from "../clock.ts";
import { generateRsaKeyPair, keyIdOf, signJwt } from "./jwt.ts";
import { selfSignedCertificatePem } from "./x509.ts";

/** One RSA JSON Web Key as Google's JWKS lists it. */
export interface PublicJwk {
  kty: "RSA";
  alg: "RS256";
  use: "sig";
  kid: string;
  n: string;
  e: string;
}

const CERT_VALIDITY_MS = 14 * 24 * 3600 * 1000;

/** The emulator's signing key with its published forms. */
export class SigningKeys {
  readonly kid: string;
  readonly #keys: CryptoKeyPair;
  readonly #jwk: PublicJwk;
  readonly #certPem: string;

  private constructor(kid: string, keys: CryptoKeyPair, jwk: PublicJwk, certPem: string) {
    this.kid = kid;
    this.#keys = keys;
    this.#jwk = jwk;
    this.#certPem = certPem;
  }

  /** Generates a fresh key and its certificate (valid from an hour ago for two weeks). */
  static async create(clock: Clock): Promise<SigningKeys> {
    const keys = await generateRsaKeyPair();
    const kid = await keyIdOf(keys.publicKey);
    const raw = await crypto.subtle.exportKey("jwk", keys.publicKey);
    const jwk: PublicJwk = { kty: "RSA", alg: "RS256", use: "sig", kid, n: raw.n!, e: raw.e! };
    const now = clock.now();
    const pem = await selfSignedCertificatePem(
      keys,
      "authcalator-emulator.googleusercontent.com",
      now - 3600_000,
      now + CERT_VALIDITY_MS,
    );
    return new SigningKeys(kid, keys, jwk, pem);
  }

  /** The public key, for verifying tokens the emulator signed. */
  get publicKey(): CryptoKey {
    return this.#keys.publicKey;
  }

  /** Signs `claims` as an RS256 JWT whose header names this key. */
  sign(claims: Record<string, unknown>): Promise<string> {
    return signJwt({ kid: this.kid, typ: "JWT" }, claims, this.#keys.privateKey);
  }

  /** The body of `GET /oauth2/v3/certs`. */
  jwks(): { keys: PublicJwk[] } {
    return { keys: [{ ...this.#jwk }] };
  }

  /** The body of `GET /oauth2/v1/certs`. */
  pemCerts(): Record<string, string> {
    return { [this.kid]: this.#certPem };
  }
}
