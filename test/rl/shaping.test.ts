import { describe, expect, it } from "vitest";
import { microBatches, packSequences } from "../../src/rl/batch.js";
import { overlongPenalty, rechecks, recheckShare, zeroVarianceGroups } from "../../src/rl/shaping.js";

describe("overlong shaping (DAPO)", () => {
  // L_max 20, L_cache 4: free up to 16; inside the buffer (16 − |o|)/4; beyond 20: −1.
  it.each([
    [10, 0],
    [16, 0],
    [17, -0.25],
    [20, -1],
    [21, -1],
  ])("length %i → %f", (len, want) => {
    expect(overlongPenalty(len, 20, 4)).toBeCloseTo(want, 12);
  });
  it("scaled by the factor", () => expect(overlongPenalty(18, 20, 4, 0.5)).toBeCloseTo(-0.25, 12));
});

describe("zero-variance groups", () => {
  it("flags groups whose scorable rewards are all equal", () => {
    expect(zeroVarianceGroups([1, 1, 0, 1, null, 0, 0, 0], 2)).toEqual([true, false, true, true]);
  });
});

describe("re-check share", () => {
  it("counts responses with one of the phrases, case-insensitive", () => {
    expect(rechecks("Hmm, WAIT. Let me redo it", ["wait"])).toBe(true);
    expect(recheckShare(["ok", "let me check this", "<wait>", "fine"], ["let me check", "<wait>"])).toBe(0.5);
    expect(recheckShare([], ["wait"])).toBe(0);
  });
});

describe("packing", () => {
  const seqs = [
    { prompt: [1, 2], response: [3, 4, 5] },
    { prompt: [6], response: [7] },
    { prompt: [8, 9, 10], response: [] },
  ];
  it("targets are the next token on response positions, −1 elsewhere", () => {
    const p = packSequences(seqs, [0, 1]);
    expect([...p.tokens]).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect([...p.cuSeqlens]).toEqual([0, 5, 7]);
    // position 1 (token 2) predicts response token 3, … ; the last response token predicts nothing
    expect([...p.targets]).toEqual([-1, 3, 4, 5, -1, 7, -1]);
    expect(p.respPos.map((x) => [...x])).toEqual([[1, 2, 3], [5]]);
  });
  it("micro-batches stay under the token cap (a long sequence alone)", () => {
    expect(microBatches(seqs, [0, 1, 2], 7)).toEqual([[0, 1], [2]]);
    expect(microBatches(seqs, [0, 1, 2], 3)).toEqual([[0], [1], [2]]);
  });
});
