/**
 * Bounds: adversarial and random inputs never throw and stay within the time budget.
 * Seeded, so a failure reproduces.
 */
import { describe, expect, it } from "vitest";
import { verifyMath } from "../../src/rewards/math/index.js";
import { scoreCountdown } from "../../src/rewards/countdown.js";
import { scoreKK } from "../../src/rewards/kk.js";
import { scoreFormat } from "../../src/rewards/format.js";
import { scoreLanguage } from "../../src/rewards/language.js";
import { mulberry32 } from "../../src/util/rng.js";

/** Budget we allow in tests: the 1 s default plus scheduling noise on a shared 2-core machine. */
const WALL_MS = 1500;

function timed<T>(f: () => T): { v: T; ms: number } {
  const t0 = performance.now();
  const v = f();
  return { v, ms: performance.now() - t0 };
}

/** Inputs are built lazily: huge strings in a test table slow down the runner's title formatting. */
const ADVERSARIAL: [name: string, response: () => string, gold: () => string][] = [
  ["a power tower is never computed", () => "\\boxed{9^{9^{9^{9}}}}", () => "1"],
  ["a power tower against itself", () => "\\boxed{9^{9^{9^{9}}}}", () => "9^{9^{9^{9}}}"],
  ["10k nested braces", () => "\\boxed{" + "{".repeat(10000) + "1" + "}".repeat(10000) + "}", () => "1"],
  ["10k nested parentheses", () => "\\boxed{" + "(".repeat(10000) + "1" + ")".repeat(10000) + "}", () => "1"],
  ["10k unbalanced braces", () => "\\boxed{" + "{".repeat(10000), () => "1"],
  ["a 1 MB response", () => "x".repeat(1 << 20) + "\\boxed{5}", () => "5"],
  ["a 1 MB response of braces", () => "{".repeat(1 << 20), () => "5"],
  ["1 MB inside the box", () => "\\boxed{" + "1+".repeat(1 << 19) + "1}", () => "5"],
  ["a long product", () => "\\boxed{" + "x".repeat(5000) + "}", () => "x"],
  ["a huge factorial", () => "\\boxed{100000!}", () => "1"],
  ["a huge binomial", () => "\\boxed{\\binom{100000}{50000}}", () => "1"],
  ["a huge exponent", () => "\\boxed{2^{10^{100}}}", () => "2"],
  ["a huge decimal exponent", () => "\\boxed{1e999999}", () => "1"],
  ["a long number", () => "\\boxed{" + "9".repeat(5000) + "}", () => "1"],
  ["division by zero", () => "\\boxed{\\frac{1}{0}}", () => "1"],
  ["zero over zero", () => "\\boxed{0/0}", () => "0"],
  ["deep radicals", () => "\\boxed{" + "\\sqrt{".repeat(90) + "2" + "}".repeat(90) + "}", () => "2"],
  ["many radicals", () => "\\boxed{" + Array.from({ length: 60 }, (_, i) => `\\sqrt{${i + 2}}`).join("+") + "}", () => "1"],
  ["a rationalisation explosion", () => "\\boxed{\\frac{1}{" + Array.from({ length: 12 }, (_, i) => `\\sqrt{${[2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37][i]}}`).join("+") + "}}", () => "1"],
  ["a big matrix", () => "\\boxed{\\begin{pmatrix}" + Array.from({ length: 60 }, () => Array(60).fill("1").join("&")).join("\\\\") + "\\end{pmatrix}}", () => "1"],
  ["a long list", () => "\\boxed{" + Array.from({ length: 3000 }, (_, i) => i).join(",") + "}", () => Array.from({ length: 3000 }, (_, i) => 2999 - i).join(",")],
  ["an unterminated environment", () => "\\boxed{\\begin{pmatrix}1&2}", () => "1"],
  ["many answer tags", () => "<answer>".repeat(50000) + "</answer>".repeat(50000), () => "1"],
  ["null bytes and control characters", () => "\\boxed{\u0000\u0001\u0002}", () => "1"],
  ["lone surrogates", () => "\\boxed{\ud800\udfff\ud800}", () => "1"],
];

describe("adversarial inputs never throw and stay within budget", () => {
  it.each(ADVERSARIAL)("%s", (_name, response, gold) => {
    const [r, g] = [response(), gold()];
    const { v, ms } = timed(() => verifyMath(r, g));
    expect(typeof v.correct).toBe("boolean");
    expect(ms).toBeLessThan(WALL_MS);
  });

  it("a budget of 0 ms answers 'budget' instead of hanging", () => {
    const r = verifyMath("\\boxed{\\sin(x)^2+\\cos(x)^2}", "1", { budgetMs: 0 });
    expect(r.correct).toBe(false);
  });
});

const ALPHABET = [..."0123456789+-*/^_{}()[]|,.=<>!%$ \\xyzabcne", "\\frac", "\\sqrt", "\\pi", "\\boxed{", "\\left(", "\\right)", "\\text{", "\\begin{pmatrix}", "\\end{pmatrix}", "&", "\\\\", "\\infty", "\\cup", "\\le", "\\pm", "^{", "<answer>", "</answer>", "<think>", "</think>", "\\%", "\\sin", "\\log_", "\\{", "\\}"];

function randomString(rng: () => number, len: number): string {
  let s = "";
  for (let i = 0; i < len; i++) s += ALPHABET[Math.floor(rng() * ALPHABET.length)];
  return s;
}

describe("random strings (seeded fuzz)", () => {
  it("math: 3000 random responses and golds never throw and stay in budget", () => {
    const rng = mulberry32(1234);
    let worst = 0;
    for (let i = 0; i < 3000; i++) {
      const resp = "\\boxed{" + randomString(rng, 1 + Math.floor(rng() * 40)) + "}";
      const gold = randomString(rng, 1 + Math.floor(rng() * 20));
      const { v, ms } = timed(() => verifyMath(resp, gold));
      expect(typeof v.correct).toBe("boolean");
      worst = Math.max(worst, ms);
    }
    expect(worst).toBeLessThan(WALL_MS);
  });

  it("a random answer equals itself whenever it parses (reflexivity)", () => {
    const rng = mulberry32(99);
    for (let i = 0; i < 1000; i++) {
      const s = randomString(rng, 1 + Math.floor(rng() * 12)).replace(/[{}]/g, "");
      const r = verifyMath(`\\boxed{${s}}`, s);
      if (r.reason === "correct" || r.reason === "wrong") {
        // a parsed answer must equal itself, except where its value is undefined (NaN everywhere)
        if (r.reason === "wrong") expect.soft(s, "not reflexive").toMatch(/\/|\\log|\\sin|\^|!|\\sqrt|%|\|/);
      }
    }
  });

  it("other rewards: random responses never throw", () => {
    const rng = mulberry32(7);
    for (let i = 0; i < 2000; i++) {
      const resp = randomString(rng, Math.floor(rng() * 60));
      expect(typeof scoreCountdown(resp, { numbers: [1, 2, 3], target: 6 }).score).toBe("number");
      expect(typeof scoreKK(resp, { names: ["Zoey", "Oliver"], solution: [true, false] }).score).toBe("number");
      expect(typeof scoreFormat(resp).score).toBe("number");
      expect(typeof scoreLanguage(resp).score).toBe("number");
    }
  });
});
