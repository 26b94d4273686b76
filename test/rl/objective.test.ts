import { describe, expect, it } from "vitest";
import {
  KL_ESTIMATORS,
  KL_PLACEMENTS,
  LOSS_AGGREGATIONS,
  RATIO_LEVELS,
  klPerToken,
  policyObjective,
  type ObjectiveInput,
  type ObjectiveSettings,
} from "../../src/rl/objective.js";
import { Rng } from "../../src/util/rng.js";

const HAND_TOL = 1e-12;
const FD_STEP = 1e-6;
const FD_ATOL = 1e-7;
const FD_RTOL = 1e-5;

const base: ObjectiveSettings = {
  ratioLevel: "token",
  clipLow: 0.2,
  clipHigh: 0.2,
  dualClip: null,
  aggregation: "token-mean",
  maxLength: 4,
  klEstimator: "k3",
  klCoef: 0,
  klPlacement: "loss",
  entropyCoef: 0,
  tisCap: null,
};

// Two responses: tokens [t0 t1 | t2]; ratios [1.5, 0.5, 1]; Â = [1, 1, −1].
const hand: ObjectiveInput = {
  logpOld: [-1, -1, -2],
  logp: [-1 + Math.log(1.5), -1 + Math.log(0.5), -2],
  advantages: [1, 1, -1],
  mask: [1, 1, 1],
  offsets: [0, 2, 3],
};
const close = (got: ArrayLike<number>, want: number[], tol = HAND_TOL): void => {
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), `index ${i}: ${got[i]} vs ${want[i]}`).toBeLessThan(tol);
};

