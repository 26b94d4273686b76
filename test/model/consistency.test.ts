/**
 * Self-consistency of the model's paths (each against an independent oracle, never against stored
 * output of our own): packed = each sequence alone; KV-cache prefill + decode = full recompute at every
 * position; chunked vocabulary head = unchunked; cross-entropy backward = finite differences; the
 * adapter hook = the same change made to the weight.
 */
import { describe, expect, it } from "vitest";
import type { LinearAdapter } from "../../src/model/model.js";
import { Model } from "../../src/model/model.js";
import { expectClose, fixtureModel, lcgInts, loadFixture } from "./helpers.js";

/** Same math, different summation order (blocking, row grouping) in fp32. */
const SAME = { atol: 2e-5, rtol: 1e-4 };

function nextTokenTargets(tokens: Int32Array, cu: Int32Array): Int32Array {
  const t = new Int32Array(tokens.length).fill(-1);
  for (let s = 0; s + 1 < cu.length; s++) for (let i = cu[s]!; i < cu[s + 1]! - 1; i++) t[i] = tokens[i + 1]!;
  return t;
}

describe.each(["qwen2-tiny", "llama-tiny", "qwen3-tiny"])("%s", (name) => {
  const fx = loadFixture(name);
  const V = fx.cfg.vocabSize;
  const tokens = fx.ref.i("input_ids"), cu = fx.ref.i("cu_seqlens");
  const targets = nextTokenTargets(tokens, cu);
  const S = cu.length - 1;

  it("packed sequences give the same logp, entropy and gradients as each sequence alone", () => {
    const m = fixtureModel(fx);
    const dl = lcgInts(tokens.length, 1000, 7), dlogp = Float32Array.from(dl, (x) => x / 1000 - 0.5);
    m.zeroGrad();
    const packed = m.forward(tokens, cu, targets);
    const logp = packed.logp.slice(), entropy = packed.entropy.slice();
    m.backward(dlogp, entropy.map(() => 0.1));
    const gPacked = m.grads.data.slice();
    m.zeroGrad();
    for (let s = 0; s < S; s++) {
      const a = cu[s]!, b = cu[s + 1]!;
      const one = m.forward(tokens.slice(a, b), Int32Array.of(0, b - a), targets.slice(a, b));
      expectClose(`${name} seq ${s} logp`, one.logp, logp.subarray(a, b), SAME);
      expectClose(`${name} seq ${s} entropy`, one.entropy, entropy.subarray(a, b), SAME);
      m.backward(dlogp.slice(a, b), new Float32Array(b - a).fill(0.1));
    }
    expectClose(`${name} grads packed vs alone`, m.grads.data, gPacked, { atol: 1e-5, rtol: 1e-3 });
  });

  it("the chunked vocabulary head (logits recomputed in backward) equals the one-chunk head", () => {
    const whole = fixtureModel(fx), chunked = fixtureModel(fx, { logitsChunkFloats: 3 * V });
    const dlogp = Float32Array.from(lcgInts(tokens.length, 1000, 3), (x) => x / 500 - 1);
    const dent = Float32Array.from(lcgInts(tokens.length, 1000, 4), (x) => x / 1000 - 0.5);
    for (const m of [whole, chunked]) {
      m.zeroGrad();
      m.forward(tokens, cu, targets);
      m.backward(dlogp, dent);
    }
    expectClose(`${name} chunked logp`, chunked.forward(tokens, cu, targets).logp, whole.forward(tokens, cu, targets).logp, SAME);
    expectClose(`${name} chunked grads`, chunked.grads.data, whole.grads.data, { atol: 1e-6, rtol: 1e-4 });
  });

  it("onlyTargets (head on target rows only, chunked) gives the full head's values and gradients there", () => {
    const full = fixtureModel(fx), only = fixtureModel(fx, { logitsChunkFloats: 4 * V });
    const dlogp = Float32Array.from(lcgInts(tokens.length, 1000, 5), (x, t) => (targets[t]! >= 0 ? x / 500 - 1 : 0));
    const dent = Float32Array.from(lcgInts(tokens.length, 1000, 6), (x, t) => (targets[t]! >= 0 ? x / 1000 - 0.5 : 0));
    full.zeroGrad();
    const f = full.forward(tokens, cu, targets);
    const fl = f.logp.slice(), fe = f.entropy.map((e, t) => (targets[t]! >= 0 ? e : 0));
    full.backward(dlogp, dent);
    only.zeroGrad();
    const o = only.forward(tokens, cu, targets, { onlyTargets: true });
    expectClose(`${name} onlyTargets logp`, o.logp, fl, SAME);
    expectClose(`${name} onlyTargets entropy`, o.entropy, fe, SAME);
    only.backward(dlogp, dent);
    expectClose(`${name} onlyTargets grads`, only.grads.data, full.grads.data, { atol: 1e-6, rtol: 1e-4 });
  });

  it("prefill + decode logits equal lastLogits (full recompute) at every position, with prefix sharing", () => {
    const m = fixtureModel(fx);
    const prompt = tokens.slice(0, 3);
    const cache = m.createKVCache(4, 16);
    // one prefill in slot 2, shared by slots 0 and 3 via copySlot
    const first = m.prefill(cache, Int32Array.of(2), prompt, Int32Array.of(0, 3));
    expectClose(`${name} prefill`, first, m.lastLogits(prompt, Int32Array.of(0, 3)), SAME);
    // into a given buffer (the sampler's step buffer): a view of it, the same logits
    const into = new Float32Array(2 * V).fill(NaN);
    const again = m.prefill(cache, Int32Array.of(2), prompt, Int32Array.of(0, 3), into);
    expect(again.buffer).toBe(into.buffer);
    expect(again.length).toBe(V);
    expect(Array.from(again)).toEqual(Array.from(first));
    expect(() => m.prefill(cache, Int32Array.of(2), prompt, Int32Array.of(0, 3), new Float32Array(V - 1))).toThrow(/logits buffer/);
    m.copySlot(cache, 2, 0);
    m.copySlot(cache, 2, 3);
    expect(Array.from(cache.lens)).toEqual([3, 0, 3, 3]);
    const seqs = [[...prompt], [...prompt], [...prompt]]; // slots 0, 2, 3
    const slots = Int32Array.of(3, 0, 2); // decode order differs from slot order on purpose
    const order = [2, 0, 1]; // seqs index of each slot listed
    const out = new Float32Array(3 * V + 7); // odd steps: decode into a reused buffer (the sampler's way)
    for (let step = 0; step < 8; step++) {
      const next = Int32Array.from(order, (q, i) => (tokens[5 + step * 3 + i]! + q) % V);
      order.forEach((q, i) => seqs[q]!.push(next[i]!));
      const got = step % 2 === 1 ? m.decode(cache, slots, next, out) : m.decode(cache, slots, next);
      expect(got.length).toBe(3 * V);
      if (step % 2 === 1) expect(got.buffer).toBe(out.buffer);
      const packedTokens = Int32Array.from(order.flatMap((q) => seqs[q]!));
      const cuDec = Int32Array.from([0, 1, 2, 3], (i) => i * seqs[0]!.length);
      expectClose(`${name} decode step ${step}`, got, m.lastLogits(packedTokens, cuDec), SAME);
    }
    expect(Array.from(cache.lens)).toEqual([11, 0, 11, 11]);
  });

  it("rejects bad input with clear errors", () => {
    const m = fixtureModel(fx);
    expect(() => m.forward(Int32Array.of(1, 2), Int32Array.of(0, 3), Int32Array.of(1, 2))).toThrow(/cuSeqlens/);
    expect(() => m.lastLogits(Int32Array.of(1, V), Int32Array.of(0, 2))).toThrow(/outside the vocabulary/);
    const cache = m.createKVCache(2, 4);
    expect(() => m.prefill(cache, Int32Array.of(0), tokens.slice(0, 5), Int32Array.of(0, 5))).toThrow(/exceeds the cache length/);
    expect(() => m.decode(cache, Int32Array.of(1, 1), Int32Array.of(1, 2))).toThrow(/listed twice/);
    expect(() => m.backward(null, null)).toThrow(/forward\(\) first/);
  });
});

