/**
 * Evaluation metrics of the R1 protocol (shared/REFERENCE.md, "Evaluation"): k samples per question,
 * pass@1 = mean correctness over the samples, unbiased pass@k from n ≥ k samples with c correct
 * (Chen et al. 2021: 1 − C(n−c, k) / C(n, k)), and maj@k / cons@k = correctness of the majority answer.
 */

/**
 * Unbiased pass@k for one question: n samples, c of them correct, k ≤ n.
 * Computed as 1 − Π_{i=n−c+1}^{n} (1 − k/i), the numerically stable product form of 1 − C(n−c,k)/C(n,k).
 */
export function passAtK(n: number, c: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(c) || !Number.isInteger(k)) throw new RangeError("passAtK: n, c, k must be integers");
  if (k < 1 || k > n) throw new RangeError(`passAtK: k (${k}) must be in 1..n (${n})`);
  if (c < 0 || c > n) throw new RangeError(`passAtK: c (${c}) must be in 0..n (${n})`);
  if (n - c < k) return 1;
  let prod = 1;
  for (let i = n - c + 1; i <= n; i++) prod *= 1 - k / i;
  return 1 - prod;
}

export interface Sample {
  /** The extracted answer in a canonical form (samples with equal keys voted the same), or null if none. */
  answerKey: string | null;
  correct: boolean;
}

/**
 * Majority vote over the samples that have an answer: the most frequent answer key wins (ties go to
 * the answer seen first, so the result does not depend on hash order). Returns whether the winner is
 * correct; false when no sample has an answer.
 */
export function majorityCorrect(samples: readonly Sample[]): boolean {
  const counts = new Map<string, { n: number; first: number; correct: boolean }>();
  samples.forEach((s, i) => {
    if (s.answerKey === null) return;
    const e = counts.get(s.answerKey);
    if (e) e.n++;
    else counts.set(s.answerKey, { n: 1, first: i, correct: s.correct });
  });
  let best: { n: number; first: number; correct: boolean } | undefined;
  for (const e of counts.values()) {
    if (!best || e.n > best.n || (e.n === best.n && e.first < best.first)) best = e;
  }
  return best?.correct ?? false;
}

/** Mean of pass@1 (fraction correct per question), averaged over questions. */
export function meanPassAt1(perQuestion: readonly Sample[][]): number {
  if (perQuestion.length === 0) return 0;
  let sum = 0;
  for (const samples of perQuestion) {
    if (samples.length === 0) continue;
    sum += samples.filter((s) => s.correct).length / samples.length;
  }
  return sum / perQuestion.length;
}

/** Unbiased pass@k averaged over questions; every question must have at least k samples. */
export function meanPassAtK(perQuestion: readonly Sample[][], k: number): number {
  if (perQuestion.length === 0) return 0;
  let sum = 0;
  for (const samples of perQuestion) sum += passAtK(samples.length, samples.filter((s) => s.correct).length, k);
  return sum / perQuestion.length;
}