describe("objective: hand-computed values", () => {
  // t0: min(1.5·1, 1.2·1) = 1.2 (clipped high, no gradient); t1: min(.5, .8) = .5, ∂/∂logp = ρ·Â = .5; t2: −1, ∂ = ρ·Â = −1.
  it("token-mean: −(1.2 + .5 − 1)/3", () => {
    const o = policyObjective(base, hand);
    expect(Math.abs(o.loss - -0.7 / 3)).toBeLessThan(HAND_TOL);
    close(o.dLogp, [0, -0.5 / 3, 1 / 3]);
    expect(o.stats.clipHighFrac).toBeCloseTo(1 / 3, 12);
    expect(o.stats.clipLowFrac).toBe(0);
    expect(o.stats.ratioMax).toBeCloseTo(1.5, 12);
  });
  it("seq-mean-token-mean: weights 1/(2·2), 1/(2·1)", () => {
    const o = policyObjective({ ...base, aggregation: "seq-mean-token-mean" }, hand);
    expect(Math.abs(o.loss - -(1.2 / 4 + 0.5 / 4 - 0.5))).toBeLessThan(HAND_TOL);
    close(o.dLogp, [0, -0.125, 0.5]);
  });
  it("seq-mean-token-sum: weight 1/2; sum-norm with L_max 4: 1/8", () => {
    expect(policyObjective({ ...base, aggregation: "seq-mean-token-sum" }, hand).loss).toBeCloseTo(-0.35, 12);
    expect(policyObjective({ ...base, aggregation: "seq-mean-token-sum-norm" }, hand).loss).toBeCloseTo(-0.0875, 12);
  });
  it("clip-higher: ε_high 0.6 lets t0 through (1.5, ∂ = 1.5)", () => {
    const o = policyObjective({ ...base, clipHigh: 0.6 }, hand);
    expect(o.loss).toBeCloseTo(-(1.5 + 0.5 - 1) / 3, 12);
    close(o.dLogp, [-0.5, -0.5 / 3, 1 / 3]);
  });
  it("dual clip bounds a negative-advantage term at c·Â", () => {
    // ρ = 4, Â = −1: min(−4, −1.2) = −4; with c = 3: max(−4, −3) = −3 and no gradient.
    const one: ObjectiveInput = { logpOld: [-3], logp: [-3 + Math.log(4)], advantages: [-1], mask: [1], offsets: [0, 1] };
    const without = policyObjective(base, one);
    expect(without.loss).toBeCloseTo(4, 12);
    close(without.dLogp, [4]);
    const withDual = policyObjective({ ...base, dualClip: 3 }, one);
    expect(withDual.loss).toBeCloseTo(3, 12);
    close(withDual.dLogp, [0]);
    expect(withDual.stats.dualClipFrac).toBe(1);
  });
  it("low clip: Â < 0 and ρ < 1 − ε", () => {
    // ρ = .5, Â = −1: min(−.5, −.8) = −.8 (clipped), no gradient.
    const o = policyObjective(base, { logpOld: [0], logp: [Math.log(0.5)], advantages: [-1], mask: [1], offsets: [0, 1] });
    expect(o.loss).toBeCloseTo(0.8, 12);
    expect(o.stats.clipLowFrac).toBe(1);
    close(o.dLogp, [0]);
  });
  it("k3 KL in the loss: x = −0.5 → e^x − x − 1, ∂ = 1 − e^x", () => {
    const one: ObjectiveInput = { logpOld: [-1], logp: [-1], logpRef: [-1.5], advantages: [0], mask: [1], offsets: [0, 1] };
    const o = policyObjective({ ...base, klCoef: 0.1 }, one);
    expect(o.loss).toBeCloseTo(0.1 * (Math.exp(-0.5) + 0.5 - 1), 12);
    close(o.dLogp, [0.1 * (1 - Math.exp(-0.5))]);
    expect(o.stats.klMean).toBeCloseTo(0.10653065971263342, 12);
    // KL in the reward: reported, not in the loss.
    const r = policyObjective({ ...base, klCoef: 0.1, klPlacement: "reward" }, one);
    expect(r.loss).toBe(0);
    expect(r.stats.klMean).toBeCloseTo(0.10653065971263342, 12);
  });
  it("k1 and k2 values", () => {
    close(klPerToken("k1", [-1], [-1.5]), [0.5]);
    close(klPerToken("k2", [-1], [-1.5]), [0.125]);
    // x clamped at +20: k3 = e^20 − 21
    close(klPerToken("k3", [-30], [0]), [Math.exp(20) - 21], 1e-3);
  });
  it("GSPO: one ratio per response, sqrt(1.5·0.5)", () => {
    const o = policyObjective({ ...base, ratioLevel: "sequence", aggregation: "seq-mean-token-mean" }, { ...hand, advantages: [1, 1, 0], offsets: [0, 2, 3] });
    const rho = Math.sqrt(0.75);
    expect(o.loss).toBeCloseTo(-rho / 2, 12); // two responses: (ρ·1 + 0)/2
    close(o.dLogp, [-rho / 4, -rho / 4, 0]); // ∂ρ/∂logp_t = ρ/2, times 1/2 (seq mean)
  });
  it("truncated importance sampling: weight min(exp(old − engine), C)", () => {
    const one: ObjectiveInput = { logpOld: [-1], logp: [-1], logpEngine: [-1 - Math.log(3)], advantages: [1], mask: [1], offsets: [0, 1] };
    const o = policyObjective({ ...base, tisCap: 2 }, one);
    expect(o.loss).toBeCloseTo(-2, 12);
    expect(o.stats.tisMean).toBeCloseTo(2, 12);
    expect(o.stats.tisRatioMean).toBeCloseTo(3, 12);
    expect(o.stats.tisTruncatedFrac).toBe(1);
    expect(o.stats.tisMaskedFrac).toBe(0);
    close(o.dLogp, [-2]); // ρ = 1 is inside the clip range: ∂ = −w·ρ·Â, the weight a constant
  });
  // Two tokens of one response, ρ = 1, Â = [1, 1]; k = [2, 8]: IcePop [0.5, 5] keeps t0 weighted by 2 and masks t1.
  const icepopInput: ObjectiveInput = { logpOld: [-1, -1], logp: [-1, -1], logpEngine: [-1 - Math.log(2), -1 - Math.log(8)], advantages: [1, 1], mask: [1, 1], offsets: [0, 2] };
  it("IcePop: k inside [α, β] weights the term by k; outside, no loss and no gradient", () => {
    const o = policyObjective({ ...base, icepop: { low: 0.5, high: 5 } }, icepopInput);
    // token-mean over both tokens (the masked one stays in the denominator): −(2·1 + 0)/2
    expect(Math.abs(o.loss - -1)).toBeLessThan(HAND_TOL);
    close(o.dLogp, [-1, 0]); // ∂/∂logp_0 = −a·w·ρ·Â = −½·2·1·1
    expect(o.stats.tisMean).toBeCloseTo(1, 12); // (2 + 0)/2
    expect(o.stats.tisRatioMean).toBeCloseTo(5, 12); // (2 + 8)/2
    expect(o.stats.tisMaskedFrac).toBe(0.5);
    expect(o.stats.tisTruncatedFrac).toBe(0);
    // Below α: k = 0.25 is masked too; inside at the bounds (k = α) is kept.
    const low = policyObjective({ ...base, icepop: { low: 0.5, high: 5 } }, { ...icepopInput, logpEngine: [-1 + Math.log(4), -1 + Math.log(2)] });
    expect(low.loss).toBeCloseTo(-0.25, 12); // t0 masked, t1: k = 0.5 → −½·0.5
    close(low.dLogp, [0, -0.25]);
    expect(low.stats.tisMaskedFrac).toBe(0.5);
    // The same tokens under truncation at C = 5: min(2, 5), min(8, 5).
    const tr = policyObjective({ ...base, tisCap: 5 }, icepopInput);
    expect(tr.loss).toBeCloseTo(-(2 + 5) / 2, 12);
    expect(tr.stats.tisTruncatedFrac).toBe(0.5);
    expect(tr.stats.tisMaskedFrac).toBe(0);
  });
  it("IcePop: a masked token's term adds nothing even where its surrogate would be large; stats off without TIS", () => {
    const big: ObjectiveInput = { ...icepopInput, logp: [-1, -1 + Math.log(1.1)], advantages: [1, -50] };
    const o = policyObjective({ ...base, icepop: { low: 0.5, high: 5 } }, big);
    const onlyFirst = policyObjective({ ...base, icepop: { low: 0.5, high: 5 } }, { ...big, advantages: [1, 0] });
    expect(o.loss).toBeCloseTo(onlyFirst.loss, 12);
    close(o.dLogp, Array.from(onlyFirst.dLogp));
    const off = policyObjective(base, hand);
    expect(off.stats.tisMean).toBe(1);
    expect(off.stats.tisRatioMean).toBeNaN();
    expect([off.stats.tisTruncatedFrac, off.stats.tisMaskedFrac]).toEqual([0, 0]);
  });
  it("entropy bonus: −c·H with ∂/∂H = −c·weight", () => {
    const one: ObjectiveInput = { logpOld: [-1, -1], logp: [-1, -1], entropy: [2, 4], advantages: [0, 0], mask: [1, 1], offsets: [0, 2] };
    const o = policyObjective({ ...base, entropyCoef: 0.01 }, one);
    expect(o.loss).toBeCloseTo(-0.03, 12);
    close(o.dEntropy!, [-0.005, -0.005]);
    expect(o.stats.entropyMean).toBe(3);
  });
  it("masked tokens count nowhere; micro-batch denominators add up to the whole", () => {
    const masked = policyObjective(base, { ...hand, mask: [1, 0, 1] });
    expect(masked.loss).toBeCloseTo(-(1.2 - 1) / 2, 12);
    expect(masked.dLogp[1]).toBe(0);
    for (const aggregation of LOSS_AGGREGATIONS) {
      const s = { ...base, aggregation };
      const whole = policyObjective(s, hand);
      const denominators = { tokens: 3, sequences: 2 };
      const a = policyObjective(s, { logpOld: [-1, -1], logp: Array.from(hand.logp).slice(0, 2), advantages: [1, 1], mask: [1, 1], offsets: [0, 2], denominators });
      const b = policyObjective(s, { logpOld: [-2], logp: [-2], advantages: [-1], mask: [1], offsets: [0, 1], denominators });
      expect(a.loss + b.loss).toBeCloseTo(whole.loss, 12);
    }
  });
  it("rejects missing inputs the settings need", () => {
    expect(() => policyObjective({ ...base, klCoef: 0.1 }, hand)).toThrow(/logpRef is required/);
    expect(() => policyObjective(base, { ...hand, offsets: [0, 2] })).toThrow(/offsets/);
    expect(() => policyObjective({ ...base, icepop: { low: 0.5, high: 5 } }, hand)).toThrow(/logpEngine is required/);
    expect(() => policyObjective({ ...base, tisCap: 2, icepop: { low: 0.5, high: 5 } }, icepopInput)).toThrow(/tisCap and icepop/);
    expect(() => policyObjective({ ...base, icepop: { low: 2, high: 1 } }, icepopInput)).toThrow(/low ≤ high/);
  });
});

