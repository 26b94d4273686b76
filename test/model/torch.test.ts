/**
 * The model against PyTorch (fixtures from scripts/make_fixtures.py, float64 references): per-token
 * log-probs and entropy, last-token logits, cross-entropy, every parameter's gradient, and two
 * clipped AdamW steps.
 */
import { describe, expect, it } from "vitest";
import { Model } from "../../src/model/model.js";
import { AdamW, clipGradNorm } from "../../src/model/optim.js";
import { FIXTURE_MODELS, expectClose, fixtureModel, loadFixture } from "./helpers.js";

/** fp32 forward vs float64 torch: a handful of fp32 roundings through 2 layers. */
const FWD = { atol: 2e-5, rtol: 1e-4 };
/** fp32 gradients: sums over T·V terms; relative to the gradient's own scale. */
const GRAD = { atol: 1e-4, rtol: 1e-3 };
/** AdamW: identical fp32 update formula to torch's; differences are last-bit. */
const ADAM = { atol: 1e-6, rtol: 1e-5 };
/** bf16 matmul operands (8-bit mantissa, ~4e-3 relative per rounding) vs fp64 torch. */
const BF16_FWD = { atol: 0.08, rtol: 0.03 };

describe.each(FIXTURE_MODELS)("%s vs PyTorch", (name) => {
  const fx = loadFixture(name);
  const ref = fx.ref;
  const tokens = ref.i("input_ids"), cu = ref.i("cu_seqlens"), targets = ref.i("targets");

  it("the parameter table matches the checkpoint's names and shapes exactly", () => {
    const m = fixtureModel(fx);
    expect(m.table.specs.map((s) => s.name).sort()).toEqual([...fx.weights.keys()].sort());
  });

  it("forward: per-token logp and entropy, cross-entropy", () => {
    const m = fixtureModel(fx);
    const { logp, entropy } = m.forward(tokens, cu, targets);
    expectClose(`${name} logp`, logp, ref.f("logp"), FWD);
    expectClose(`${name} entropy`, entropy, ref.f("entropy"), FWD);
    const { loss } = Model.crossEntropy(logp, targets);
    expect(Math.abs(loss - ref.scalars["ce_loss"]!)).toBeLessThan(1e-5);
  });

  it("lastLogits and prefill give torch's last-token logits", () => {
    const m = fixtureModel(fx);
    expectClose(`${name} lastLogits`, m.lastLogits(tokens, cu), ref.f("last_logits"), FWD);
    const S = cu.length - 1;
    const cache = m.createKVCache(S + 1, 16);
    const slots = Int32Array.from({ length: S }, (_, s) => S - s); // out of order on purpose
    expectClose(`${name} prefill`, m.prefill(cache, slots, tokens, cu), ref.f("last_logits"), FWD);
  });

  it("backward from dL/dlogp and dL/dentropy gives every parameter's gradient", () => {
    const m = fixtureModel(fx);
    m.zeroGrad();
    m.forward(tokens, cu, targets);
    m.backward(ref.f("dlogp"), ref.f("dentropy"));
    for (const s of m.table.specs) {
      const g = ref.f(`grad.${s.name}`);
      let scale = 0;
      for (const x of g) scale = Math.max(scale, Math.abs(x));
      expectClose(`${name} grad ${s.name}`, m.grads.view(s.name), g, { atol: GRAD.atol * Math.max(1, scale), rtol: GRAD.rtol });
    }
  });

  it("bf16-matmul mode stays close to the fp32 reference", () => {
    const m = fixtureModel(fx, { precision: "bf16" });
    const { logp, entropy } = m.forward(tokens, cu, targets);
    expectClose(`${name} bf16 logp`, logp, ref.f("logp"), BF16_FWD);
    expectClose(`${name} bf16 entropy`, entropy, ref.f("entropy"), BF16_FWD);
    m.zeroGrad();
    m.backward(ref.f("dlogp"), ref.f("dentropy"));
    // gradients as a whole: relative L2 error of the concatenated gradient
    let num = 0, den = 0;
    for (const s of m.table.specs) {
      const g = ref.f(`grad.${s.name}`), got = m.grads.view(s.name);
      for (let i = 0; i < g.length; i++) { num += (got[i]! - g[i]!) ** 2; den += g[i]! ** 2; }
    }
    expect(Math.sqrt(num / den)).toBeLessThan(0.03);
  });

  it("bf16 mode refreshes its weight copy after an optimizer step (params.version)", () => {
    const m = fixtureModel(fx, { precision: "bf16" });
    const before = m.forward(tokens, cu, targets).logp.slice();
    m.zeroGrad();
    m.backward(ref.f("dlogp"), ref.f("dentropy"));
    new AdamW(m.params, m.grads, {}).update(1e-2); // bumps params.version
    const after = m.forward(tokens, cu, targets).logp.slice();
    const fresh = fixtureModel(fx, { precision: "bf16" });
    fresh.params.data.set(m.params.data);
    fresh.params.markChanged();
    expect(after).not.toEqual(before);
    expect(after).toEqual(fresh.forward(tokens, cu, targets).logp);
  });

  it("clip_grad_norm_ + two AdamW steps match torch.optim.AdamW", () => {
    const m = fixtureModel(fx);
    const sc = ref.scalars;
    const opt = new AdamW(m.params, m.grads, { beta1: sc["beta1"]!, beta2: sc["beta2"]!, eps: sc["eps"]!, weightDecay: sc["weight_decay"]! });
    for (const [step, lr] of [[1, sc["lr1"]!], [2, sc["lr2"]!]] as const) {
      for (const s of m.table.specs) {
        const g = m.grads.view(s.name);
        g.set(ref.f(`grad.${s.name}`));
        if (step === 2) for (let k = 0; k < g.length; k++) g[k] = Math.fround(g[k]! * Math.fround(0.5 - Math.fround(k / g.length)));
      }
      const norm = clipGradNorm(m.grads, sc["max_norm"]!);
      expect(Math.abs(norm - sc[`grad_norm${step}`]!) / norm).toBeLessThan(1e-5);
      opt.update(lr);
    }
    expect(m.params.version).toBe(3);
    for (const s of m.table.specs) expectClose(`${name} adamw ${s.name}`, m.params.view(s.name), ref.f(`adamw2.${s.name}`), ADAM);
  });
});
