/**
 * "Did you mean …?" for unknown commands and flags: the nearest known name by edit distance
 * (a transposition counts as one edit), offered only when it is close enough to be a typo.
 * @module
 */

/** Optimal-string-alignment distance between `a` and `b`. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/** The candidate nearest to `name`, if it is a plausible typo of it; ties go to the first. */
export function nearest(name: string, candidates: readonly string[]): string | undefined {
  const wanted = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(wanted, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best === undefined || wanted.length === 0) return undefined;
  const allowed = Math.max(1, Math.floor(Math.max(wanted.length, best.length) / 3));
  if (bestDistance <= allowed) return best;
  // A unique prefix of a longer name (`--service` for `--service-account`).
  const prefixed = candidates.filter((c) => wanted.length >= 3 && c.startsWith(wanted));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** ` (did you mean X?)`, or nothing. */
export function didYouMean(name: string, candidates: readonly string[], prefix = ""): string {
  const match = nearest(name, candidates);
  return match === undefined ? "" : ` (did you mean ${prefix}${match}?)`;
}
