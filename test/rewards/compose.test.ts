/** Rewards compose by weights: parsing `accuracy=1,format=0.1`, each part's value, unscorable parts, Kimi's length reward. */
import { describe, expect, it } from "vitest";
import { composeRewards, lengthRewards, mathReward, parseRewardWeights } from "../../src/rewards/index.js";
import type { ProblemLike, Reward, Scored } from "../../src/rewards/types.js";

const problem: ProblemLike<string> = { id: "p", question: "2+2?", answer: "4", reference: "4" };
const ctx = { responsePrefix: "<think>" };

describe("parseRewardWeights", () => {
  it("reads parts and weights in order", () => {
    expect(parseRewardWeights("accuracy=1, format=0.1,language=0.25")).toEqual({ accuracy: 1, format: 0.1, language: 0.25 });
    expect(parseRewardWeights("accuracy")).toEqual({ accuracy: 1 });
    expect(parseRewardWeights("judge=-0.5")).toEqual({ judge: -0.5 });
  });
  it("names what is wrong", () => {
    expect(() => parseRewardWeights("acuracy=1")).toThrow(/unknown reward part 'acuracy'.*/);
    expect(() => parseRewardWeights("format=x")).toThrow(/weight of 'format' must be a number, got 'x'/);
    expect(() => parseRewardWeights("format=1,format=2")).toThrow(/'format' given twice/);
    expect(() => parseRewardWeights(" , ")).toThrow(/no reward parts/);
    expect(() => parseRewardWeights("format=", "--reward")).toThrow(/^--reward: weight of 'format'/);
  });
});

describe("lengthRewards (Kimi k1.5 §2.3.3)", () => {
  it("hand-worked group", () => {
    // min 10, max 30: λ = 0.5 − (len − 10)/20 → 0.5, 0, −0.5, 0.25
    const r = lengthRewards([10, 20, 30, 15], [true, true, false, false]);
    expect(r).toEqual([0.5, 0, -0.5, 0]); // correct: λ; wrong: min(0, λ) (0.25 → 0)
  });
  it("equal lengths give 0", () => {
    expect(lengthRewards([7, 7, 7], [true, false, true])).toEqual([0, 0, 0]);
  });
});

describe("composeRewards", () => {
  const math = mathReward();
  const good = " 2 plus 2 is four </think> <answer>4</answer>";
  const wrong = " two and two </think> <answer>5</answer>";
  const sloppy = "4"; // no tags

  it("R = Σ weight · part, parts under their names", async () => {
    const score = composeRewards({ weights: { accuracy: 1, format: 0.1, language: 0.2 }, accuracy: math });
    const [a, b, c] = await score([{ text: good, tokens: 9 }, { text: wrong, tokens: 9 }, { text: sloppy, tokens: 1 }], problem, ctx);
    expect(a!.parts).toEqual({ accuracy: 1, format: 1, language: 1 });
    expect(a!.reward).toBeCloseTo(1 + 0.1 + 0.2, 12);
    expect(a!.correct).toBe(true);
    expect(b!.parts).toMatchObject({ accuracy: 0, format: 1 });
    expect(b!.reward).toBeCloseTo(0.1 + 0.2 * b!.parts["language"]!, 12);
    expect(c!.parts["format"]).toBe(0);
    expect(c!.parts["language"]).toBe(0); // no letters in the thought
    expect(c!.reward).toBe(0); // a bare "4" is no extracted answer (strict extraction)
  });

  it("the language part measures the thought in the target language", async () => {
    const score = composeRewards({ weights: { language: 1 }, accuracy: math, language: "zh" });
    const [zh, mixed] = await score([{ text: "二加二等于四</think><answer>4</answer>", tokens: 3 }, { text: "二加 two </think><answer>4</answer>", tokens: 3 }], problem, ctx);
    expect(zh!.reward).toBe(1);
    expect(mixed!.reward).toBeCloseTo(2 / 3, 12);
  });

  it("length uses the group and the accuracy part's correctness", async () => {
    const score = composeRewards({ weights: { accuracy: 1, length: 0.5 }, accuracy: math });
    const out = await score([{ text: good, tokens: 10 }, { text: good, tokens: 30 }, { text: wrong, tokens: 10 }], problem, ctx);
    expect(out.map((s) => s.parts["length"])).toEqual([0.5, -0.5, 0]);
    expect(out.map((s) => s.reward)).toEqual([1.25, 0.75, 0]);
  });

  it("an unscorable accuracy or judge makes the response unscorable (never a silent 0)", async () => {
    const unscorable: Reward<string> = () => ({ reward: null, parts: {}, correct: false, extracted: null, reason: "judge failed after 3 tries" });
    const score = composeRewards({ weights: { accuracy: 1, judge: 1 }, accuracy: math, judge: unscorable });
    const [s] = await score([{ text: good, tokens: 3 }], problem, ctx);
    expect(s!.reward).toBeNull();
    expect(s!.reason).toContain("judge: judge failed after 3 tries");
    const acc = composeRewards({ weights: { accuracy: 1, format: 1 }, accuracy: unscorable });
    expect((await acc([{ text: good, tokens: 3 }], problem, ctx))[0]!.reward).toBeNull();
  });

  it("async parts are awaited concurrently across the group", async () => {
    let inFlight = 0;
    let most = 0;
    const slow: Reward<string> = async (text) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 20));
      inFlight--;
      return { reward: text.length, parts: { sub: 2 }, correct: true, extracted: null, reason: "ok" } satisfies Scored;
    };
    const score = composeRewards({ weights: { accuracy: 2 }, accuracy: slow });
    const out = await score([{ text: "a", tokens: 1 }, { text: "bb", tokens: 1 }, { text: "ccc", tokens: 1 }], problem, ctx);
    expect(most).toBe(3);
    expect(out.map((s) => s.reward)).toEqual([2, 4, 6]);
    expect(out[0]!.parts).toEqual({ accuracy: 1, "accuracy.sub": 2 });
  });

  it("the judge part needs a judge", () => {
    expect(() => composeRewards({ weights: { judge: 1 }, accuracy: math })).toThrow(/judge part needs a judge endpoint/);
  });
});
