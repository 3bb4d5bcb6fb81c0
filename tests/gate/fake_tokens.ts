import type { GateTokenService } from "../../src/gate/types.ts";
import type { Clock } from "../../src/clock.ts";
import { HttpError } from "../../src/errors.ts";

/** A scripted GateTokenService for route tests. */
export class FakeTokens implements GateTokenService {
  devCalls: { scopes: string[]; ttl: number }[] = [];
  failWith?: HttpError;
  constructor(private clock: Clock) {}
  devToken(scopes: string[], ttl: number) {
    this.devCalls.push({ scopes, ttl });
    if (this.failWith) return Promise.reject(this.failWith);
    return Promise.resolve({
      accessToken: `ya29.dev-${this.devCalls.length}`,
      expiresAt: this.clock.now() + ttl * 1000,
    });
  }
  prodToken(_scopes: string[], ttl: number) {
    return Promise.resolve({ accessToken: "ya29.prod", expiresAt: this.clock.now() + ttl * 1000 });
  }
  idToken(audience: string, includeEmail: boolean) {
    return Promise.resolve(
      `eyJhbGciOiJSUzI1NiJ9.${btoa(JSON.stringify({ aud: audience, includeEmail }))}.sig`,
    );
  }
  identityEmail() {
    return this.failWith ? Promise.reject(this.failWith) : Promise.resolve("engineer@example.com");
  }
  projectNumber() {
    return Promise.resolve("123456789012");
  }
  universeDomain() {
    return Promise.resolve("googleapis.com");
  }
}