/** Random inputs away from the clip kinks (so central differences see a smooth function). */
function randomInput(rng: Rng, s: ObjectiveSettings): ObjectiveInput {
  for (;;) {
    const lengths = [1 + rng.int(5), 1 + rng.int(5), 1 + rng.int(5), 1 + rng.int(5)];
    const T = lengths.reduce((a, b) => a + b, 0);
    const offsets = [0];
    for (const n of lengths) offsets.push(offsets[offsets.length - 1]! + n);
    const logpOld = Array.from({ length: T }, () => -rng.uniform(0.1, 3));
    const logp = logpOld.map((x) => x + rng.uniform(-0.4, 0.4));
    const logpRef = logp.map((x) => x + rng.uniform(-0.6, 0.6));
    const logpEngine = logpOld.map((x) => x + rng.uniform(-1.2, 0.4));
    const entropy = Array.from({ length: T }, () => rng.uniform(0, 3));
    const mask = Array.from({ length: T }, () => (rng.float() < 0.85 ? 1 : 0));
    const advantages = Array.from({ length: T }, () => rng.normal());
    const input: ObjectiveInput = { logp, logpOld, logpRef, logpEngine, entropy, mask, advantages, offsets };
    // Kinks: ρ = 1−ε_low, ρ = 1+ε_high, ρ = c.
    const ratios: number[] = [];
    if (s.ratioLevel === "token") for (let t = 0; t < T; t++) ratios.push(Math.exp(logp[t]! - logpOld[t]!));
    else
      for (let i = 0; i < lengths.length; i++) {
        let sum = 0;
        let n = 0;
        for (let t = offsets[i]!; t < offsets[i + 1]!; t++) if (mask[t]) { sum += logp[t]! - logpOld[t]!; n++; }
        ratios.push(Math.exp(n ? sum / n : 0));
      }
    const kinks = [1 - s.clipLow, 1 + s.clipHigh, ...(s.dualClip ? [s.dualClip] : [])];
    if (ratios.every((r) => kinks.every((k) => Math.abs(r - k) > 1e-3))) return input;
  }
}

