/** A random 1-layer Llama with the demo's vocabulary (21 tokens) and tokenizer files, for CLI tests. */
import { DEMO_MODEL } from "../../src/cli/train.js";
import { saveHfModel } from "../../src/formats/hf.js";
import { parseHfConfig } from "../../src/model/config.js";
import { Model } from "../../src/model/model.js";
import { initParams } from "../../src/model/params.js";

export function makeTinyAdderFolder(dir: string): void {
  const cfg = parseHfConfig({
    architectures: ["LlamaForCausalLM"], vocab_size: 21, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1,
    num_attention_heads: 2, num_key_value_heads: 2, tie_word_embeddings: true, max_position_embeddings: 64, initializer_range: 0.5,
    bos_token_id: 1, eos_token_id: 2,
  }, "config.json");
  const m = new Model(cfg);
  initParams(m.params, cfg, 5);
  saveHfModel(dir, cfg, m.params, { copyFrom: DEMO_MODEL });
}
