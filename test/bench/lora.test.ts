/**
 * `aha bench lora`'s step on a tiny Qwen2-shaped model, in process: the trainer runs the GRPO step with
 * LoRA on a bf16 base and gradient checkpointing, every phase is timed, the responses have exactly N
 * tokens, peak RSS is read; and the run's memory settings reach the model (prepareTrainRun →
 * applyMemorySettings): precision bf16 + lora-rank > 0 freezes the base in bf16, grad-checkpointing is
 * passed on, fp32 LoRA and full fine-tuning keep their fp32 weights.
 */
import { describe, expect, it } from "vitest";
import { loraStep } from "../../src/bench/lora.js";
import { benchDecode, benchTask } from "../../src/bench/rl.js";
import { parseHfConfig } from "../../src/model/config.js";
import { Model, type Precision } from "../../src/model/model.js";
import { initParams } from "../../src/model/params.js";
import { prepareTrainRun } from "../../src/runner/train.js";

const TINY = {
  architectures: ["Qwen2ForCausalLM"], vocab_size: 128, hidden_size: 32, intermediate_size: 64,
  num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, tie_word_embeddings: true,
};

describe("bench lora", () => {
  it("times each phase of a LoRA GRPO step on a bf16 base with checkpointing, responses of exactly N tokens", async () => {
    const r = await loraStep({ model: "tiny", hf: TINY, prompts: 2, group: 4, promptLen: 8, newTokens: 6, rank: 4, alpha: 8, steps: 2, precision: "bf16", gradCheckpointing: true });
    for (const k of ["generate", "reward", "reference", "train", "step"]) expect(r.seconds[k], k).toBeGreaterThanOrEqual(0);
    expect(r.seconds["step"]).toBeGreaterThan(0);
    expect(r.length).toBe(6);
    expect(r.peakProcessMb).toBeGreaterThan(10);
  }, 120_000);

  async function settingsOf(precision: Precision, settings: Record<string, unknown>): Promise<Model> {
    const cfg = parseHfConfig(TINY, "<tiny>");
    const model = new Model(cfg, { precision });
    initParams(model.params, cfg, 0);
    const tokenizer = { encode: (t: string) => Array.from(t.padEnd(8).slice(0, 8), (ch) => ch.charCodeAt(0) % 128), decode: benchDecode, stopTokenIds: [] as number[] };
    const run = await prepareTrainRun(
      { "group-size": 2, "prompts-per-step": 2, "max-new-tokens": 4, steps: 1, template: "none", "held-out": 0, ...settings },
      { persist: false, parts: { model: { model, tokenizer }, task: { ...benchTask(), stop: [] } } },
    );
    await run.close();
    return model;
  }

  it("the run's memory settings reach the model", async () => {
    const frozen = await settingsOf("bf16", { "lora-rank": 4, "grad-checkpointing": true });
    expect(frozen.baseFrozenBf16).toBe(true);
    expect(frozen.gradCheckpointing).toBe(true);
    const fp32Lora = await settingsOf("fp32", { "lora-rank": 4 });
    expect(fp32Lora.baseFrozenBf16).toBe(false);
    expect(fp32Lora.gradCheckpointing).toBe(false);
    const full = await settingsOf("bf16", {});
    expect(full.baseFrozenBf16).toBe(false);
    expect(full.params.data.length).toBe(full.table.size);
  }, 60_000);
});