// Off, truncation, and IcePop with bounds that mask part of the random tokens (k ∈ [e^−0.4, e^1.2] ≈ [0.67, 3.3]).
const TIS_SWITCHES: Pick<ObjectiveSettings, "tisCap" | "icepop">[] = [
  { tisCap: null, icepop: null },
  { tisCap: 1.5, icepop: null },
  { tisCap: null, icepop: { low: 0.8, high: 2 } },
];

describe("objective: ∂loss/∂logp and ∂loss/∂H against central finite differences (fp64)", () => {
  for (const ratioLevel of RATIO_LEVELS)
    for (const aggregation of LOSS_AGGREGATIONS)
      it(`${ratioLevel} ratio, ${aggregation}, every KL / dual clip / entropy / TIS (off, truncate, icepop) switch`, () => {
        const rng = new Rng(1234, `${ratioLevel}/${aggregation}`);
        let checked = 0;
        for (const klEstimator of KL_ESTIMATORS)
          for (const klPlacement of KL_PLACEMENTS)
            for (const klCoef of [0, 0.3])
              for (const dualClip of [null, 1.6])
                for (const entropyCoef of [0, 0.05])
                  for (const tis of TIS_SWITCHES) {
                    const s: ObjectiveSettings = { ...base, ratioLevel, aggregation, klEstimator, klPlacement, klCoef, dualClip, entropyCoef, ...tis, clipLow: 0.1, clipHigh: 0.15, maxLength: 7 };
                    const input = randomInput(rng, s);
                    const out = policyObjective(s, input);
                    const logp = Array.from(input.logp);
                    const entropy = Array.from(input.entropy!);
                    for (let t = 0; t < logp.length; t++) {
                      const at = (d: number): number => {
                        const l = logp.slice();
                        l[t]! += d;
                        return policyObjective(s, { ...input, logp: l }).loss;
                      };
                      const fd = (at(FD_STEP) - at(-FD_STEP)) / (2 * FD_STEP);
                      expect(Math.abs(out.dLogp[t]! - fd), `${JSON.stringify(s)} token ${t}: ${out.dLogp[t]} vs fd ${fd}`).toBeLessThan(FD_ATOL + FD_RTOL * Math.abs(fd));
                      if (entropyCoef !== 0) {
                        const atH = (d: number): number => {
                          const e = entropy.slice();
                          e[t]! += d;
                          return policyObjective(s, { ...input, entropy: e }).loss;
                        };
                        const fdH = (atH(FD_STEP) - atH(-FD_STEP)) / (2 * FD_STEP);
                        expect(Math.abs(out.dEntropy![t]! - fdH)).toBeLessThan(FD_ATOL + FD_RTOL * Math.abs(fdH));
                      } else expect(out.dEntropy).toBeNull();
                      checked++;
                    }
                  }
        expect(checked).toBeGreaterThan(600);
      });
});
