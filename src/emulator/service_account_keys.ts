/**
 * Service-account keys the emulator has issued: it keeps only the public half, so it can verify
 * JWT-bearer assertions exactly as Google verifies keys it created.
 * @module
 */
import { generateRsaKeyPair, keyIdOf, privateKeyPem } from "./jwt.ts";

/** A newly issued key: the private half goes to the caller and is not kept. */
export interface IssuedKey {
  keyId: string;
  privateKeyPem: string;
}

/** The public keys of every issued service-account key, by account email. */
export class ServiceAccountKeys {
  readonly #byEmail = new Map<string, Map<string, CryptoKey>>();

  /** Creates a key for `email` and remembers its public half. */
  async issue(email: string): Promise<IssuedKey> {
    const keys = await generateRsaKeyPair();
    const keyId = await keyIdOf(keys.publicKey);
    let forEmail = this.#byEmail.get(email);
    if (!forEmail) this.#byEmail.set(email, forEmail = new Map());
    forEmail.set(keyId, keys.publicKey);
    return { keyId, privateKeyPem: await privateKeyPem(keys.privateKey) };
  }

  /** The public keys to try for an assertion by `email`, narrowed to `keyId` when given. */
  candidates(email: string, keyId?: string): CryptoKey[] {
    const forEmail = this.#byEmail.get(email);
    if (!forEmail) return [];
    if (keyId === undefined) return [...forEmail.values()];
    const one = forEmail.get(keyId);
    return one ? [one] : [];
  }
}