describe("cross-entropy backward", () => {
  it("matches central finite differences of the loss (qwen3-tiny: q/k norm, GQA, tied head)", () => {
    const fx = loadFixture("qwen3-tiny");
    const m = fixtureModel(fx);
    const tokens = fx.ref.i("input_ids"), cu = fx.ref.i("cu_seqlens"), targets = nextTokenTargets(tokens, cu);
    m.zeroGrad();
    m.crossEntropyStep(tokens, cu, targets);
    const loss = () => Model.crossEntropy(m.forward(tokens, cu, targets).logp, targets).loss;
    const h = 1e-2;
    const picks = lcgInts(40, 1 << 30, 11);
    let checked = 0;
    for (let i = 0; i < m.table.specs.length; i += 2) {
      const s = m.table.specs[i]!;
      const p = m.params.view(s.name), g = m.grads.view(s.name);
      const j = picks[checked % picks.length]! % s.size;
      const x0 = p[j]!;
      p[j] = x0 + h;
      const up = loss();
      p[j] = x0 - h;
      const down = loss();
      p[j] = x0;
      const fd = (up - down) / (2 * h);
      // fp32 loss ~4.6 → rounding noise ~1e-6/h; truncation O(h²)
      expect(Math.abs(fd - g[j]!), `${s.name}[${j}] analytic ${g[j]} fd ${fd}`).toBeLessThan(2e-3 + 2e-2 * Math.abs(fd));
      checked++;
    }
    expect(checked).toBeGreaterThan(8);
  });
});

