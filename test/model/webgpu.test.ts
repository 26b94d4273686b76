/**
 * The model on the webgpu backend against the same model on the TypeScript reference: training steps
 * (forward with and without onlyTargets, backward with log-prob and entropy gradients, clipping, AdamW)
 * with every tensor resident on the device, bf16 products, the value model, and KV-cache generation
 * (prefill, decode, copySlot). Runs whenever the optional `webgpu` package is installed (CI); the
 * install check itself is in test/kernels/webgpu.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { Backend } from "../../src/kernels/backend.js";
import { tsBackend } from "../../src/kernels/ts.js";
import { loadWebGpuBackend } from "../../src/kernels/webgpu-node.js";
import type { ModelConfig } from "../../src/model/config.js";
import { Model } from "../../src/model/model.js";
import { AdamW, clipGradNorm } from "../../src/model/optim.js";
import { initParams } from "../../src/model/params.js";
import { ValueModel } from "../../src/model/value.js";
import { expectClose, randn, rng } from "../kernels/util.js";

const load = loadWebGpuBackend();

const cfg: ModelConfig = {
  architecture: "Qwen3ForCausalLM", vocabSize: 37, hiddenSize: 32, intermediateSize: 48, numLayers: 2,
  numHeads: 4, numKvHeads: 2, headDim: 16, ropeTheta: 10000, ropeScaling: null, rmsNormEps: 1e-6, tieWordEmbeddings: false,
  qkvBias: true, oBias: false, mlpBias: false, qkNorm: true, maxPositionEmbeddings: 64, initializerRange: 0.3,
};
const TOL = { atol: 1e-4, rtol: 1e-3 };
/**
 * After AdamW steps at lr 1e-2 a weight whose gradient is near 0 may move by up to ~lr in either
 * direction on fp32-rounding differences (m/√v is a sign there): weights are compared at 0.1·lr. In bf16
 * a last-bit difference flips the rounding of an operand: an order of magnitude looser.
 */
const WEIGHTS = { fp32: { atol: 1e-3, rtol: 1e-3 }, bf16: { atol: 1e-2, rtol: 1e-2 } };
const STEP = { fp32: TOL, bf16: { atol: 2e-3, rtol: 1e-2 } };

function pair(precision: "fp32" | "bf16" = "fp32"): [Model, Model] {
  const mk = (backend: Backend): Model => {
    const m = new Model(cfg, { backend, precision, logitsChunkFloats: 37 * 7 }); // several head chunks
    initParams(m.params, cfg, 4);
    return m;
  };
  return [mk(tsBackend), mk(load.ok ? load.backend : tsBackend)];
}

describe.runIf(load.ok)("the model on webgpu matches the reference", () => {
  it.each(["fp32", "bf16"] as const)("training steps (%s): log-probs, entropies, gradient norm and weights", (precision) => {
    const [R, G] = pair(precision);
    const r = rng(40);
    const optR = new AdamW(R.params, R.grads, { weightDecay: 0.1 }, tsBackend);
    const optG = new AdamW(G.params, G.grads, { weightDecay: 0.1 }, G.be);
    for (let step = 0; step < 3; step++) {
      const lens = [5, 9, 3];
      const T = lens.reduce((a, b) => a + b, 0);
      const cu = Int32Array.from([0, 5, 14, 17]);
      const tokens = Int32Array.from({ length: T }, () => Math.floor(r() * cfg.vocabSize));
      const targets = Int32Array.from({ length: T }, (_, t) => (t % 4 === 0 ? -1 : Math.floor(r() * cfg.vocabSize)));
      const onlyTargets = step % 2 === 0;
      const dlogp = randn(r, T), dent = randn(r, T, 0.1);
      const got: Float32Array[] = [];
      for (const [m, opt] of [[R, optR], [G, optG]] as const) {
        m.zeroGrad();
        const { logp, entropy } = m.forward(tokens, cu, targets, { onlyTargets });
        got.push(logp.slice(), entropy.slice());
        m.backward(dlogp, onlyTargets ? null : dent);
        got.push(Float32Array.of(clipGradNorm(m.grads, 0.5, m.be)));
        opt.update(1e-2);
      }
      expectClose(`logp step ${step}`, got[3]!, got[0]!, STEP[precision]);
      expectClose(`entropy step ${step}`, got[4]!, got[1]!, STEP[precision]);
      expectClose(`grad norm step ${step}`, got[5]!, got[2]!, { atol: 1e-5, rtol: STEP[precision].rtol });
    }
    const before = G.params.data.slice();
    G.params.pull();
    expect(Array.from(G.params.data.subarray(0, 64))).not.toEqual(Array.from(before.subarray(0, 64))); // the host copy was stale
    expectClose("weights after 3 AdamW steps", G.params.data, R.params.data, WEIGHTS[precision]);
    const st = optG.exportState().tensors.get("exp_avg.lm_head.weight")!;
    expectClose("AdamW m", st, optR.exportState().tensors.get("exp_avg.lm_head.weight")!, { atol: 1e-5, rtol: 1e-3 });
  });

  it("generation: prefill, decode and copySlot give the reference's logits", () => {
    const [R, G] = pair();
    const r = rng(41);
    const prompt = Int32Array.from({ length: 9 }, () => Math.floor(r() * cfg.vocabSize));
    const cu = Int32Array.from([0, 4, 9]);
    const caches = [R.createKVCache(4, 16), G.createKVCache(4, 16)] as const;
    const slots = Int32Array.from([2, 0]);
    const lr = R.prefill(caches[0], slots, prompt, cu), lg = G.prefill(caches[1], slots, prompt, cu);
    expectClose("prefill logits", lg, lr, TOL);
    R.copySlot(caches[0], 2, 3);
    G.copySlot(caches[1], 2, 3);
    for (let i = 0; i < 4; i++) {
      const toks = Int32Array.from({ length: 3 }, () => Math.floor(r() * cfg.vocabSize));
      const ds = Int32Array.from([0, 2, 3]);
      expectClose(`decode ${i}`, G.decode(caches[1], ds, toks), R.decode(caches[0], ds, toks), TOL);
    }
    expectClose("lastLogits", G.lastLogits(prompt, cu), R.lastLogits(prompt, cu), TOL);
  });

  it("value model with a biased head: values, and weights after a step", () => {
    const [R, G] = pair();
    const r = rng(42);
    const vr = ValueModel.fromBase(R, { bias: true, seed: 3 }), vg = ValueModel.fromBase(G, { bias: true, seed: 3 });
    const optR = new AdamW(vr.params, vr.grads, {}, tsBackend), optG = new AdamW(vg.params, vg.grads, {}, G.be);
    const tokens = Int32Array.from({ length: 11 }, () => Math.floor(r() * cfg.vocabSize));
    const cu = Int32Array.from([0, 6, 11]);
    const dv = randn(r, 11);
    for (let step = 0; step < 2; step++) {
      const got: Float32Array[] = [];
      for (const [vm, opt] of [[vr, optR], [vg, optG]] as const) {
        vm.zeroGrad();
        got.push(vm.forward(tokens, cu).slice());
        vm.backward(dv);
        opt.update(1e-2);
      }
      expectClose(`values step ${step}`, got[1]!, got[0]!, TOL);
    }
    vg.params.pull();
    expectClose("value model weights", vg.params.data, vr.params.data, WEIGHTS.fp32);
  });
});
