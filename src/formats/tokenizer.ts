/**
 * Hugging Face tokenizers: `tokenizer.json` + `tokenizer_config.json` (+ optional `chat_template.jinja`)
 * from a model folder, run by @huggingface/tokenizers (the maintained pure-JS port of HF tokenizers; we do
 * not implement BPE ourselves).
 *
 * What we add on top of the library: special-token resolution (bos/eos/pad/unk may be a string, an
 * AddedToken object or null in tokenizer_config.json), the chat template source (string, list of named
 * templates, or a separate chat_template.jinja), and a streaming decoder that never emits half a
 * multi-byte character.
 *
 * Pinned against an independent Python reference in test/formats/tokenizer.test.ts.
 */
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../errors.js";
import { HfTokenizerCore, type TokenizerFiles } from "./tokenizer-core.js";

export { StreamDecoder, type SpecialToken, type ChatTemplateSource, type TokenizerFiles, type EncodeOptions, type DecodeOptions } from "./tokenizer-core.js";

function readJson(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UserError(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not a JSON object");
    return v as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Reads the tokenizer files of a model folder (tokenizer.json is required; the rest is optional). */
export function readTokenizerFiles(dir: string): TokenizerFiles {
  const tj = join(dir, "tokenizer.json");
  if (!existsSync(tj)) {
    throw new UserError(
      `${tj} not found: aha needs the fast-tokenizer file tokenizer.json`,
      "save the tokenizer with transformers (tokenizer.save_pretrained) to produce tokenizer.json",
      "AHA_NO_TOKENIZER",
    );
  }
  const files: TokenizerFiles = {
    tokenizerJson: readJson(tj),
    tokenizerConfig: existsSync(join(dir, "tokenizer_config.json")) ? readJson(join(dir, "tokenizer_config.json")) : {},
  };
  const jinja = join(dir, "chat_template.jinja");
  if (existsSync(jinja)) files.chatTemplateFile = readFileSync(jinja, "utf8");
  return files;
}

/** A tokenizer of a model folder: HfTokenizerCore (./tokenizer-core.ts) plus reading the folder's files. */
export class HfTokenizer extends HfTokenizerCore {
  static fromFolder(dir: string): HfTokenizer {
    return new HfTokenizer(readTokenizerFiles(dir), join(dir, "tokenizer.json"));
  }
}
