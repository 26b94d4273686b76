/**
 * Shared by the serve / remote-rollout / eval tests: a small random model folder with a byte-level BPE
 * tokenizer made here (256 byte tokens, no merges, three special tokens, a ChatML chat template), so the
 * vocabulary head is tiny and the tests are fast.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { saveHfModel } from "../../src/formats/hf.js";
import { parseHfConfig } from "../../src/model/config.js";
import { Model } from "../../src/model/model.js";
import { initParams } from "../../src/model/params.js";

/** GPT-2's byte → printable character table (the ByteLevel pre-tokenizer's alphabet). */
function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const out = new Array<string>(256);
  bs.forEach((b, i) => (out[b] = String.fromCodePoint(cs[i]!)));
  return out;
}

export const SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] as const;
export const EOS_ID = 258; // <|im_end|>
export const TINY_VOCAB = 259;
const CHATML = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

export function writeTinyTokenizer(dir: string): void {
  const vocab: Record<string, number> = {};
  bytesToUnicode().forEach((c, b) => (vocab[c] = b));
  const bl = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tj = {
    version: "1.0", truncation: null, padding: null,
    added_tokens: SPECIALS.map((content, i) => ({ id: 256 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null, pre_tokenizer: bl, post_processor: bl, decoder: bl,
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [] },
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tj));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ eos_token: "<|im_end|>", pad_token: "<|endoftext|>", chat_template: CHATML }));
}

/** Writes a random Qwen2-shaped model (hidden 32, one layer, the 259-token byte vocabulary) into a temp folder. */
export function makeModelFolder(seed = 1234, maxPositions = 512): { root: string; dir: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), "aha-serve-"));
  const tokDir = join(root, "tok");
  writeTinyTokenizer(tokDir);
  const dir = join(root, "tiny-qwen");
  const cfg = parseHfConfig({
    architectures: ["Qwen2ForCausalLM"], vocab_size: TINY_VOCAB, hidden_size: 32, intermediate_size: 64,
    num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, tie_word_embeddings: true,
    max_position_embeddings: maxPositions, initializer_range: 0.2, eos_token_id: EOS_ID,
  }, "config.json");
  const m = new Model(cfg);
  initParams(m.params, cfg, seed);
  saveHfModel(dir, cfg, m.params, { copyFrom: tokDir });
  return { root, dir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
