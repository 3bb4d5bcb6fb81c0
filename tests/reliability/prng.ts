/**
 * A small seeded PRNG (mulberry32) and the iteration scale of the reliability suite, so every
 * fuzz run is reproducible from the seed it prints and `deno task fuzz` can run longer loops
 * than the quick version `deno task test` runs.
 * @module
 */

/** A deterministic random source; the same seed gives the same sequence. */
export class Prng {
  readonly seed: number;
  #state: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.#state = this.seed;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(this.next() * 256);
    return out;
  }

  /** A string of `n` characters drawn from `alphabet`. */
  string(n: number, alphabet: string): string {
    let s = "";
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(this.next() * alphabet.length)];
    return s;
  }
}

/** The quick version's seed: `deno task test` replays the same conversations every run. */
export const QUICK_SEED = 1;

/**
 * The seed of this run: `AUTHCALATOR_FUZZ_SEED` when set (to replay a failure); a fresh one
 * under `deno task fuzz` (`AUTHCALATOR_FUZZ=1`), so long runs explore; else {@link QUICK_SEED},
 * so the normal suite is deterministic. Tests print it in every failure message.
 */
export function runSeed(): number {
  const given = Deno.env.get("AUTHCALATOR_FUZZ_SEED");
  if (given !== undefined && given !== "") {
    const seed = Number(given);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new Error(`AUTHCALATOR_FUZZ_SEED must be an integer in [0, 2^32), got ${given}`);
    }
    return seed;
  }
  if (Deno.env.get("AUTHCALATOR_FUZZ") === "1") {
    return crypto.getRandomValues(new Uint32Array(1))[0];
  }
  return QUICK_SEED;
}

/** The scale `deno task fuzz` runs at unless `AUTHCALATOR_FUZZ_ITERATIONS` says otherwise. */
export const FUZZ_TASK_SCALE = 20;

/**
 * How many times the quick loop sizes are multiplied: `AUTHCALATOR_FUZZ_ITERATIONS` (an integer
 * in [1, 10000]) when set; else {@link FUZZ_TASK_SCALE} under `deno task fuzz` (which sets
 * `AUTHCALATOR_FUZZ=1`); else 1, the quick version `deno task test` runs.
 */
export function iterationScale(): number {
  const given = Deno.env.get("AUTHCALATOR_FUZZ_ITERATIONS");
  if (given === undefined || given === "") {
    return Deno.env.get("AUTHCALATOR_FUZZ") === "1" ? FUZZ_TASK_SCALE : 1;
  }
  const n = Number(given);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) {
    throw new Error(`AUTHCALATOR_FUZZ_ITERATIONS must be an integer in [1, 10000], got ${given}`);
  }
  return n;
}
