import { describe, expect, it } from "vitest";
import { computeAdvantages, klPenalisedRewards, sampleStd, type AdvantageInput } from "../../src/rl/advantages.js";

const TOL = 1e-9;
const close = (got: ArrayLike<number>, want: number[], tol = TOL): void => {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), `index ${i}: ${got[i]} vs ${want[i]}`).toBeLessThan(tol);
};
const ones = (n: number): number[] => new Array<number>(n).fill(1);
const input = (rewards: (number | null)[], groupSize: number, lengths = ones(rewards.length)): AdvantageInput => ({ rewards, groupSize, lengths });

describe("group-mean (GRPO / Dr. GRPO)", () => {
  it("GRPO: (R − mean)/std with the sample std", () => {
    // [1,0,0,1]: mean 0.5, sample std sqrt(4·0.25/3) = 0.5773503 → ±0.5/0.5773503 = ±0.8660254
    const a = computeAdvantages("group-mean", input([1, 0, 0, 1], 4), { scale: "group", eps: 0 });
    close(a.perSequence!, [0.8660254037844386, -0.8660254037844386, -0.8660254037844386, 0.8660254037844386]);
  });
  it("eps is added to the std", () => {
    // [1,0]: mean .5, sample std 0.7071068; eps 0.1 → 0.5/0.8071068 = 0.6194962
    const a = computeAdvantages("group-mean", input([1, 0], 2), { scale: "group", eps: 0.1 });
    close(a.perSequence!, [0.6194962, -0.6194962], 1e-6);
  });
  it("Dr. GRPO: no std", () => {
    const a = computeAdvantages("group-mean", input([1, 0, 0, 0], 4), { scale: "none", eps: 1e-4 });
    close(a.perSequence!, [0.75, -0.25, -0.25, -0.25]);
  });
  it("a group with equal rewards teaches nothing (0, not NaN)", () => {
    const a = computeAdvantages("group-mean", input([1, 1, 1], 3), { scale: "group", eps: 1e-4 });
    close(a.perSequence!, [0, 0, 0]);
  });
  it("batch scale divides by the std of all rewards of the batch", () => {
    // groups [1,0] [1,1]; batch [1,0,1,1]: mean .75, sample var (3·.0625+.5625)/3 = .25 → std .5
    const a = computeAdvantages("group-mean", input([1, 0, 1, 1], 2), { scale: "batch", eps: 0 });
    close(a.perSequence!, [1, -1, 0, 0]);
  });
  it("null rewards: out of the mean/std, advantage 0 (TRL)", () => {
    // [1, null, 0]: scorable [1,0] mean .5, std .7071068
    const a = computeAdvantages("group-mean", input([1, null, 0], 3), { scale: "group", eps: 0 });
    close(a.perSequence!, [0.7071067811865475, 0, -0.7071067811865475]);
  });
  it("broadcasts over each response's tokens", () => {
    const a = computeAdvantages("group-mean", input([2, 0], 2, [3, 1]), { scale: "none", eps: 0 });
    close(a.perToken, [1, 1, 1, -1]);
  });
  it("KL in the reward: R_i − β·Σ_t KL_t before the baseline", () => {
    // R = [1, 1], KL sums [0.5, 0.1] with β 0.2 → [0.9, 0.98]; mean 0.94 → [-0.04, 0.04]
    const a = computeAdvantages("group-mean", { rewards: [1, 1], groupSize: 2, lengths: [2, 1], klPerToken: [0.2, 0.3, 0.1], klCoef: 0.2 }, { scale: "none", eps: 0 });
    close(a.perToken, [-0.04, -0.04, 0.04]);
    expect(klPenalisedRewards([1, null], [1, 1], [1, 1], 0.5)).toEqual([0.5, null]);
  });
});

describe("RLOO", () => {
  it("R_i minus the mean of the others", () => {
    // [1,0,0,0]: 1 − 0 = 1; 0 − mean(1,0,0) = −1/3
    const a = computeAdvantages("rloo", input([1, 0, 0, 0], 4), { scale: "none", eps: 0 });
    close(a.perSequence!, [1, -1 / 3, -1 / 3, -1 / 3]);
  });
  it("with a null: leave-one-out over the scorable ones", () => {
    // [3, null, 1]: 3 − 1 = 2; 1 − 3 = −2
    const a = computeAdvantages("rloo", input([3, null, 1], 3), { scale: "none", eps: 0 });
    close(a.perSequence!, [2, 0, -2]);
  });
  it("a single scorable member gets 0", () => {
    close(computeAdvantages("rloo", input([5, null], 2), { scale: "none", eps: 0 }).perSequence!, [0, 0]);
  });
});

describe("REINFORCE++", () => {
  it("−β·KL per token, R on the last, return-to-go, whitened over the batch", () => {
    // lengths [2,1], R [1,0], β .5, KL [.2,.4,.1]: token rewards [-.1, -.2+1], [-.05]
    // returns [.7, .8, -.05] → whitened (population std)
    const a = computeAdvantages("reinforce++", { rewards: [1, 0], groupSize: 1, lengths: [2, 1], klPerToken: [0.2, 0.4, 0.1], klCoef: 0.5 }, { scale: "group", eps: 0 });
    expect(a.perSequence).toBeNull();
    close(a.perToken, [0.5711872077128708, 0.8348120728111191, -1.4059992805239898]);
  });
  it("baseline variant subtracts the group mean first", () => {
    // groups [1,0] [1,1], lengths [2,1,1,2], β 0 → returns [.5,.5,-.5, 0, 0,0] → whitened
    const a = computeAdvantages("reinforce++-baseline", input([1, 0, 1, 1], 2, [2, 1, 1, 2]), { scale: "group", eps: 0 });
    close(a.perToken, [1.212678125181665, 1.212678125181665, -1.697749375254331, -0.24253562503633297, -0.24253562503633297, -0.24253562503633297]);
  });
  it("unscorable responses get 0 and stay out of the whitening", () => {
    // scorable returns [1, 0] (lengths 1,1) → ±1; the null one (2 tokens) → 0
    const a = computeAdvantages("reinforce++", input([1, null, 0], 1, [1, 2, 1]), { scale: "none", eps: 0 });
    close(a.perToken, [1, 0, 0, -1]);
  });
});

describe("shape checks", () => {
  it("rejects rewards that do not fill the groups", () => {
    expect(() => computeAdvantages("group-mean", input([1, 0, 1], 2), { scale: "none", eps: 0 })).toThrow(/multiple of groupSize/);
  });
  it("sampleStd of one value is 0", () => {
    expect(sampleStd([3])).toBe(0);
  });
});
