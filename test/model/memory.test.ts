/**
 * Training-memory options of the model (issue 16 item 3):
 * - gradient checkpointing (`gradCheckpointing`): the backward recomputes each layer from its saved input;
 *   the gradients must be those of the stored-activation path (the same kernels on the same inputs);
 * - a LoRA base frozen in bf16 (`freezeBaseBf16`): matrices and embedding only in bf16. Pinned three ways:
 *   exactly against the existing bf16 path on weights pre-rounded to bf16 (what a bf16 checkpoint holds),
 *   against the fp32 path at bf16 tolerances, and the adapters' gradients against finite differences.
 * Tiny fixture models from scripts/make_fixtures.py (their weights; the expected values here are the
 * model's own other paths and finite differences, not hard-coded numbers).
 */
import { describe, expect, it } from "vitest";
import { LoraSet } from "../../src/model/lora.js";
import type { Model } from "../../src/model/model.js";
import { expectClose, fixtureModel, lcgInts, loadFixture, type Fixture } from "./helpers.js";

/** Recomputation repeats the same kernels on the same inputs: only fp32 rounding may differ (in practice nothing). */
const RECOMPUTE = { atol: 1e-7, rtol: 1e-6 };
/** The frozen-bf16 path against the bf16 path on pre-rounded weights: the same products in the same order. */
const SAME = { atol: 0, rtol: 0 };
/** bf16 operands (8 bits of mantissa) against fp32, on log-probs of a tiny model. */
const BF16_LOGP = { atol: 3e-2, rtol: 3e-2 };

function batch(fx: Fixture) {
  const tokens = fx.ref.i("input_ids"), cu = fx.ref.i("cu_seqlens");
  const targets = new Int32Array(tokens.length).fill(-1);
  for (let s = 0; s + 1 < cu.length; s++) for (let t = cu[s]!; t + 1 < cu[s + 1]!; t++) targets[t] = tokens[t + 1]!;
  const dlogp = Float32Array.from(lcgInts(tokens.length, 200, 11), (x) => (x - 100) / 100);
  const dent = Float32Array.from(lcgInts(tokens.length, 200, 12), (x) => (x - 100) / 400);
  return { tokens, cu, targets, dlogp, dent };
}

/** Rounds every fp32 weight to bf16 (round to nearest even), in place: what a bf16 checkpoint holds. */
function roundWeightsToBf16(m: Model): void {
  const u = new Uint32Array(m.params.data.buffer, m.params.data.byteOffset, m.params.data.length);
  for (let i = 0; i < u.length; i++) {
    const x = u[i]!;
    u[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) << 16;
  }
  m.params.markChanged();
}

function lora(m: Model, dropout: number): LoraSet {
  const set = new LoraSet(m, { rank: 4, alpha: 8, dropout, targets: ["q", "k", "v", "o", "gate", "up", "down"] }, { seed: 3 });
  set.init(5);
  // B = 0 at init would make dA vanish: give B values so every adapter gradient is exercised
  for (const s of set.table.specs) if (s.name.endsWith("lora_B.weight")) set.params.view(s.name).set(Float32Array.from(lcgInts(s.size, 200, s.offset + 1), (x) => (x - 100) / 2000));
  set.attach();
  set.training = true;
  return set;
}

function relErr(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  let d = 0, n = 0;
  for (let i = 0; i < ref.length; i++) {
    d += (got[i]! - ref[i]!) ** 2;
    n += ref[i]! ** 2;
  }
  return Math.sqrt(d / n);
}

describe("gradient checkpointing", () => {
  for (const name of ["qwen2-tiny", "qwen3-tiny"]) {
    it(`${name}: full fine-tuning gradients are those of the stored activations (fp32 and bf16)`, () => {
      const fx = loadFixture(name);
      const b = batch(fx);
      for (const precision of ["fp32", "bf16"] as const) {
        const grads: Float32Array[] = [];
        const logps: Float32Array[] = [];
        for (const ckpt of [false, true]) {
          const m = fixtureModel(fx, { precision, gradCheckpointing: ckpt });
          m.zeroGrad();
          logps.push(m.forward(b.tokens, b.cu, b.targets).logp.slice());
          m.backward(b.dlogp, b.dent);
          grads.push(m.grads.data.slice());
        }
        expectClose(`${name} ${precision} logp`, logps[1]!, logps[0]!, SAME);
        expect(grads[0]!.some((x) => x !== 0)).toBe(true);
        expectClose(`${name} ${precision} grads`, grads[1]!, grads[0]!, RECOMPUTE);
      }
    });
  }

  it("LoRA with dropout: the recompute replays the same masks (adapter gradients unchanged), the base gets none", () => {
    const fx = loadFixture("qwen2-tiny");
    const b = batch(fx);
    const grads: Float32Array[] = [];
    for (const ckpt of [false, true]) {
      const m = fixtureModel(fx, { gradCheckpointing: ckpt });
      const set = lora(m, 0.2);
      set.zeroGrad();
      m.forward(b.tokens, b.cu, b.targets);
      m.backward(b.dlogp, null);
      grads.push(set.grads.data.slice());
    }
    expect(grads[0]!.some((x) => x !== 0)).toBe(true);
    expectClose("LoRA dropout grads", grads[1]!, grads[0]!, RECOMPUTE);
  });

  it("switching it on between steps rebuilds the workspace and keeps gradients", () => {
    const fx = loadFixture("llama-tiny");
    const b = batch(fx);
    const m = fixtureModel(fx);
    m.zeroGrad();
    m.forward(b.tokens, b.cu, b.targets);
    m.backward(b.dlogp, null);
    const plain = m.grads.data.slice();
    m.gradCheckpointing = true;
    m.zeroGrad();
    m.forward(b.tokens, b.cu, b.targets);
    m.backward(b.dlogp, null);
    expectClose("toggled grads", m.grads.data, plain, RECOMPUTE);
  });
});

