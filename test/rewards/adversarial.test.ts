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

/**
 * Inputs are built lazily: huge strings in a test table slow down the runner's title formatting.
 * `correct` is the verdict the verifier must give: what the mathematics says, or not-correct where the
 * answer is over the parser's limits (MAX_CHARS 8192 characters, nesting depth) and is refused.
 */
const ADVERSARIAL: [name: string, response: () => string, gold: () => string, correct: boolean][] = [
  ["a power tower is never computed", () => "\\boxed{9^{9^{9^{9}}}}", () => "1", false],
  ["a power tower against itself", () => "\\boxed{9^{9^{9^{9}}}}", () => "9^{9^{9^{9}}}", true],
  ["10k nested braces (over the length limit)", () => "\\boxed{" + "{".repeat(10000) + "1" + "}".repeat(10000) + "}", () => "1", false],
  ["10k nested parentheses (over the length limit)", () => "\\boxed{" + "(".repeat(10000) + "1" + ")".repeat(10000) + "}", () => "1", false],
  ["10k unbalanced braces", () => "\\boxed{" + "{".repeat(10000), () => "1", false],
  ["a 1 MB response", () => "x".repeat(1 << 20) + "\\boxed{5}", () => "5", true],
  ["a 1 MB response of braces", () => "{".repeat(1 << 20), () => "5", false],
  ["1 MB inside the box", () => "\\boxed{" + "1+".repeat(1 << 19) + "1}", () => "5", false],
  ["a long product", () => "\\boxed{" + "x".repeat(5000) + "}", () => "x", false],
  ["a huge factorial", () => "\\boxed{100000!}", () => "1", false],
  ["a huge binomial", () => "\\boxed{\\binom{100000}{50000}}", () => "1", false],
  ["a huge exponent", () => "\\boxed{2^{10^{100}}}", () => "2", false],
  ["a huge decimal exponent", () => "\\boxed{1e999999}", () => "1", false],
  ["a long number", () => "\\boxed{" + "9".repeat(5000) + "}", () => "1", false],
  ["division by zero", () => "\\boxed{\\frac{1}{0}}", () => "1", false],
  ["zero over zero", () => "\\boxed{0/0}", () => "0", false],
  ["deep radicals", () => "\\boxed{" + "\\sqrt{".repeat(90) + "2" + "}".repeat(90) + "}", () => "2", false],
  ["many radicals", () => "\\boxed{" + Array.from({ length: 60 }, (_, i) => `\\sqrt{${i + 2}}`).join("+") + "}", () => "1", false],
  ["a rationalisation explosion", () => "\\boxed{\\frac{1}{" + Array.from({ length: 12 }, (_, i) => `\\sqrt{${[2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37][i]}}`).join("+") + "}}", () => "1", false],
  ["a big matrix", () => "\\boxed{\\begin{pmatrix}" + Array.from({ length: 60 }, () => Array(60).fill("1").join("&")).join("\\\\") + "\\end{pmatrix}}", () => "1", false],
  ["a long list (over the length limit)", () => "\\boxed{" + Array.from({ length: 3000 }, (_, i) => i).join(",") + "}", () => Array.from({ length: 3000 }, (_, i) => 2999 - i).join(","), false],
  ["an unterminated environment", () => "\\boxed{\\begin{pmatrix}1&2}", () => "1", false],
  ["many answer tags", () => "<answer>".repeat(50000) + "</answer>".repeat(50000), () => "1", false],
  ["null bytes and control characters", () => "\\boxed{\u0000\u0001\u0002}", () => "1", false],
  ["lone surrogates", () => "\\boxed{\ud800\udfff\ud800}", () => "1", false],
];

/**
 * Undefined values: x/0, and anything computed from it, equals no number — not even where floating
 * point would make it one (1/0 = ∞, then Math.pow(∞, 0) = 1, 1/∞ = 0, 0^∞ = 0, log(1)/log(∞) = 0).
 * The last rows are defined look-alikes that must stay correct.
 */
const UNDEFINED: [response: string, gold: string, correct: boolean][] = [
  ["(1/0)^0", "1", false],
  ["\\left(\\frac{0}{0}\\right)^{0}", "1", false],
  ["(x/0)^0", "1", false],
  ["(1/(1-1))^0", "1", false],
  ["(1/0)^{x-x}", "1", false],
  ["0^{1/0}", "0", false],
  ["\\frac{1}{1/0}", "0", false],
  ["\\frac{0}{1/0}", "0", false],
  ["\\log_{1/0} 1", "0", false],
  ["\\log_1 1", "0", false],
  ["\\cot(0)", "0", false],
  ["0^{-1}", "1", false],
  ["\\infty^0", "1", false],
  ["\\frac{1}{0}\\cdot 0", "0", false],
  ["\\frac{1}{0}-\\frac{1}{0}+1", "1", false],
  ["1^{1/0}", "1", false],
  ["\\frac{1}{0}", "\\infty", false],
  ["x^0", "1", true],
  ["(2x)^0", "1", true],
  ["x^{-1}", "\\frac{1}{x}", true],
  ["\\cot(\\pi/4)", "1", true],
  ["\\log_2 8", "3", true],
  ["-\\infty", "-\\infty", true],
];

describe("adversarial inputs get the right verdict, never throw and stay within budget", () => {
  it.each(ADVERSARIAL)("%s", (_name, response, gold, correct) => {
    const [r, g] = [response(), gold()];
    const { v, ms } = timed(() => verifyMath(r, g));
    expect(v.correct).toBe(correct);
    expect(ms).toBeLessThan(WALL_MS);
  });

  it.each(UNDEFINED)("\\boxed{%s} against %s: correct = %s", (response, gold, correct) => {
    expect(verifyMath(`\\boxed{${response}}`, gold).correct).toBe(correct);
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
