/**
 * GAE (src/rl/gae.ts): hand-worked cases, VAPO's per-length λ, KL in the reward, unscorable responses,
 * whitening, decoupled GAE, and an independent PyTorch computation (fixtures/rl/gae.json, written by
 * scripts/make_gae_fixture.py) within 1e-12 in float64.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { decoupledGae, explainedVariance, gae, maskedWhiten, vapoLambda, WHITEN_EPS, type GaeInput, type Lambda } from "../../src/rl/gae.js";

const TOL = 1e-12;
const close = (got: ArrayLike<number>, want: readonly number[], tol = TOL): void => {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), `index ${i}: ${got[i]} vs ${want[i]}`).toBeLessThan(tol);
};

describe("gae: hand-worked cases", () => {
  // Two responses, V = [0.5, 0.2, −0.4 | 0.3, 0.1], R = [1, −1].
  const input: GaeInput = { values: [0.5, 0.2, -0.4, 0.3, 0.1], rewards: [1, -1], lengths: [3, 2] };

  it("γ = 1, λ = 1: Â_t = R − V_t (Monte-Carlo return minus the value), returns = R", () => {
    const o = gae(input, { gamma: 1, lambda: 1 });
    close(o.advantages, [1 - 0.5, 1 - 0.2, 1 + 0.4, -1 - 0.3, -1 - 0.1]);
    close(o.returns, [1, 1, 1, -1, -1]);
    expect(Array.from(o.valid)).toEqual([1, 1, 1, 1, 1]);
  });

  it("γ = 1, λ = 0: Â_t = V_{t+1} − V_t, and R − V_t on the last token (one-step TD)", () => {
    const o = gae(input, { gamma: 1, lambda: 0 });
    close(o.advantages, [0.2 - 0.5, -0.4 - 0.2, 1 + 0.4, 0.1 - 0.3, -1 - 0.1]);
    close(o.returns, [0.2, -0.4, 1, 0.1, -1]);
  });

  it("γ = 0.9, λ = 0.8 on three tokens, worked by hand", () => {
    // V = [0.5, 0.2, −0.4], R = 1 on the last token, V after it = 0; γλ = 0.72.
    //   δ_2 = 1 + 0.9·0 − (−0.4)   = 1.4          Â_2 = 1.4
    //   δ_1 = 0 + 0.9·(−0.4) − 0.2 = −0.56        Â_1 = −0.56 + 0.72·1.4   = 0.448
    //   δ_0 = 0 + 0.9·0.2 − 0.5    = −0.32        Â_0 = −0.32 + 0.72·0.448 = 0.00256
    //   returns R_t = Â_t + V_t = [0.50256, 0.648, 1.0]
    const o = gae({ values: [0.5, 0.2, -0.4], rewards: [1], lengths: [3] }, { gamma: 0.9, lambda: 0.8 });
    close(o.advantages, [0.00256, 0.448, 1.4]);
    close(o.returns, [0.50256, 0.648, 1.0]);
  });

  it("KL in the reward: r_t = −β·KL_t (+ R on the last token)", () => {
    // γ = λ = 1, V = 0: Â_t = Σ_{s ≥ t} r_s.  β = 0.1, KL = [0.5, 0.2], R = 1.
    const o = gae({ values: [0, 0], rewards: [1], lengths: [2], klPerToken: [0.5, 0.2], klCoef: 0.1 }, { gamma: 1, lambda: 1 });
    close(o.advantages, [1 - 0.05 - 0.02, 1 - 0.02]);
    // With γ = 0.5, λ = 1 the discount applies to the later rewards: Â_0 = −0.05 + 0.5·(1 − 0.02).
    const d = gae({ values: [0, 0], rewards: [1], lengths: [2], klPerToken: [0.5, 0.2], klCoef: 0.1 }, { gamma: 0.5, lambda: 1 });
    close(d.advantages, [-0.05 + 0.5 * 0.98, 0.98]);
  });

  it("unscorable responses: advantage 0, return = value, not valid; the others unchanged", () => {
    const withNull = gae({ values: [0.5, 0.2, -0.4, 0.3, 0.1, 0.7], rewards: [1, null, -1], lengths: [3, 1, 2] }, { gamma: 0.9, lambda: 0.8 });
    const without = gae({ values: [0.5, 0.2, -0.4, 0.1, 0.7], rewards: [1, -1], lengths: [3, 2] }, { gamma: 0.9, lambda: 0.8 });
    expect(Array.from(withNull.valid)).toEqual([1, 1, 1, 0, 1, 1]);
    expect(withNull.advantages[3]).toBe(0);
    expect(withNull.returns[3]).toBe(0.3);
    close([...withNull.advantages.slice(0, 3), ...withNull.advantages.slice(4)], Array.from(without.advantages));
    close([...withNull.returns.slice(0, 3), ...withNull.returns.slice(4)], Array.from(without.returns));
    // Whitening ignores them too.
    const w1 = gae({ values: [0.5, 0.2, -0.4, 0.3, 0.1, 0.7], rewards: [1, Number.NaN, -1], lengths: [3, 1, 2] }, { gamma: 0.9, lambda: 0.8, whiten: true });
    const w2 = gae({ values: [0.5, 0.2, -0.4, 0.1, 0.7], rewards: [1, -1], lengths: [3, 2] }, { gamma: 0.9, lambda: 0.8, whiten: true });
    expect(w1.advantages[3]).toBe(0);
    close([...w1.advantages.slice(0, 3), ...w1.advantages.slice(4)], Array.from(w2.advantages));
    expect(w1.stats.tokens).toBe(5);
  });

  it("every response unscorable: all zero, stats NaN", () => {
    const o = gae({ values: [1, 2], rewards: [null], lengths: [2] }, { gamma: 1, lambda: 1, whiten: true });
    expect(Array.from(o.advantages)).toEqual([0, 0]);
    expect(Array.from(o.returns)).toEqual([1, 2]);
    expect(o.stats.tokens).toBe(0);
    expect(o.stats.advantageMean).toBeNaN();
  });
});

describe("gae: per-response λ (VAPO's length-adaptive λ_actor = 1 − 1/(α·l))", () => {
  it("vapoLambda: 1 − 1/(α·l), clamped to [0, 1]", () => {
    const lam = vapoLambda(0.05);
    expect(lam(100)).toBeCloseTo(0.8, 15);
    expect(lam(1000)).toBeCloseTo(0.98, 15);
    expect(lam(20)).toBe(0); // α·l = 1
    expect(lam(10)).toBe(0); // 1 − 2 = −1, clamped
    expect(() => vapoLambda(0)).toThrow(/alpha/);
  });

  it("each response uses λ of its own length; the same as separate runs with a constant λ", () => {
    const lengths = [100, 10, 40];
    const values = Array.from({ length: 150 }, (_, i) => Math.sin(i) * 0.5);
    const rewards = [1, -1, 0.5];
    const lam = vapoLambda(0.05);
    const seen: number[] = [];
    const o = gae({ values, rewards, lengths }, { gamma: 1, lambda: (l) => (seen.push(l), lam(l)) });
    expect(seen).toEqual(lengths);
    let off = 0;
    for (let i = 0; i < lengths.length; i++) {
      const n = lengths[i]!;
      const alone = gae({ values: values.slice(off, off + n), rewards: [rewards[i]!], lengths: [n] }, { gamma: 1, lambda: lam(n) });
      close(o.advantages.slice(off, off + n), Array.from(alone.advantages));
      off += n;
    }
    // λ = 0 for the 10-token response: one-step TD errors.
    close(o.advantages.slice(100, 110), [...Array.from({ length: 9 }, (_, t) => values[101 + t]! - values[100 + t]!), -1 - values[109]!]);
  });

  it("rejects λ outside [0, 1] and γ outside [0, 1]", () => {
    const input: GaeInput = { values: [0, 0], rewards: [1], lengths: [2] };
    expect(() => gae(input, { gamma: 1, lambda: 1.5 })).toThrow(/lambda must be in \[0, 1\], got 1.5 for response 0 \(length 2\)/);
    expect(() => gae(input, { gamma: 1, lambda: (l: number) => 1 - 1 / (0.05 * l) })).toThrow(/lambda must be in \[0, 1\]/);
    expect(() => gae(input, { gamma: 1.1, lambda: 1 })).toThrow(/gamma/);
  });
});

describe("gae: whitening, decoupled GAE, stats, shapes", () => {
  it("whitening: (Â − mean)/sqrt(sample var + 1e-8) over the valid tokens; returns are not whitened", () => {
    const input: GaeInput = { values: [0.5, 0.2, -0.4, 0.3, 0.1], rewards: [1, -1], lengths: [3, 2] };
    const raw = gae(input, { gamma: 0.9, lambda: 0.8 });
    const w = gae(input, { gamma: 0.9, lambda: 0.8, whiten: true });
    const a = Array.from(raw.advantages);
    const m = a.reduce((s, x) => s + x, 0) / a.length;
    const v = a.reduce((s, x) => s + (x - m) ** 2, 0) / (a.length - 1);
    close(w.advantages, a.map((x) => (x - m) / Math.sqrt(v + WHITEN_EPS)));
    close(w.returns, Array.from(raw.returns));
    expect(w.stats.advantageMean).toBeCloseTo(0, 14);
    expect(w.stats.advantageStd).toBeCloseTo(1, 6);
    // maskedWhiten: masked-out entries are 0; one entry: var taken as 0.
    close(maskedWhiten([1, 5, 3], [1, 0, 1]), [-1 / Math.sqrt(2 + WHITEN_EPS), 0, 1 / Math.sqrt(2 + WHITEN_EPS)]);
    close(maskedWhiten([4], [1]), [0]);
  });

  it("decoupled GAE: returns from λ_critic, advantages from λ_actor", () => {
    const input: GaeInput = { values: [0.5, 0.2, -0.4, 0.3, 0.1], rewards: [1, null], lengths: [3, 2] };
    const critic = gae(input, { gamma: 1, lambda: 1 });
    const actor = gae(input, { gamma: 1, lambda: 0.5, whiten: true });
    const d = decoupledGae(input, { gamma: 1, criticLambda: 1, actorLambda: 0.5, whiten: true });
    close(d.returns, Array.from(critic.returns));
    close(d.advantages, Array.from(actor.advantages));
    expect(Array.from(d.valid)).toEqual([1, 1, 1, 0, 0]);
    const vapo = decoupledGae(input, { gamma: 1, criticLambda: 1, actorLambda: vapoLambda(0.05) });
    close(vapo.advantages, Array.from(gae(input, { gamma: 1, lambda: 0 }).advantages)); // l = 3: λ = 0
    expect(decoupledGae(input, { gamma: 1, criticLambda: 1, actorLambda: 1 })).toEqual(critic);
  });

  it("stats: advantage mean/std/min/max, return and value means, explained variance", () => {
    const o = gae({ values: [0.5, 0.2, -0.4, 0.3, 0.1], rewards: [1, -1], lengths: [3, 2] }, { gamma: 1, lambda: 1 });
    const a = [0.5, 0.8, 1.4, -1.3, -1.1];
    const m = a.reduce((s, x) => s + x, 0) / 5;
    expect(o.stats.advantageMean).toBeCloseTo(m, 14);
    expect(o.stats.advantageStd).toBeCloseTo(Math.sqrt(a.reduce((s, x) => s + (x - m) ** 2, 0) / 4), 14);
    expect([o.stats.advantageMin, o.stats.advantageMax]).toEqual([-1.3, 1.4]);
    expect(o.stats.returnMean).toBeCloseTo(0.2, 14);
    expect(o.stats.valueMean).toBeCloseTo(0.14, 14);
    expect(o.stats.explainedVariance).toBeCloseTo(explainedVariance([0.5, 0.2, -0.4, 0.3, 0.1], [1, 1, 1, -1, -1], [1, 1, 1, 1, 1]), 14);
    expect(explainedVariance([1, 2, 3], [1, 2, 3], [1, 1, 1])).toBe(1);
    expect(explainedVariance([0, 0, 0], [1, 2, 9], [1, 1, 0])).toBeCloseTo(0, 14);
    expect(explainedVariance([0, 0], [1, 1], [1, 1])).toBeNaN();
  });

  it("rejects mismatched shapes and KL without per-token values", () => {
    expect(() => gae({ values: [0], rewards: [1], lengths: [2] }, { gamma: 1, lambda: 1 })).toThrow(/values.length \(1\) != total tokens \(2\)/);
    expect(() => gae({ values: [0], rewards: [1, 2], lengths: [1] }, { gamma: 1, lambda: 1 })).toThrow(/lengths.length/);
    expect(() => gae({ values: [0], rewards: [1], lengths: [1], klCoef: 0.1 }, { gamma: 1, lambda: 1 })).toThrow(/klPerToken/);
  });
});

// ***** against PyTorch *****

interface GaeCase {
  gamma: number;
  lambda: number | { vapoAlpha: number };
  klCoef: number;
  whiten: boolean;
  lengths: number[];
  rewards: (number | null)[];
  values: number[];
  kl: number[] | null;
  expected: { advantages: number[]; returns: number[]; valid: number[] };
}

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "fixtures", "rl", "gae.json");

describe("gae: against PyTorch (fixtures/rl/gae.json)", () => {
  const cases = (JSON.parse(fs.readFileSync(FIXTURE, "utf8")) as { gae: GaeCase[] }).gae;
  it("has the cases the script writes", () => expect(cases.length).toBeGreaterThanOrEqual(7));
  for (const [k, c] of cases.entries()) {
    const lam = typeof c.lambda === "number" ? c.lambda : JSON.stringify(c.lambda);
    it(`case ${k}: γ ${c.gamma}, λ ${lam}, β ${c.klCoef}, whiten ${c.whiten}`, () => {
      const lambda: Lambda = typeof c.lambda === "number" ? c.lambda : vapoLambda(c.lambda.vapoAlpha);
      const o = gae({ values: c.values, rewards: c.rewards, lengths: c.lengths, ...(c.kl ? { klPerToken: c.kl, klCoef: c.klCoef } : {}) }, { gamma: c.gamma, lambda, whiten: c.whiten });
      close(o.advantages, c.expected.advantages);
      close(o.returns, c.expected.returns);
      expect(Array.from(o.valid)).toEqual(c.expected.valid);
    });
  }
});
