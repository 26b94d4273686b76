/**
 * A Hugging Face checkpoint's tensors into a model's parameter arena, by HF name, from any TensorSource
 * (a folder's files: ./hf.ts loadHfWeights; bytes in memory: ./safetensors-bytes.ts, in a browser).
 * No Node APIs. The rules (missing and mis-shaped tensors are errors, unused ones warnings, tied
 * lm_head and rotary inv_freq buffers skipped) are in ./hf.ts's file comment.
 */
import { UserError } from "../errors.js";
import type { Arena } from "../model/params.js";
import type { TensorSource } from "./safetensors-bytes.js";

export interface LoadWeightsResult {
  /** Tensors in the checkpoint that the model does not use (not an error; see hf.ts's file comment). */
  warnings: string[];
  /** The dtypes found, e.g. ["BF16"]. */
  dtypes: string[];
}

export interface WeightsWhere {
  /** What the errors about missing tensors name (the index or the file). */
  where: string;
  /** The file a tensor is in (errors and warnings about it). */
  fileOf(name: string): string;
  /** A hint for a missing tensor that is not one of the known heads (e.g. check the index's weight_map). */
  otherHint?(): string | undefined;
}

export function readWeightsInto(ckpt: TensorSource, params: Arena, w: WeightsWhere): LoadWeightsResult {
  const warnings: string[] = [];
  const dtypes = new Set<string>();
  for (const spec of params.table.specs) {
    if (!ckpt.has(spec.name)) {
      throw new UserError(
        `${w.where}: tensor "${spec.name}" (shape [${spec.shape.join(", ")}] from config.json) is missing`,
        spec.name === "lm_head.weight"
          ? "config.json has tie_word_embeddings false (or unset); if this model shares its embedding with the head, set it to true"
          : spec.name === "score.weight"
            ? "config.json names a value model (…ForTokenClassification), whose head is score.weight (1, hidden_size); a base model folder is made into one with ValueModel.fromBase"
            : spec.name === "score.bias"
              ? "config.json's token_classification_bias is true or unset (transformers' default); set it to false for a value head without bias"
              : w.otherHint?.(),
        "AHA_MISSING_TENSOR",
      );
    }
    const info = ckpt.info(spec.name);
    const file = w.fileOf(spec.name);
    if (info.shape.length !== spec.shape.length || info.shape.some((d, i) => d !== spec.shape[i])) {
      throw new UserError(
        `${file}: tensor "${spec.name}" has shape [${info.shape.join(", ")}] but config.json implies [${spec.shape.join(", ")}]`,
        undefined,
        "AHA_SHAPE_MISMATCH",
      );
    }
    dtypes.add(info.dtype);
    ckpt.readInto(spec.name, params.view(spec.name)); // unknown dtypes: a UserError naming file and tensor
  }
  for (const name of ckpt.names()) {
    if (params.has(name)) continue;
    if (name.endsWith(".rotary_emb.inv_freq")) continue; // an old buffer, recomputed from config
    if (name === "lm_head.weight" && params.has("model.embed_tokens.weight")) continue; // tied: HF ignores it too
    warnings.push(`${w.fileOf(name)}: tensor "${name}" is not used by the model`);
  }
  return { warnings, dtypes: [...dtypes].sort() };
}
