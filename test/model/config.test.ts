import { describe, expect, it } from "vitest";
import { UserError } from "../../src/errors.js";
import { parseHfConfig, toHfConfig } from "../../src/model/config.js";
import { initParams, paramTable, Params } from "../../src/model/params.js";

// Qwen2.5-0.5B's config.json fields (from the Hugging Face hub), trimmed to what we read.
const QWEN25_05B = {
  architectures: ["Qwen2ForCausalLM"], hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24,
  num_attention_heads: 14, num_key_value_heads: 2, vocab_size: 151936, rope_theta: 1000000.0,
  rms_norm_eps: 1e-6, tie_word_embeddings: true, max_position_embeddings: 32768, hidden_act: "silu",
  use_sliding_window: false, sliding_window: 32768, torch_dtype: "bfloat16",
};

describe("parseHfConfig", () => {
  it("reads Qwen2.5-0.5B: head_dim from hidden/heads, implicit q/k/v bias, no o bias, tied", () => {
    const c = parseHfConfig(QWEN25_05B, "config.json");
    expect(c).toMatchObject({ architecture: "Qwen2ForCausalLM", headDim: 64, numKvHeads: 2, qkvBias: true, oBias: false,
      mlpBias: false, qkNorm: false, tieWordEmbeddings: true, ropeTheta: 1e6, ropeScaling: null });
  });

  it("reads Qwen3 (explicit head_dim, q/k norm) and Llama 3.2 (llama3 rope scaling)", () => {
    const q3 = parseHfConfig({ ...QWEN25_05B, architectures: ["Qwen3ForCausalLM"], head_dim: 128, attention_bias: false }, "c.json");
    expect(q3).toMatchObject({ headDim: 128, qkNorm: true, qkvBias: false, oBias: false });
    const ll = parseHfConfig({ ...QWEN25_05B, architectures: ["LlamaForCausalLM"], num_attention_heads: 14,
      rope_scaling: { rope_type: "llama3", factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } }, "c.json");
    expect(ll.ropeScaling).toEqual({ factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    expect(ll.qkvBias).toBe(false);
  });

  it("round-trips through toHfConfig", () => {
    const c = parseHfConfig(QWEN25_05B, "config.json");
    expect(parseHfConfig(toHfConfig(c), "x")).toEqual(c);
  });

  it.each([
    [{ ...QWEN25_05B, architectures: ["GPT2LMHeadModel"] }, /unsupported architecture GPT2LMHeadModel; supported: Qwen2ForCausalLM, Qwen3ForCausalLM, LlamaForCausalLM/],
    [{ ...QWEN25_05B, hidden_size: undefined }, /field 'hidden_size'/],
    [{ ...QWEN25_05B, num_hidden_layers: 2.5 }, /field 'num_hidden_layers'/],
    [{ ...QWEN25_05B, num_key_value_heads: 3 }, /field 'num_key_value_heads': 3 does not divide/],
    [{ ...QWEN25_05B, hidden_act: "gelu" }, /field 'hidden_act'/],
    [{ ...QWEN25_05B, use_sliding_window: true }, /field 'use_sliding_window'/],
    [{ ...QWEN25_05B, architectures: ["LlamaForCausalLM"], rope_scaling: { type: "yarn", factor: 2 } }, /field 'rope_scaling.rope_type': unsupported "yarn"/],
    [{ ...QWEN25_05B, architectures: ["LlamaForCausalLM"], rope_scaling: { rope_type: "llama3", factor: 2 } }, /rope_scaling.low_freq_factor/],
  ])("rejects bad config %# with a UserError naming the field", (json, msg) => {
    expect(() => parseHfConfig(json, "m/config.json")).toThrow(UserError);
    expect(() => parseHfConfig(json, "m/config.json")).toThrow(msg);
  });
});

describe("parameter table", () => {
  it("sizes Qwen2.5-0.5B as the hand count: embedding + 24 × layer + final norm (tied)", () => {
    const t = paramTable(parseHfConfig(QWEN25_05B, "config.json"));
    const C = 896, I = 4864, KD = 128;
    const layer = C + (C * C + C) + 2 * (KD * C + KD) + C * C + C + 3 * I * C;
    const total = t.specs.reduce((a, s) => a + s.size, 0);
    expect(total).toBe(151936 * C + 24 * layer + C);
    expect(t.specs.length).toBe(1 + 24 * 12 + 1);
    expect(t.byName.get("model.layers.3.self_attn.k_proj.bias")!.shape).toEqual([128]);
    expect(t.specs.every((s) => s.offset % 16 === 0)).toBe(true);
    expect(t.specs.filter((s) => s.decay).every((s) => s.shape.length === 2)).toBe(true);
  });

  it("initializes deterministically: N(0, 0.02²) matrices, unit norms, zero biases", () => {
    const cfg = parseHfConfig({ ...QWEN25_05B, hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2,
      num_attention_heads: 4, vocab_size: 300 }, "c");
    const t = paramTable(cfg);
    const a = new Params(t), b = new Params(t), c = new Params(t);
    initParams(a, cfg, 1);
    initParams(b, cfg, 1);
    initParams(c, cfg, 2);
    expect(a.data).toEqual(b.data);
    expect(a.data).not.toEqual(c.data);
    expect(a.version).toBe(1);
    const w = a.view("model.embed_tokens.weight");
    let s1 = 0, s2 = 0;
    for (const x of w) { s1 += x; s2 += x * x; }
    const mean = s1 / w.length, std = Math.sqrt(s2 / w.length - mean * mean);
    expect(Math.abs(mean)).toBeLessThan(0.001); // 19,200 samples: mean's std is 1.4e-4
    expect(Math.abs(std - 0.02)).toBeLessThan(0.0005);
    expect(a.view("model.layers.1.post_attention_layernorm.weight").every((x) => x === 1)).toBe(true);
    expect(a.view("model.layers.0.self_attn.q_proj.bias").every((x) => x === 0)).toBe(true);
  });
});
