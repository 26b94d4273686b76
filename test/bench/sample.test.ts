// The sampling bench's machine-limit bound, worked by hand on a tiny model.
import { describe, expect, it } from "vitest";
import { decodeBound } from "../../src/bench/sample.js";
import { parseHfConfig } from "../../src/model/config.js";

// 1 layer, C = 2, one head of D = 2 (so KD = 2), I = 2, V = 4:
// weights W = 2·C·HD + 2·C·KD + 3·C·I + V·C = 8 + 8 + 12 + 8 = 36 (body 28), attention 4·Hq·D·layers = 8 flops per position
const cfg = parseHfConfig({ architectures: ["LlamaForCausalLM"], vocab_size: 4, hidden_size: 2, intermediate_size: 2,
  num_hidden_layers: 1, num_attention_heads: 1, num_key_value_heads: 1, tie_word_embeddings: false }, "tiny/config.json");

describe("decodeBound", () => {
  it("one prompt token, one decoding step, fp32, 1 GFLOP/s and 1 GB/s (hand-worked)", () => {
    // prefill: bytes 36·4 = 144 → 144 ns; flops 2·28 + 2·4·2 + 8·1 = 80 → 80 ns: 144 ns
    // step 1 (len 2): bytes 144 + 2 positions · (k + v) 2·2 values · 4 bytes = 176 → 176 ns; flops 2·36 + 2·8 = 88 → 88 ns
    const b = decodeBound(cfg, 1, 1, 2, 4, 1, 1);
    expect(b.seconds).toBeCloseTo(320e-9, 15);
    expect(b.bound).toBe("bandwidth");
  });
  it("many sequences make a step compute-bound", () => {
    // 100 sequences, bf16, step 1: bytes 72 + 100·2·4·2 = 1672 → 1672 ns at 1 GB/s; flops 100·(72 + 16) = 8800 → 8800 ns
    const b = decodeBound(cfg, 100, 1, 2, 2, 1, 1);
    expect(b.bound).toBe("compute");
    // prefill: bytes 72 → 72 ns; flops 100·(56 + 16 + 8) = 8000 → 8000 ns
    expect(b.seconds).toBeCloseTo((8000 + 8800) * 1e-9, 15);
  });
});