describe("linear adapter hook", () => {
  it("an adapter adding x·Mᵀ behaves exactly like W + M, forward and backward (dx)", () => {
    const fx = loadFixture("qwen2-tiny");
    const tokens = fx.ref.i("input_ids"), cu = fx.ref.i("cu_seqlens"), targets = nextTokenTargets(tokens, cu);
    const withAdapter = fixtureModel(fx), merged = fixtureModel(fx);
    const lin = withAdapter.linear("model.layers.1.mlp.up_proj");
    const M = Float32Array.from(lcgInts(lin.outFeatures * lin.inFeatures, 1000, 5), (x) => (x - 500) / 5000); // (out, in)
    const adapter: LinearAdapter = {
      forward(out, x, rows) {
        withAdapter.be.matmul(out, x, M, rows, lin.outFeatures, lin.inFeatures, { transB: true, accumulate: true });
      },
      backward(dx, dout, _x, rows) {
        withAdapter.be.matmul(dx, dout, M, rows, lin.inFeatures, lin.outFeatures, { accumulate: true });
      },
    };
    lin.adapter = adapter;
    const w = merged.params.view("model.layers.1.mlp.up_proj.weight");
    for (let i = 0; i < w.length; i++) w[i] = w[i]! + M[i]!;
    merged.params.markChanged();
    const dlogp = Float32Array.from(lcgInts(tokens.length, 100, 9), (x) => x / 100);
    for (const m of [withAdapter, merged]) {
      m.zeroGrad();
      m.forward(tokens, cu, targets);
      m.backward(dlogp, null);
    }
    expectClose("adapter logp", withAdapter.forward(tokens, cu, targets).logp, merged.forward(tokens, cu, targets).logp, SAME);
    // gradients reaching layer 0 flow through the adapter's dx
    const n = "model.layers.0.self_attn.q_proj.weight";
    expectClose("adapter dx path", withAdapter.grads.view(n), merged.grads.view(n), { atol: 1e-5, rtol: 1e-3 });
    // trainBase = false: no base gradients at all
    withAdapter.trainBase = false;
    withAdapter.zeroGrad();
    withAdapter.forward(tokens, cu, targets);
    withAdapter.backward(dlogp, null);
    expect(withAdapter.grads.data.every((x) => x === 0)).toBe(true);
  });
});
