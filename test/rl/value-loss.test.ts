/**
 * The clipped value loss (src/rl/value-loss.ts): hand-worked tokens, dL/dV by central differences for
 * every aggregation, masks and micro-batch denominators, and an independent PyTorch computation
 * (fixtures/rl/gae.json, scripts/make_gae_fixture.py: autograd gradients) within 1e-12 in float64.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { LOSS_AGGREGATIONS, type LossAggregation } from "../../src/rl/objective.js";
import { valueLoss, type ValueLossInput, type ValueLossSettings } from "../../src/rl/value-loss.js";
import { Rng } from "../../src/util/rng.js";

const TOL = 1e-12;
const close = (got: ArrayLike<number>, want: readonly number[], tol = TOL): void => {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), `index ${i}: ${got[i]} vs ${want[i]}`).toBeLessThan(tol);
};
const base: ValueLossSettings = { clip: 0.2, aggregation: "token-mean", maxLength: 4 };

describe("value loss: hand-worked tokens (ε_v = 0.2)", () => {
  // t0: V 1.0, V_old 0.5, R 2  → V_clip 0.7; (V−R)² = 1 < (V_clip−R)² = 1.69: clipped term, ℓ = 0.845,
  //     V outside [0.3, 0.7] so ∂ℓ/∂V = 0 (the clip cuts the gradient).
  // t1: V 1.0, V_old 0.5, R 0  → V_clip 0.7; 1 > 0.49: unclipped, ℓ = 0.5, ∂ℓ/∂V = V − R = 1.
  // t2: V 0.6, V_old 0.5, R 0  → inside the range, both terms 0.36: ℓ = 0.18, ∂ℓ/∂V = 0.6.
  const input: ValueLossInput = { values: [1, 1, 0.6], valuesOld: [0.5, 0.5, 0.5], returns: [2, 0, 0], mask: [1, 1, 1], offsets: [0, 2, 3] };

  it("token-mean: (0.845 + 0.5 + 0.18)/3; gradient [0, 1, 0.6]/3; clip fraction 1/3", () => {
    const o = valueLoss(base, input);
    expect(Math.abs(o.loss - (0.845 + 0.5 + 0.18) / 3)).toBeLessThan(TOL);
    close(o.dValues, [0, 1 / 3, 0.6 / 3]);
    expect(o.stats.clipFrac).toBeCloseTo(1 / 3, 15);
    expect(o.stats.tokens).toBe(3);
    expect(o.stats.loss).toBe(o.loss);
  });

  it("the other aggregations weight as the objective does", () => {
    const sm = valueLoss({ ...base, aggregation: "seq-mean-token-mean" }, input);
    expect(Math.abs(sm.loss - ((0.845 + 0.5) / 2 + 0.18) / 2)).toBeLessThan(TOL);
    close(sm.dValues, [0, 1 / 4, 0.6 / 2]);
    const ss = valueLoss({ ...base, aggregation: "seq-mean-token-sum" }, input);
    expect(Math.abs(ss.loss - (0.845 + 0.5 + 0.18) / 2)).toBeLessThan(TOL);
    const sn = valueLoss({ ...base, aggregation: "seq-mean-token-sum-norm" }, input);
    expect(Math.abs(sn.loss - (0.845 + 0.5 + 0.18) / 8)).toBeLessThan(TOL);
    close(sn.dValues, [0, 1 / 8, 0.6 / 8]);
  });

  it("no clip (ε_v = none): ½(V − R)², gradient V − R", () => {
    const o = valueLoss({ ...base, clip: null }, input);
    expect(Math.abs(o.loss - (0.5 + 0.5 + 0.18) / 3)).toBeLessThan(TOL);
    close(o.dValues, [-1 / 3, 1 / 3, 0.6 / 3]);
    expect(o.stats.clipFrac).toBe(0);
  });

  it("masked tokens count nowhere; micro-batch denominators add up to the whole", () => {
    const m = valueLoss(base, { ...input, mask: [0, 1, 1] });
    expect(Math.abs(m.loss - (0.5 + 0.18) / 2)).toBeLessThan(TOL);
    expect(m.dValues[0]).toBe(0);
    expect(m.stats.tokens).toBe(2);
    expect(m.stats.clipFrac).toBe(0);
    for (const aggregation of LOSS_AGGREGATIONS) {
      const s = { ...base, aggregation };
      const whole = valueLoss(s, input);
      const denominators = { tokens: 3, sequences: 2 };
      const a = valueLoss(s, { values: [1, 1], valuesOld: [0.5, 0.5], returns: [2, 0], mask: [1, 1], offsets: [0, 2], denominators });
      const b = valueLoss(s, { values: [0.6], valuesOld: [0.5], returns: [0], mask: [1], offsets: [0, 1], denominators });
      expect(Math.abs(a.loss + b.loss - whole.loss)).toBeLessThan(TOL);
      close([...a.dValues, ...b.dValues], Array.from(whole.dValues));
    }
  });

  it("stats: explained variance, value and return means over the masked tokens", () => {
    const o = valueLoss(base, { values: [1, 2, 3, 9], valuesOld: [1, 2, 3, 9], returns: [1, 2, 3, 0], mask: [1, 1, 1, 0], offsets: [0, 4] });
    expect(o.stats.explainedVariance).toBe(1);
    expect(o.stats.valueMean).toBe(2);
    expect(o.stats.returnMean).toBe(2);
    const none = valueLoss(base, { values: [1], valuesOld: [1], returns: [1], mask: [0], offsets: [0, 1] });
    expect(none.loss).toBe(0);
    expect(none.stats.valueMean).toBeNaN();
  });

  it("rejects mismatched shapes and bad offsets", () => {
    expect(() => valueLoss(base, { ...input, returns: [1] })).toThrow(/returns.length/);
    expect(() => valueLoss(base, { ...input, offsets: [0, 2] })).toThrow(/offsets/);
  });
});

// ***** dL/dV by central differences *****

const FD_STEP = 1e-6;
const FD_ATOL = 1e-8;
const FD_RTOL = 1e-6;

/** Random tokens away from the kinks (V at the clip bounds; the two terms equal with V outside the range). */
function randomInput(rng: Rng, clip: number): ValueLossInput {
  const lengths = [3, 1, 0, 5, 4];
  const T = lengths.reduce((a, b) => a + b, 0);
  const values: number[] = [];
  const valuesOld: number[] = [];
  const returns: number[] = [];
  while (values.length < T) {
    const vo = rng.uniform(-1, 1);
    const v = vo + rng.uniform(-0.5, 0.5);
    const r = rng.uniform(-1, 1);
    const vc = Math.min(Math.max(v, vo - clip), vo + clip);
    if (Math.abs(Math.abs(v - vo) - clip) < 1e-3) continue;
    if (Math.abs(v - vc) > 0 && Math.abs((v - r) ** 2 - (vc - r) ** 2) < 1e-3) continue;
    values.push(v);
    valuesOld.push(vo);
    returns.push(r);
  }
  const offsets = [0];
  for (const n of lengths) offsets.push(offsets[offsets.length - 1]! + n);
  const mask = values.map((_, t) => (t === 5 ? 0 : 1));
  return { values, valuesOld, returns, mask, offsets };
}

