/**
 * Seeded property tests of the math equivalence against values computed independently here with
 * BigInt arithmetic: equal values written differently must match; different values must never match
 * (no false positives), including values that differ only far below double precision.
 */
import { describe, expect, it } from "vitest";
import { verifyMath } from "../../src/rewards/math/index.js";
import { mulberry32, randInt } from "../../src/util/rng.js";

const rng = mulberry32(2024);
const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? (a < 0n ? -a : a) : gcd(b, a % b));

describe("fractions (BigInt reference)", () => {
  it("p/q written as \\frac, a/b, scaled and mixed: equal iff the reduced fractions are equal", () => {
    for (let i = 0; i < 400; i++) {
      const p = BigInt(randInt(rng, -200, 200));
      const q = BigInt(randInt(rng, 1, 60));
      const k = BigInt(randInt(rng, 2, 9));
      const r = BigInt(randInt(rng, -200, 200));
      const s = BigInt(randInt(rng, 1, 60));
      const gold = `\\frac{${p}}{${q}}`;
      expect(verifyMath(`\\boxed{${p * k}/${q * k}}`, gold).correct).toBe(true);
      const same = p * s === r * q;
      expect(verifyMath(`\\boxed{\\frac{${r}}{${s}}}`, gold).correct, `${p}/${q} vs ${r}/${s}`).toBe(same);
      // a mixed number for positive improper fractions
      if (p > q && p % q !== 0n) {
        const g = gcd(p % q, q);
        expect(verifyMath(`\\boxed{${p / q}\\frac{${(p % q) / g}}{${q / g}}}`, gold).correct).toBe(true);
      }
    }
  });

  it("1/N vs 1/(N+1) and N vs N+1 for huge N are never equal", () => {
    for (let e = 20; e <= 300; e += 7) {
      const n = 10n ** BigInt(e) + BigInt(randInt(rng, 0, 1000));
      expect(verifyMath(`\\boxed{\\frac{1}{${n}}}`, `\\frac{1}{${n + 1n}}`).correct).toBe(false);
      expect(verifyMath(`\\boxed{${n}}`, `${n + 1n}`).correct).toBe(false);
      expect(verifyMath(`\\boxed{\\frac{1}{2^{${e}}}}`, `\\frac{1}{2^{${e + 1}}}`).correct).toBe(false);
      expect(verifyMath(`\\boxed{\\frac{1}{2^{${e}}}}`, `2^{-${e}}`).correct).toBe(true);
    }
  });
});

describe("radicals (squarefree reference)", () => {
  it("a·√(b·c²) equals (a·c)·√b; differs from (a·c+1)·√b", () => {
    const squarefree = [2, 3, 5, 6, 7, 10, 11, 13, 14, 15];
    for (let i = 0; i < 200; i++) {
      const a = randInt(rng, 1, 12);
      const b = squarefree[randInt(rng, 0, squarefree.length - 1)] as number;
      const c = randInt(rng, 2, 9);
      const gold = `${a * c}\\sqrt{${b}}`;
      expect(verifyMath(`\\boxed{${a}\\sqrt{${b * c * c}}}`, gold).correct).toBe(true);
      expect(verifyMath(`\\boxed{${a * c + 1}\\sqrt{${b}}}`, gold).correct).toBe(false);
      expect(verifyMath(`\\boxed{\\frac{${a * c * b}}{\\sqrt{${b}}}}`, gold).correct).toBe(true);
    }
  });
});

describe("polynomials (expanded by hand-rolled coefficient arithmetic)", () => {
  it("(x+a)(x+b) equals its expansion and not a perturbed one", () => {
    for (let i = 0; i < 200; i++) {
      const a = randInt(rng, -9, 9);
      const b = randInt(rng, -9, 9);
      const sum = a + b;
      const prod = a * b;
      const sgn = (v: number): string => (v < 0 ? `- ${-v}` : `+ ${v}`);
      const expanded = `x^2 ${sgn(sum)}x ${sgn(prod)}`;
      const factored = `(x ${sgn(a)})(x ${sgn(b)})`;
      expect(verifyMath(`\\boxed{${factored}}`, expanded).correct, `${factored} vs ${expanded}`).toBe(true);
      expect(verifyMath(`\\boxed{${factored}}`, `x^2 ${sgn(sum)}x ${sgn(prod + 1)}`).correct).toBe(false);
    }
  });
});
