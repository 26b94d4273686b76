/** Format (R1 template shape) and language-consistency rewards. */
import { describe, expect, it } from "vitest";
import { scoreFormat } from "../../src/rewards/format.js";
import { languageShare, scoreLanguage } from "../../src/rewards/language.js";

type FCase = [response: string, expected: number, why: string];
const FORMAT: FCase[] = [
  ["<think>reasoning</think><answer>5</answer>", 1, "the R1 shape"],
  ["<think>\nreasoning\n</think>\n<answer>\n5\n</answer>\n", 1, "newlines around and inside"],
  ["  <think>r</think>   <answer>5</answer>  ", 1, "surrounding whitespace"],
  ["<think>r</think><answer>5</answer> extra", 0, "text after the answer"],
  ["preamble <think>r</think><answer>5</answer>", 0, "text before the thought"],
  ["<think>r</think> between <answer>5</answer>", 0, "text between the blocks"],
  ["<answer>5</answer>", 0, "no thought"],
  ["<think>r</think>", 0, "no answer"],
  ["<think>r<think>s</think><answer>5</answer>", 0, "nested think"],
  ["<think>r</think><answer>5</answer><answer>6</answer>", 0, "two answers"],
  ["<think>r</think><answer>5", 0, "unclosed answer"],
  ["", 0, "empty"],
];

describe("scoreFormat", () => {
  it.each(FORMAT)("%j → %d (%s)", (response, expected) => {
    expect(scoreFormat(response).score).toBe(expected);
  });
  it("tags and the prompt prefix are configurable", () => {
    expect(scoreFormat("<reasoning>r</reasoning><final>5</final>", null, { thinkTag: "reasoning", answerTag: "final" }).score).toBe(1);
    expect(scoreFormat("r</think><answer>5</answer>", null, { prefix: "<think>" }).score).toBe(1);
    expect(scoreFormat("bad", null, { penalty: -1 }).score).toBe(-1);
  });
});

type LCase = [text: string, lang: string, expected: number, why: string];
const LANG: LCase[] = [
  ["Let me think about this step by step", "en", 1, "all English words"],
  ["让我们一步一步地思考", "zh", 1, "all Chinese characters"],
  ["Let me 思考", "en", 2 / 4, "2 Latin words of 4 (each CJK character is one word)"],
  ["Let me 思考", "zh", 2 / 4, "2 CJK characters of 4 words"],
  ["x = 3 + 4", "en", 1, "digits and symbols do not count; x is Latin"],
  ["12345 + 678", "en", 0, "no words at all"],
  ["Привет мир hello", "en", 1 / 3, "Cyrillic words are not English"],
  ["café naïve", "en", 1, "accented Latin letters are Latin"],
];

describe("languageShare / scoreLanguage", () => {
  it.each(LANG)("%j in %s → %d (%s)", (text, lang, expected) => {
    expect(languageShare(text, lang)).toBeCloseTo(expected, 12);
  });
  it("scores the chain of thought only (inside <think>) when present", () => {
    expect(scoreLanguage("<think>think in English</think><answer>答案</answer>").score).toBe(1);
    expect(scoreLanguage("<think>用中文想</think><answer>answer</answer>", null, { lang: "zh" }).score).toBe(1);
  });
  it("an unknown language is a clear error", () => {
    expect(() => languageShare("x", "xx")).toThrow(/unknown language 'xx'/);
  });
});
