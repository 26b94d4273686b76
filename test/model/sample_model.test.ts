// The KV-cache sampler on the real model: identical greedy tokens to the full-recompute oracle (with
// continuous batching and shared prefills), and sampled log-probs equal to the training forward's.
import { describe, expect, it } from "vitest";
import { tsBackend, type Backend } from "../../src/kernels/index.js";
import { loadNativeBackend } from "../../src/kernels/native.js";
import { parseHfConfig } from "../../src/model/config.js";
import { ALL_TARGETS, LoraSet } from "../../src/model/lora.js";
import { Model } from "../../src/model/model.js";
import { initParams } from "../../src/model/params.js";
import { generate, generateFullRecompute, type SampleRequest } from "../../src/model/sample.js";
import { expectClose } from "../kernels/util.js";

// The greedy runs below have a smallest top-1/top-2 logit gap of 1.2e-2 (qwen2-like) and 3.8e-3
// (qwen3-like) (measured once with the ts backend), far above the ~1e-6 the two paths differ by, so
// token equality is not luck.
/** Logit tolerance between the cached and the recomputed path (fp32, different summation orders). */
const LOGPROB_ATOL = 2e-4;

const CONFIGS = {
  // GQA, q/k/v bias, tied embeddings, odd vocabulary
  "qwen2-like": { architectures: ["Qwen2ForCausalLM"], vocab_size: 97, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, tie_word_embeddings: true, initializer_range: 0.35 },
  // per-head q/k norm, explicit head_dim, untied, MHA
  "qwen3-like": { architectures: ["Qwen3ForCausalLM"], vocab_size: 61, hidden_size: 24, intermediate_size: 40, num_hidden_layers: 3, num_attention_heads: 3, num_key_value_heads: 3, head_dim: 10, tie_word_embeddings: false, initializer_range: 0.35 },
} as const;

const native = loadNativeBackend();
const BACKENDS: [string, Backend][] = [["ts", tsBackend], ...(native.ok ? [["native", native.backend] as [string, Backend]] : [])];

function model(name: keyof typeof CONFIGS, backend: Backend): Model {
  const cfg = parseHfConfig(CONFIGS[name], `${name}/config.json`);
  const m = new Model(cfg, { backend });
  initParams(m.params, cfg, 2024);
  return m;
}

function requests(V: number, temperature: number): SampleRequest[] {
  const lens = [7, 1, 12, 3, 5, 9, 2, 4];
  return lens.map((len, r) => ({
    promptIds: Array.from({ length: len }, (_, i) => (r * 31 + i * 17 + 3) % V),
    n: [1, 3, 2, 1, 4, 1, 2, 1][r]!,
    maxNewTokens: [24, 10, 17, 30, 8, 20, 5, 12][r]!,
    temperature,
    ...(temperature > 0 ? { topP: 0.95 } : {}),
    stopTokenIds: [r % V],
  }));
}

describe.each(BACKENDS)("sampling the real model (%s backend)", (_name, backend) => {
  it.each(Object.keys(CONFIGS) as (keyof typeof CONFIGS)[])("%s: greedy KV-cache tokens = full recompute, with 3 slots for 15 sequences", (name) => {
    const m = model(name, backend);
    const reqs = requests(m.cfg.vocabSize, 0);
    const oracle = generateFullRecompute(m, reqs);
    for (const slots of [3, 16]) {
      const got = generate(m, reqs, { slots, maxLen: 48 });
      got.forEach((r, i) =>
        r.forEach((s, j) => {
          const o = oracle[i]![j]!;
          expect([...s.tokens], `request ${i} sample ${j}`).toEqual([...o.tokens]);
          expect(s.finishReason).toBe(o.finishReason);
          for (let t = 0; t < s.logprobs.length; t++) expect(Math.abs(s.logprobs[t]! - o.logprobs[t]!)).toBeLessThan(LOGPROB_ATOL);
        }),
      );
    }
    // The samples of a greedy prompt are all the same, and the model is not degenerate (tokens vary).
    expect(new Set(oracle[1]!.map((s) => [...s.tokens].join()))).toHaveProperty("size", 1);
    expect(new Set(oracle.flatMap((r) => r.flatMap((s) => [...s.tokens]))).size).toBeGreaterThan(5);
  });

  it.each(Object.keys(CONFIGS) as (keyof typeof CONFIGS)[])("%s: sampled tokens' log-probs equal the training forward's log-probs", (name) => {
    const m = model(name, backend);
    const reqs = requests(m.cfg.vocabSize, 1.2);
    const out = generate(m, reqs, { slots: 4, maxLen: 48, seed: 11 });
    let checked = 0;
    out.forEach((r, i) =>
      r.forEach((s) => {
        if (s.tokens.length === 0) return;
        const prompt = Int32Array.from(reqs[i]!.promptIds);
        const seq = new Int32Array(prompt.length + s.tokens.length);
        seq.set(prompt);
        seq.set(s.tokens, prompt.length);
        const tokens = seq.subarray(0, seq.length - 1);
        const targets = seq.subarray(1);
        const { logp } = m.forward(tokens, Int32Array.of(0, tokens.length), targets);
        for (let t = 0; t < s.tokens.length; t++) {
          expect(Math.abs(s.logprobs[t]! - logp[prompt.length - 1 + t]!)).toBeLessThan(LOGPROB_ATOL);
          checked++;
        }
        // The sampler's own log-prob differs (T = 1.2, top-p) but is a log-probability.
        expect(s.samplerLogprobs.every((x) => x <= 1e-6)).toBe(true);
      }),
    );
    expect(checked).toBeGreaterThan(50);
  });
});