describe("value loss: dL/dV against central differences", () => {
  for (const aggregation of LOSS_AGGREGATIONS as readonly LossAggregation[]) {
    for (const clip of [0.2, null]) {
      it(`${aggregation}, ε_v ${clip ?? "none"}`, () => {
        const rng = new Rng(99, `${aggregation}/${clip}`);
        const s = { clip, aggregation, maxLength: 6 };
        const input = randomInput(rng, 0.2);
        const o = valueLoss(s, input);
        let active = 0;
        for (let t = 0; t < input.values.length; t++) {
          const at = (d: number): number => {
            const v = Array.from(input.values);
            v[t]! += d;
            return valueLoss(s, { ...input, values: v }).loss;
          };
          const fd = (at(FD_STEP) - at(-FD_STEP)) / (2 * FD_STEP);
          expect(Math.abs(o.dValues[t]! - fd), `token ${t}: ${o.dValues[t]} vs ${fd}`).toBeLessThan(FD_ATOL + FD_RTOL * Math.abs(fd));
          if (o.dValues[t] === 0 && input.mask[t]) active++;
        }
        if (clip !== null) expect(active, "some tokens clipped (zero gradient)").toBeGreaterThan(0);
        expect(o.stats.clipFrac).toBeCloseTo(active / o.stats.tokens, 15);
      });
    }
  }
});

// ***** against PyTorch *****

interface ValueLossCase {
  clip: number | null;
  aggregation: LossAggregation;
  maxLength: number;
  offsets: number[];
  values: number[];
  valuesOld: number[];
  returns: number[];
  mask: number[];
  expected: { loss: number; dValues: number[]; clipFrac: number; explainedVariance: number; valueMean: number; returnMean: number; clippedTokens: number };
}

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "fixtures", "rl", "gae.json");

describe("value loss: against PyTorch autograd (fixtures/rl/gae.json)", () => {
  const cases = (JSON.parse(fs.readFileSync(FIXTURE, "utf8")) as { valueLoss: ValueLossCase[] }).valueLoss;
  it("has the cases the script writes", () => expect(cases.length).toBeGreaterThanOrEqual(6));
  for (const [k, c] of cases.entries()) {
    it(`case ${k}: ${c.aggregation}, ε_v ${c.clip ?? "none"} (${c.expected.clippedTokens} tokens clipped)`, () => {
      const o = valueLoss({ clip: c.clip, aggregation: c.aggregation, maxLength: c.maxLength }, { values: c.values, valuesOld: c.valuesOld, returns: c.returns, mask: c.mask, offsets: c.offsets });
      expect(Math.abs(o.loss - c.expected.loss)).toBeLessThan(TOL);
      close(o.dValues, c.expected.dValues);
      expect(Math.abs(o.stats.clipFrac - c.expected.clipFrac)).toBeLessThan(TOL);
      expect(Math.abs(o.stats.explainedVariance - c.expected.explainedVariance)).toBeLessThan(TOL);
      expect(Math.abs(o.stats.valueMean - c.expected.valueMean)).toBeLessThan(TOL);
      expect(Math.abs(o.stats.returnMean - c.expected.returnMean)).toBeLessThan(TOL);
    });
  }
});