describe("LoRA on a base frozen in bf16", () => {
  it("equals the bf16 path on bf16-rounded weights: log-probs, adapter gradients, sampling logits; fp32 weights released", () => {
    const fx = loadFixture("qwen2-tiny");
    const b = batch(fx);
    const runs = [false, true].map((freeze) => {
      const m = fixtureModel(fx, { precision: "bf16" });
      roundWeightsToBf16(m);
      const set = lora(m, 0);
      if (freeze) m.freezeBaseBf16();
      set.zeroGrad();
      const logp = m.forward(b.tokens, b.cu, b.targets).logp.slice();
      m.backward(b.dlogp, b.dent);
      return { m, logp, grads: set.grads.data.slice(), last: m.lastLogits(b.tokens, b.cu) };
    });
    const [ref, frozen] = runs as [typeof runs[0], typeof runs[0]];
    expectClose("frozen logp", frozen.logp, ref.logp, SAME);
    expectClose("frozen adapter grads", frozen.grads, ref.grads, SAME);
    expectClose("frozen lastLogits", frozen.last, ref.last, SAME);
    // the fp32 copy is gone: only norms and biases remain in fp32, no base gradients can exist
    expect(frozen.m.baseFrozenBf16).toBe(true);
    expect(frozen.m.params.data.length).toBeLessThan(0.05 * frozen.m.table.size);
    expect(() => frozen.m.grads).toThrow(/frozen in bf16/);
    expect(() => { frozen.m.precision = "fp32"; }).toThrow(/frozen in bf16/);
  });

  it("matches the fp32 path at bf16 tolerances (log-probs, adapter gradients)", () => {
    for (const name of ["qwen2-tiny", "qwen3-tiny"]) {
      const fx = loadFixture(name);
      const b = batch(fx);
      const out = (["fp32", "bf16"] as const).map((precision) => {
        const m = fixtureModel(fx, { precision, gradCheckpointing: precision === "bf16" });
        const set = lora(m, 0);
        if (precision === "bf16") m.freezeBaseBf16();
        set.zeroGrad();
        const logp = m.forward(b.tokens, b.cu, b.targets).logp.slice();
        m.backward(b.dlogp, b.dent);
        return { logp, grads: set.grads.data.slice() };
      });
      expectClose(`${name} bf16-frozen vs fp32 logp`, out[1]!.logp, out[0]!.logp, BF16_LOGP);
      const e = relErr(out[1]!.grads, out[0]!.grads);
      expect(e, `${name}: relative error of the adapter gradients ${e}`).toBeLessThan(3e-2);
    }
  });

  it("adapter gradients match finite differences of the frozen-bf16 model's loss", () => {
    const fx = loadFixture("qwen2-tiny");
    const b = batch(fx);
    const m = fixtureModel(fx, { precision: "bf16" });
    const set = lora(m, 0);
    m.freezeBaseBf16();
    const loss = (): number => {
      const lp = m.forward(b.tokens, b.cu, b.targets).logp;
      let s = 0;
      for (let t = 0; t < lp.length; t++) s += b.dlogp[t]! * lp[t]!;
      return s;
    };
    set.zeroGrad();
    loss();
    m.backward(b.dlogp, null);
    const g = set.grads.data.slice();
    // the directional derivative along the gradient (|g|²/|g| = |g|), by a central difference whose step is
    // large against bf16's rounding of the activations
    const p = set.params.data, p0 = p.slice();
    const norm = Math.sqrt(g.reduce((s, x) => s + x * x, 0));
    const h = 2e-2;
    const at = (sign: number): number => {
      for (let i = 0; i < p.length; i++) p[i] = p0[i]! + (sign * h * g[i]!) / norm;
      return loss();
    };
    const fd = (at(1) - at(-1)) / (2 * h);
    p.set(p0);
    expect(norm).toBeGreaterThan(0);
    expect(Math.abs(fd - norm) / norm, `finite difference ${fd} vs |grad| ${norm}`).toBeLessThan(3e-2);
  });

  it("refuses what a frozen base cannot do: merging adapters, a value head, fp32 precision", () => {
    const fx = loadFixture("qwen2-tiny");
    const m = fixtureModel(fx);
    expect(() => m.freezeBaseBf16()).toThrow(/precision to bf16/);
    m.precision = "bf16";
    const set = lora(m, 0);
    m.freezeBaseBf16();
    expect(() => set.merge()).toThrow(/frozen in bf16/);
  });
});
