/** Prompt text → token ids with a model folder's tokenizer (no Node APIs; ./folder.ts re-exports it). */
import type { HfTokenizerCore } from "../formats/tokenizer-core.js";

/**
 * Text → prompt ids. With `special` (plain prompts; a rendered chat template writes its own), the
 * tokenizer's post-processor adds its tokens, and a BOS is prepended when tokenizer_config.json says
 * add_bos_token: true but the post-processor did not add it (transformers' Llama tokenizers and
 * llama.cpp honour that flag; a bare PreTrainedTokenizerFast would not).
 */
export function encodePrompt(tok: Pick<HfTokenizerCore, "encode" | "files" | "bos">, text: string, special: boolean): number[] {
  const ids = tok.encode(text, { addSpecialTokens: special });
  if (special && tok.files.tokenizerConfig.add_bos_token === true && tok.bos && ids[0] !== tok.bos.id) ids.unshift(tok.bos.id);
  return ids;
}

