/**
 * Shared by the serve / remote-rollout / eval tests: a small random model folder with the byte-level
 * tokenizer of src/bench/serve.ts (256 byte tokens, no merges, ChatML template), so the vocabulary head
 * is tiny and the tests are fast.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BYTE_EOS_ID, BYTE_VOCAB, writeByteTokenizer } from "../../src/bench/serve.js";
import { saveHfModel } from "../../src/formats/hf.js";
import { parseHfConfig, type ModelConfig } from "../../src/model/config.js";
import { Model } from "../../src/model/model.js";
import { initParams } from "../../src/model/params.js";

export const EOS_ID = BYTE_EOS_ID;
export const TINY_VOCAB = BYTE_VOCAB;

export function tinyConfig(maxPositions = 512): ModelConfig {
  return parseHfConfig({
    architectures: ["Qwen2ForCausalLM"], vocab_size: TINY_VOCAB, hidden_size: 32, intermediate_size: 64,
    num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, tie_word_embeddings: true,
    max_position_embeddings: maxPositions, initializer_range: 0.2, eos_token_id: EOS_ID,
  }, "config.json");
}

/** Writes a random Qwen2-shaped model (hidden 32, one layer, the 259-token byte vocabulary) into a temp folder. */
export function makeModelFolder(seed = 1234, maxPositions = 512): { root: string; dir: string; model: Model; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), "aha-serve-"));
  const tokDir = join(root, "tok");
  writeByteTokenizer(tokDir);
  const dir = join(root, "tiny-qwen");
  const cfg = tinyConfig(maxPositions);
  const m = new Model(cfg);
  initParams(m.params, cfg, seed);
  saveHfModel(dir, cfg, m.params, { copyFrom: tokDir });
  return { root, dir, model: m, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
