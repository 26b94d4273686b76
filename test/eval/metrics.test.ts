import { describe, expect, it } from "vitest";
import { majorityCorrect, meanPassAt1, meanPassAtK, passAtK } from "../../src/eval/metrics.js";

/** Binomial coefficient in BigInt: the definition, independent of the product form under test. */
function choose(n: number, k: number): bigint {
  if (k < 0 || k > n) return 0n;
  let r = 1n;
  for (let i = 1; i <= k; i++) r = (r * BigInt(n - k + i)) / BigInt(i);
  return r;
}

describe("passAtK", () => {
  it("equals 1 − C(n−c,k)/C(n,k) computed exactly, over a grid", () => {
    for (let n = 1; n <= 20; n++)
      for (let c = 0; c <= n; c++)
        for (let k = 1; k <= n; k++) {
          const exact = 1 - Number(choose(n - c, k)) / Number(choose(n, k));
          expect(Math.abs(passAtK(n, c, k) - exact)).toBeLessThan(1e-12);
        }
  });
  it("hand-computed: n=4, c=1 → pass@1 = 1/4, pass@2 = 1 − C(3,2)/C(4,2) = 1/2", () => {
    expect(passAtK(4, 1, 1)).toBeCloseTo(0.25, 12);
    expect(passAtK(4, 1, 2)).toBeCloseTo(0.5, 12);
  });
  it("is 0 with no correct sample and 1 when n − c < k", () => {
    expect(passAtK(8, 0, 4)).toBe(0);
    expect(passAtK(8, 6, 4)).toBe(1);
  });
  it("rejects k outside 1..n", () => {
    expect(() => passAtK(4, 1, 5)).toThrow(/k \(5\)/);
    expect(() => passAtK(4, 5, 1)).toThrow(/c \(5\)/);
  });
});

describe("majority vote", () => {
  const s = (answerKey: string | null, correct: boolean) => ({ answerKey, correct });
  it("picks the most frequent answer", () => {
    expect(majorityCorrect([s("3", false), s("4", true), s("4", true), s(null, false)])).toBe(true);
    expect(majorityCorrect([s("3", false), s("3", false), s("4", true)])).toBe(false);
  });
  it("breaks ties by first appearance, and ignores samples with no answer", () => {
    expect(majorityCorrect([s("4", true), s("3", false), s("3", false), s("4", true)])).toBe(true);
    expect(majorityCorrect([s(null, false), s(null, false), s("7", true)])).toBe(true);
  });
  it("is false with no answers at all", () => {
    expect(majorityCorrect([s(null, false)])).toBe(false);
  });
});

describe("averages over questions", () => {
  const q = (...c: boolean[]) => c.map((correct) => ({ answerKey: correct ? "y" : "n", correct }));
  it("mean pass@1 averages per-question fractions", () => {
    // (1/2 + 1/4) / 2
    expect(meanPassAt1([q(true, false), q(true, false, false, false)])).toBeCloseTo(0.375, 12);
  });
  it("mean pass@k averages the unbiased estimator", () => {
    // q1: n=2,c=1,k=2 → 1; q2: n=4,c=1,k=2 → 1/2
    expect(meanPassAtK([q(true, false), q(true, false, false, false)], 2)).toBeCloseTo(0.75, 12);
  });
});