describe.each(BACKENDS)("bf16 inference: packed weights and a bf16 KV cache (%s backend)", (_name, backend) => {
  /**
   * bf16 vs fp32 logits: operands rounded to 8 mantissa bits (2^-9 relative) through 2–3 layers of
   * these large-init models (|logits| up to ~5.6; measured max difference 0.11, about 2% of that).
   */
  const BF16_LOGITS = { atol: 0.2, rtol: 0.03 };
  /** packed bf16 products vs the bf16 matmul path: the same rounded operands, another summation order. */
  const SAME_BF16 = { atol: 1e-4, rtol: 1e-4 };

  function bf16Model(name: keyof typeof CONFIGS, kvCache: "fp32" | "bf16"): Model {
    const cfg = parseHfConfig(CONFIGS[name], `${name}/config.json`);
    const m = new Model(cfg, { backend, inferencePrecision: "bf16", kvCache });
    initParams(m.params, cfg, 2024);
    return m;
  }

  it.each(Object.keys(CONFIGS) as (keyof typeof CONFIGS)[])("%s: greedy KV-cache tokens = full recompute in bf16", (name) => {
    const m = bf16Model(name, "fp32");
    const reqs = requests(m.cfg.vocabSize, 0);
    const oracle = generateFullRecompute(m, reqs);
    const got = generate(m, reqs, { slots: 3, maxLen: 48 });
    got.forEach((r, i) => r.forEach((s, j) => {
      expect([...s.tokens], `request ${i} sample ${j}`).toEqual([...oracle[i]![j]!.tokens]);
      for (let t = 0; t < s.logprobs.length; t++) expect(Math.abs(s.logprobs[t]! - oracle[i]![j]!.logprobs[t]!)).toBeLessThan(LOGPROB_ATOL);
    }));
  });

  it.each(Object.keys(CONFIGS) as (keyof typeof CONFIGS)[])("%s: bf16 logits (weights, then also the KV cache) are within bf16 tolerance of fp32; training stays fp32", (name) => {
    const fp32 = model(name, backend);
    const bf = bf16Model(name, "fp32");
    const bfKv = bf16Model(name, "bf16");
    const V = fp32.cfg.vocabSize;
    const prompt = Int32Array.from({ length: 9 }, (_, i) => (i * 13 + 5) % V);
    const cu = Int32Array.from([0, 9]);
    const full32 = fp32.lastLogits(prompt, cu);
    const fullBf = bf.lastLogits(prompt, cu);
    expectClose("lastLogits bf16 vs fp32", fullBf, full32, BF16_LOGITS);
    expect(Array.from(fullBf)).not.toEqual(Array.from(full32)); // the bf16 path really ran
    // the packed products give what the (independent) bf16 matmul path of training precision bf16 gives
    const viaMatmul = new Model(fp32.cfg, { backend, precision: "bf16", inferencePrecision: "fp32" });
    initParams(viaMatmul.params, fp32.cfg, 2024);
    expectClose("packed vs bf16 matmul", fullBf, viaMatmul.lastLogits(prompt, cu), SAME_BF16);
    // prefill 8 tokens, decode the 9th: the decode step reads the cache
    const step = (m: Model): Float32Array => {
      const cache = m.createKVCache(1, 16);
      m.prefill(cache, Int32Array.from([0]), prompt.subarray(0, 8), Int32Array.from([0, 8]));
      return m.decode(cache, Int32Array.from([0]), prompt.subarray(8, 9));
    };
    expect(bfKv.createKVCache(1, 4).k[0]).toBeInstanceOf(Uint16Array);
    expectClose("decode, bf16 weights vs fp32", step(bf), full32, BF16_LOGITS);
    const kvOut = step(bfKv);
    expectClose("decode, bf16 weights + bf16 KV cache vs fp32", kvOut, full32, BF16_LOGITS);
    expect(Array.from(kvOut)).not.toEqual(Array.from(step(bf))); // the bf16 cache really rounded
    // training forward is untouched by the inference precision
    const targets = Int32Array.from({ length: 9 }, (_, i) => (i * 7 + 1) % V);
    expect(Array.from(bf.forward(prompt, cu, targets).logp)).toEqual(Array.from(fp32.forward(prompt, cu, targets).logp));
  });

  it("the packed weights take their memory from the backend's allocLarge (the KV caches do not)", () => {
    const asked: number[] = [];
    const counting: Backend = { ...backend, allocLarge: (bytes: number) => { asked.push(bytes); return backend.allocLarge(bytes); } };
    const cfg = parseHfConfig(CONFIGS["qwen2-like"], "qwen2-like/config.json");
    const m = new Model(cfg, { backend: counting, inferencePrecision: "bf16", kvCache: "bf16" });
    initParams(m.params, cfg, 2024);
    // the packed arena: every linear and the head in bf16 (more than the MLP's weights alone)
    expect(asked.length).toBe(1);
    expect(asked[0]!).toBeGreaterThan(2 * cfg.numLayers * cfg.hiddenSize * cfg.intermediateSize * 3);
    const cache = m.createKVCache(3, 10);
    // and the model decodes with them, the arena allocated once (the caches and inference ask for nothing)
    const out = m.prefill(cache, Int32Array.from([0]), Int32Array.from([1, 2, 3]), Int32Array.from([0, 3]));
    expectClose("prefill on allocLarge memory", out, m.lastLogits(Int32Array.from([1, 2, 3]), Int32Array.from([0, 3])), SAME_BF16);
    expect(asked.length).toBe(1);
  });

  it("qwen2-like: q/k/v biases and LoRA adapters on every linear act in packed inference (q/k/v and gate/up one product each) as in the bf16 matmul path", () => {
    const setUp = (m: Model, adapters: boolean): Model => {
      for (let l = 0; l < m.cfg.numLayers; l++) for (const p of ["q", "k", "v"]) {
        const b = m.params.view(`model.layers.${l}.self_attn.${p}_proj.bias`);
        for (let i = 0; i < b.length; i++) b[i] = 0.3 * Math.sin(7 * i + l + p.charCodeAt(0));
      }
      m.params.version++;
      if (adapters) {
        const set = new LoraSet(m, { rank: 2, alpha: 4, dropout: 0, targets: [...ALL_TARGETS] });
        set.init(5);
        for (let i = 0; i < set.params.data.length; i++) if (set.params.data[i] === 0) set.params.data[i] = 0.2 * Math.sin(i); // non-zero B
        set.attach();
      }
      return m;
    };
    const packed = setUp(bf16Model("qwen2-like", "fp32"), true);
    const plain = setUp(bf16Model("qwen2-like", "fp32"), false);
    const viaMatmul = new Model(packed.cfg, { backend, precision: "bf16", inferencePrecision: "fp32" });
    initParams(viaMatmul.params, packed.cfg, 2024);
    setUp(viaMatmul, true);
    const V = packed.cfg.vocabSize;
    const prompt = Int32Array.from({ length: 9 }, (_, i) => (i * 11 + 3) % V);
    const step = (m: Model): Float32Array => {
      const cache = m.createKVCache(1, 16);
      m.prefill(cache, Int32Array.from([0]), prompt.subarray(0, 8), Int32Array.from([0, 8]));
      return m.decode(cache, Int32Array.from([0]), prompt.subarray(8, 9));
    };
    // Two bf16 paths whose fp32 sums differ in order (the bias first or last, oneDNN's blocking): where a
    // sum lies next to a bf16 rounding boundary the next product reads values one bf16 step (2^-9
    // relative) apart — measured up to 9.5e-4 on logits of ~1.3 here — so the bound is a few such steps.
    const TWO_BF16_PATHS = { atol: 5e-3, rtol: 5e-3 };
    const want = viaMatmul.lastLogits(prompt, Int32Array.from([0, 9]));
    expectClose("packed lastLogits with biases and adapters", packed.lastLogits(prompt, Int32Array.from([0, 9])), want, TWO_BF16_PATHS);
    const got = step(packed);
    expectClose("packed decode with biases and adapters", got, want, TWO_BF16_PATHS);
    // the adapters change the logits by far more than the tolerance
    const without = step(plain);
    expect(Math.max(...got.map((x, i) => Math.abs(x - without[i]!)))).toBeGreaterThan(0.05);
  });
});
