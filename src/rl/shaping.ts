/**
 * Batch shaping (REFERENCE.md, DAPO): overlong reward shaping, the zero-variance group test behind
 * dynamic sampling, and the re-check share metric. Pure functions.
 */

/**
 * DAPO's soft overlong penalty for a response of `length` tokens with L_max = maxLength and
 * L_cache = buffer: 0 up to L_max − L_cache; ((L_max − L_cache) − length)/L_cache inside the buffer;
 * −1 beyond L_max; times `factor`.
 */
export function overlongPenalty(length: number, maxLength: number, buffer: number, factor = 1): number {
  const free = maxLength - buffer;
  if (length <= free) return 0;
  if (length <= maxLength) return (factor * (free - length)) / buffer;
  return -factor;
}

/** Per group (G contiguous rewards): true when its scorable rewards are all equal (Â = 0 for all: teaches nothing). */
export function zeroVarianceGroups(rewards: readonly (number | null)[], groupSize: number): boolean[] {
  const out: boolean[] = [];
  for (let g = 0; g < rewards.length / groupSize; g++) {
    const vals = rewards.slice(g * groupSize, (g + 1) * groupSize).filter((r): r is number => r !== null && Number.isFinite(r));
    out.push(vals.every((v) => v === vals[0]));
  }
  return out;
}

/** Whether a response re-checks itself: contains one of the phrases (case-insensitive). */
export function rechecks(text: string, phrases: readonly string[]): boolean {
  const t = text.toLowerCase();
  return phrases.some((p) => p.length > 0 && t.includes(p.toLowerCase()));
}

/** Share of responses that re-check themselves. */
export function recheckShare(texts: readonly string[], phrases: readonly string[]): number {
  if (texts.length === 0) return 0;
  let n = 0;
  for (const t of texts) if (rechecks(t, phrases)) n++;
  return n / texts.length;
}
