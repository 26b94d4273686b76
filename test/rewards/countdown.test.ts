/**
 * Countdown, scored as TinyZero's countdown.py:compute_score (0 no answer / 0.1 invalid or wrong /
 * 1 correct), with its accidents corrected: floating-point equality and last-line-only extraction
 * (and with it, an answer inside the thinking counting when it is on the last line).
 * Expected values follow TinyZero's code read by hand, each case commented with why.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseEquation, scoreCountdown } from "../../src/rewards/countdown.js";
import { generateCountdown } from "../../src/tasks/countdown-gen.js";

type Case = [numbers: number[], target: number, response: string, expected: number, why: string];

const A = (eq: string): string => `<think>let me try</think> <answer>${eq}</answer>`;

const CASES: Record<string, Case[]> = {
  valid: [
    [[1, 2, 3], 6, A("1+2+3"), 1, "plain sum"],
    [[1, 2, 3], 6, A("1 + 2 + 3"), 1, "spaces"],
    [[1, 2, 3], 6, A("3*2*1"), 1, "any order"],
    [[44, 19, 35], 98, A("(44 + 19) + 35"), 1, "parentheses"],
    [[4, 8, 2], 16, A("8/2*4"), 1, "division to an integer"],
    [[3, 6, 4], 8, A("6/3*4"), 1, "left-to-right * and /"],
    [[2, 3, 9], 6, A("9/(3/2)"), 1, "exact rational intermediate 3/2"],
    [[10, 5, 2, 1], 4, A("10/5*2*1"), 1, "four numbers"],
    [[7, 7, 7], 7, A("7 * 7 / 7"), 1, "repeated numbers each used once"],
    [[95, 36, 32], 91, A("95 - 36 + 32"), 1, "a TinyZero example"],
    [[5, 3, 2], 0, A("-(5-3-2)"), 1, "a negated group evaluating to 0"],
    [[5, 3, 2], 1, A("-5+3*2"), 1, "unary minus (TinyZero's eval accepts it)"],
    [[1, 2, 3], 6, "Assistant: <think>x</think>\n<answer>1+2+3</answer>\n", 1, "trailing newline after the answer"],
  ],
  invalid: [
    [[1, 2, 3], 6, A("1+2+3=6"), 0.1, "an = sign (and 6 is not a given number)"],
    [[1, 2, 3], 6, A("1+2+3 = 6"), 0.1, "the result written after the equation"],
    [[1, 2, 3], 6, A("2^2+1+1"), 0.1, "^ is not an operator"],
    [[2, 3, 1], 9, A("3**2*1"), 0.1, "** (power) is rejected (TinyZero's eval would compute it)"],
    [[7, 2, 1], 3, A("7//2*1"), 0.1, "// floor division is rejected"],
    [[1, 2, 3], 6, A("1 × 2 × 3"), 0.1, "unicode × is not in the allowed characters"],
    [[1, 2, 3], 6, A("(1+2)*3)"), 0.1, "unbalanced parenthesis"],
    [[1, 2, 3], 6, A(""), 0.1, "empty answer span: present but invalid"],
    [[1, 2, 3], 6, A("1.0+2+3"), 0.1, "decimal point: numbers 1, 0, 2, 3 do not match"],
    [[1, 2, 3], 6, A("six"), 0.1, "words"],
    [[1, 2, 3], 6, A("1+2+3+0"), 0.1, "an extra number"],
  ],
  numberUse: [
    [[1, 2, 3], 3, A("1+2"), 0.1, "a number missing"],
    [[1, 2, 3], 7, A("1+2+3+1"), 0.1, "a number reused"],
    [[1, 2, 3], 6, A("12/2+0"), 0.1, "digits concatenated into 12"],
    [[1, 2, 3, 4], 24, A("1*2*3*4"), 1, "all four"],
    [[1, 2, 3, 4], 24, A("2*3*4"), 0.1, "one of four missing"],
    [[10, 10, 1], 100, A("10*10*1"), 1, "duplicate given numbers"],
    [[10, 10, 1], 10, A("10*1"), 0.1, "duplicate given number used once"],
    [[1, 2, 3], 6, A("01+2+3"), 0.1, "a leading zero is invalid (TinyZero: Python's eval rejects 01)"],
  ],
  wrong: [
    [[1, 2, 3], 7, A("1+2+3"), 0.1, "valid equation, wrong value"],
    [[1, 2, 3], 6, A("1-2-3"), 0.1, "wrong value"],
    [[5, 3, 2], 4, A("-5+3*3"), 0.1, "3 used twice and 2 missing"],
    [[2, 1, 1], 1, A("2/(1-1)"), 0.1, "division by zero"],
    [[999999, 1000000], 1, A("1000000/999999"), 0.1, "1000000/999999 is not 1 (TinyZero's 1e-5 float tolerance would accept it)"],
  ],
  noAnswer: [
    [[1, 2, 3], 6, "1+2+3", 0, "no tags at all"],
    [[1, 2, 3], 6, "<answer>1+2+3", 0, "unclosed answer tag"],
    [[1, 2, 3], 6, "", 0, "empty response"],
    [[1, 2, 3], 6, "<think>1+2+3</think>", 0, "only a thought"],
  ],
  lastAnswer: [
    [[1, 2, 3], 6, "<answer>1+2</answer> no wait <answer>1+2+3</answer>", 1, "the last answer span counts"],
    [[1, 2, 3], 6, "<answer>1+2+3</answer> no wait <answer>1+2</answer>", 0.1, "an earlier right answer does not count"],
    [[1, 2, 3], 6, "<answer>1+2+3</answer>\nsome trailing text", 1, "text after the answer (TinyZero's last-line accident would give 0)"],
    [[1, 2, 3], 6, "<answer>\n1+2+3\n</answer>", 1, "newlines inside the span"],
  ],
  thinking: [
    [[1, 2, 3], 6, "<think>try <answer>1+2+3</answer>\nno wait, check again\n</think>", 0, "an answer inside the thinking, then none: no answer"],
    [[1, 2, 3], 6, "<think>try <answer>1+2+3</answer> more thoughts</think>", 0, "the same on one line (TinyZero's last-line search would count it)"],
    [[1, 2, 3], 6, "<think>maybe <answer>1+2</answer></think> <answer>1+2+3</answer>", 1, "a draft inside the thinking, the answer after it"],
    [[1, 2, 3], 6, "<think>maybe <answer>1+2+3</answer></think> <answer>1+2</answer>", 0.1, "a right draft does not rescue a wrong answer"],
    [[1, 2, 3], 6, "<answer>1+2+3</answer> hmm </think>", 0, "before a </think> with no <think>: the prompt opened the thinking"],
    [[1, 2, 3], 6, "<think>x</think> <answer>1+2+3</answer> hmm </think>", 0, "before the last </think>"],
    [[1, 2, 3], 6, "<think>x</think> <think>y <answer>1+2+3</answer>", 0, "inside a think block that never closes"],
    [[1, 2, 3], 6, "<think>x</think> <answer>1+2+3</answer> <think>y", 1, "before a think block that never closes"],
    [[1, 2, 3], 6, "<think>x</think> <answer>1+2</think>+3</answer>", 0, "a span that straddles the </think>"],
  ],
  injection: [
    [[1, 2, 3], 6, A("__import__('os').system('ls')"), 0.1, "python import"],
    [[1, 1], 2, A("1+1; import os"), 0.1, "statement separator"],
    [[1, 2, 3], 6, A("eval('1+2+3')"), 0.1, "eval call"],
    [[1, 2, 3], 6, A("1+2+3 # comment"), 0.1, "comment"],
    [[1, 2, 3], 6, A("(lambda: 6)()"), 0.1, "lambda"],
    [[1, 2, 3], 6, A("require('fs')"), 0.1, "node require"],
    [[1, 2, 3], 6, A("1+2+3\u0000"), 0.1, "a NUL byte"],
  ],
};

describe("scoreCountdown (TinyZero's scoring)", () => {
  for (const [cat, cases] of Object.entries(CASES)) {
    describe(cat, () => {
      it.each(cases)("%j target %d: %s → %d (%s)", (numbers, target, response, expected) => {
        expect(scoreCountdown(response, { numbers, target }).score).toBe(expected);
      });
    });
  }

  it("scores are configurable", () => {
    const o = { score: 2, formatScore: -1, noAnswerScore: -2 };
    expect(scoreCountdown(A("1+2+3"), { numbers: [1, 2, 3], target: 6 }, o).score).toBe(2);
    expect(scoreCountdown(A("1+2"), { numbers: [1, 2, 3], target: 6 }, o).score).toBe(-1);
    expect(scoreCountdown("none", { numbers: [1, 2, 3], target: 6 }, o).score).toBe(-2);
  });

  it("the template's prefilled <think> (prefix) counts: until </think> the response is thinking", () => {
    const ref = { numbers: [1, 2, 3], target: 6 };
    const prefix = "<think>";
    expect(scoreCountdown("1+2+3 works <answer>1+2+3</answer> let me check", ref, { prefix }).score).toBe(0);
    expect(scoreCountdown("1+2+3 works <answer>1+2+3</answer> let me check", ref).score).toBe(1); // no prefix: no thinking known
    expect(scoreCountdown("1+2+3 works</think> <answer>1+2+3</answer>", ref, { prefix }).score).toBe(1);
    // the whole text, TinyZero's prompt included: its example answer and "<think> </think>" are the user's
    const tz = "User: Using the numbers [1, 2, 3], create an equation that equals 6. Show your work in <think> </think> tags. " +
      "And return the final answer in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>.\nAssistant: Let me solve this step by step.\n<think>";
    expect(scoreCountdown(tz + " 1+2+3 <answer>1+2+3</answer>", ref).score).toBe(0);
    expect(scoreCountdown(tz + " 1+2+3 </think>\n<answer>1+2+3</answer>", ref).score).toBe(1);
    expect(scoreCountdown(tz + " hmm", ref).score).toBe(0);
  });

  it("the parser rejects anything beyond digits, + - * / ( ) and spaces, and over-long input", () => {
    expect(() => parseEquation("1+2")).not.toThrow();
    expect(() => parseEquation("1+a")).toThrow(/invalid characters/);
    expect(() => parseEquation("1".repeat(2000))).toThrow(/too long/);
    expect(() => parseEquation("(".repeat(300) + "1" + ")".repeat(300))).toThrow();
  });
});

describe("generateCountdown", () => {
  it("is seeded: same seed, same instances; different seed, different instances", () => {
    expect(generateCountdown(42, 20)).toEqual(generateCountdown(42, 20));
    expect(generateCountdown(42, 20)).not.toEqual(generateCountdown(43, 20));
  });
  it("makes solvable instances like TinyZero's data (3–4 numbers in 1..100, integer target), proven by their solution", () => {
    for (const inst of generateCountdown(7, 300)) {
      expect(inst.numbers.length).toBeGreaterThanOrEqual(3);
      expect(inst.numbers.length).toBeLessThanOrEqual(4);
      for (const n of inst.numbers) expect(n >= 1 && n <= 100).toBe(true);
      expect(Number.isInteger(inst.target) && inst.target >= 1 && inst.target <= 100).toBe(true);
      expect(scoreCountdown(`<answer>${inst.solution}</answer>`, inst).score).toBe(1);
    }
  });
});

describe("parity with TinyZero (golden scores from scripts/make_countdown_fixture.py)", () => {
  const fx = JSON.parse(readFileSync(new URL("./fixtures/countdown_tinyzero.json", import.meta.url), "utf8")) as {
    magic: string;
    version: number;
    cases: { numbers: number[]; target: number; response: string; prefix: string; tinyzero: number; accident: string | null }[];
  };
  it("is the fixture we expect", () => {
    expect([fx.magic, fx.version]).toEqual(["aha-countdown-tinyzero", 2]);
    expect(fx.cases.length).toBeGreaterThanOrEqual(47);
    expect(fx.cases.filter((c) => c.prefix === "<think>").length).toBeGreaterThanOrEqual(6);
  });
  it("scores every case exactly as TinyZero does, except its named accidents", () => {
    const mismatches = fx.cases
      .filter((c) => c.accident === null)
      .filter((c) => scoreCountdown(c.response, c, { prefix: c.prefix }).score !== c.tinyzero)
      .map((c) => c.response);
    expect(mismatches).toEqual([]);
  });
  it("differs from TinyZero on every named accident (and says why)", () => {
    for (const c of fx.cases.filter((x) => x.accident !== null)) {
      expect(scoreCountdown(c.response, c, { prefix: c.prefix }).score, c.accident ?? "").not.toBe(c.tinyzero);
    }
  });
});
