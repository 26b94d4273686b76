/**
 * Hugging Face model folders, in and out.
 *
 * In:  config.json (Qwen2ForCausalLM, Qwen3ForCausalLM, LlamaForCausalLM), model.safetensors or sharded
 *      model-0000i-of-0000n.safetensors + model.safetensors.index.json (F32 / BF16 / F16), the optional
 *      generation_config.json (eos ids, default sampling) and the tokenizer files.
 *      Weights go tensor by tensor, by HF name, straight into the model's fp32 parameter arena
 *      (safetensors' readInto converts BF16/F16 through a small fixed buffer): a 0.5B bf16 model never
 *      exists twice in memory.
 * Out: config.json, safetensors (F32 or BF16; sharded above a size limit, 5 GB by default as in HF's
 *      save_pretrained), generation_config.json, and the tokenizer files copied from the source folder.
 *
 * Checks, each an error naming the file and the tensor: a tensor the config needs is missing, a shape that
 * does not match config.json, a dtype we cannot convert. Decisions:
 *  - tensors the model does not have are NOT an error: they are listed in `warnings` (HF transformers also
 *    only warns about "weights not used"). `rotary_emb.inv_freq` buffers of older checkpoints are skipped
 *    silently (they are recomputed from the config).
 *  - tied embeddings (tie_word_embeddings: true) with an lm_head.weight present anyway: lm_head.weight is
 *    ignored (HF ties it to embed_tokens); we do not save it.
 *
 * Value models (src/model/value.ts) are folders as transformers writes `<Family>ForTokenClassification`
 * with one label: config.json of the base with `architectures: ["Qwen2ForTokenClassification"]`,
 * `num_labels: 1` (+ id2label / label2id of one label) and `token_classification_bias` (false for a head
 * without bias; transformers' default is true), weights = the body under the base's names (no lm_head,
 * tied or not: the vocabulary head is not part of a value model) + `score.weight` (1, hidden) [+
 * `score.bias` (1)]. loadHfValueModel reads them; loadHfModel refuses them (and the reverse), naming the
 * file; saveHfModel writes either, from the parameter table.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../errors.js";
import { parseHfConfig, parseHfHead, toHfConfig, type ModelConfig, type ModelHead } from "../model/config.js";
import { Model, type KVCacheDtype, type Precision } from "../model/model.js";
import { headOfTable, type Arena } from "../model/params.js";
import { ValueModel } from "../model/value.js";
import { copyFileAtomic, writeJsonAtomic } from "../util/atomic.js";
import { INDEX_FILE, SINGLE_FILE, SafetensorsCheckpoint, writeShardedSafetensors, type TensorToWrite } from "./safetensors.js";
import { HfTokenizer } from "./tokenizer.js";
import { readWeightsInto, type LoadWeightsResult } from "./hf-weights.js";

export type { LoadWeightsResult } from "./hf-weights.js";

/** Sampling defaults and stop ids from generation_config.json (+ config.json's eos_token_id). */
export interface GenerationDefaults {
  /** Every id that ends a generation (generation_config's eos_token_id, int or list; else config.json's). */
  eosTokenIds: number[];
  bosTokenId: number | null;
  padTokenId: number | null;
  /** HF semantics: do_sample false → greedy. Undefined when the file does not say. */
  doSample?: boolean;
  temperature?: number;
  topP?: number;
  topK?: number;
  maxNewTokens?: number;
}

export interface HfConfigFile {
  config: ModelConfig;
  /** config.json as read (kept so that a save preserves fields we do not model, e.g. bos_token_id). */
  raw: Record<string, unknown>;
  /** The head: the vocabulary head (…ForCausalLM) or a value head (…ForTokenClassification). */
  head: ModelHead;
}

export const TOKENIZER_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "chat_template.jinja",
  "added_tokens.json",
  "vocab.json",
  "merges.txt",
  "tokenizer.model",
] as const;

/** HF's save_pretrained default max_shard_size ("5GB" = 5·10⁹ bytes). */
export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;

function readJsonObject(path: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new UserError(`${path}: cannot read JSON: ${(e as Error).message}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new UserError(`${path}: expected a JSON object`);
  return v as Record<string, unknown>;
}

export function readHfConfig(dir: string): HfConfigFile {
  const path = join(dir, "config.json");
  if (!existsSync(path)) {
    throw new UserError(`${path} not found: is ${dir} a Hugging Face model folder?`, undefined, "AHA_NO_MODEL");
  }
  const raw = readJsonObject(path);
  return { config: parseHfConfig(raw, path), raw, head: parseHfHead(raw, path) };
}

function idList(v: unknown, field: string, file: string): number[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  for (const x of list) {
    if (typeof x !== "number" || !Number.isInteger(x) || x < 0) throw new UserError(`${file}: field '${field}' must be a token id or a list of them`);
  }
  return list as number[];
}

function optNumber(o: Record<string, unknown>, field: string, file: string, check: (x: number) => boolean): number | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !check(v)) throw new UserError(`${file}: field '${field}' has a bad value ${JSON.stringify(v)}`);
  return v;
}

/** generation_config.json (optional) with config.json's token ids as fallbacks. */
export function readGenerationConfig(dir: string, rawConfig: Record<string, unknown> = {}): GenerationDefaults {
  const path = join(dir, "generation_config.json");
  const g = existsSync(path) ? readJsonObject(path) : {};
  const cfgPath = join(dir, "config.json");
  let eos = idList(g.eos_token_id, "eos_token_id", path);
  if (eos.length === 0) eos = idList(rawConfig.eos_token_id, "eos_token_id", cfgPath);
  const bos = idList(g.bos_token_id ?? rawConfig.bos_token_id, "bos_token_id", path);
  const pad = idList(g.pad_token_id ?? rawConfig.pad_token_id, "pad_token_id", path);
  const out: GenerationDefaults = { eosTokenIds: eos, bosTokenId: bos[0] ?? null, padTokenId: pad[0] ?? null };
  if (typeof g.do_sample === "boolean") out.doSample = g.do_sample;
  const t = optNumber(g, "temperature", path, (x) => x >= 0);
  if (t !== undefined) out.temperature = t;
  const p = optNumber(g, "top_p", path, (x) => x > 0 && x <= 1);
  if (p !== undefined) out.topP = p;
  const k = optNumber(g, "top_k", path, (x) => Number.isInteger(x) && x >= 0);
  if (k !== undefined) out.topK = k;
  const m = optNumber(g, "max_new_tokens", path, (x) => Number.isInteger(x) && x > 0);
  if (m !== undefined) out.maxNewTokens = m;
  return out;
}

/**
 * Reads a folder's safetensors into `params` (an arena over the model's table), tensor by tensor.
 * Errors name the file (index or safetensors file) and the tensor (./hf-weights.ts).
 */
export function loadHfWeights(dir: string, params: Arena): LoadWeightsResult {
  const ckpt = SafetensorsCheckpoint.open(dir);
  try {
    return readWeightsInto(ckpt, params, {
      where: ckpt.path,
      fileOf: (name) => ckpt.file(name).path,
      otherHint: () => (existsSync(join(dir, INDEX_FILE)) ? `check the weight_map of ${INDEX_FILE}` : undefined),
    });
  } finally {
    ckpt.close();
  }
}

export interface SaveOptions {
  /** config.json as loaded, to keep the fields we do not model (bos/eos ids, model_type extras). */
  rawConfig?: Record<string, unknown>;
  /** Folder to copy tokenizer files and generation_config.json from (when they exist there). */
  copyFrom?: string;
  /** Written as generation_config.json when `copyFrom` has none. */
  generation?: GenerationDefaults;
  /** "F32" (default: the exact fp32 master weights) or "BF16" (half the size; rounds to nearest even). */
  dtype?: "F32" | "BF16";
  /** Shard above this many bytes of tensor data (default 5 GB as HF). */
  maxShardBytes?: number;
}

function generationToHf(g: GenerationDefaults): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (g.bosTokenId !== null) o.bos_token_id = g.bosTokenId;
  if (g.eosTokenIds.length > 0) o.eos_token_id = g.eosTokenIds.length === 1 ? g.eosTokenIds[0] : g.eosTokenIds;
  if (g.padTokenId !== null) o.pad_token_id = g.padTokenId;
  if (g.doSample !== undefined) o.do_sample = g.doSample;
  if (g.temperature !== undefined) o.temperature = g.temperature;
  if (g.topP !== undefined) o.top_p = g.topP;
  if (g.topK !== undefined) o.top_k = g.topK;
  if (g.maxNewTokens !== undefined) o.max_new_tokens = g.maxNewTokens;
  return o;
}

/**
 * Writes a model folder that transformers (and our loader) read: config.json, the weights in table order
 * (lm_head omitted when tied), generation_config.json and tokenizer files. A value model's table (one
 * with score.weight) is written as `<Family>ForTokenClassification` (see the file comment). Each file is written to a
 * temporary name and renamed; weight files of an earlier save that this save does not rewrite are removed
 * afterwards.
 */
export function saveHfModel(dir: string, cfg: ModelConfig, params: Arena, opts: SaveOptions = {}): string[] {
  mkdirSync(dir, { recursive: true });
  const dtype = opts.dtype ?? "F32";
  params.pull(); // device backends: the newest weights
  const tensors: TensorToWrite[] = params.table.specs.map((s) => ({ name: s.name, shape: s.shape, data: params.view(s.name), dtype }));
  const written = writeShardedSafetensors(dir, tensors, {
    maxShardBytes: opts.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES,
    metadata: { format: "pt" }, // transformers requires format=pt in the metadata of safetensors it loads
  });
  // Weight files of an earlier save would be picked up by a later load (an index wins over
  // model.safetensors). Removed only after the new files are in place; a stale index goes first.
  const stale = readdirSync(dir).filter((f) => !written.includes(f) && (f === SINGLE_FILE || f === INDEX_FILE || /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)));
  stale.sort((a, b) => Number(b === INDEX_FILE) - Number(a === INDEX_FILE));
  for (const f of stale) rmSync(join(dir, f));
  const config = { ...opts.rawConfig, ...toHfConfig(cfg, headOfTable(params.table)), torch_dtype: dtype === "BF16" ? "bfloat16" : "float32" };
  writeJsonAtomic(join(dir, "config.json"), config);
  written.push("config.json");
  const src = opts.copyFrom;
  if (src !== undefined && existsSync(join(src, "generation_config.json"))) {
    copyFileAtomic(join(src, "generation_config.json"), join(dir, "generation_config.json"));
    written.push("generation_config.json");
  } else if (opts.generation) {
    writeJsonAtomic(join(dir, "generation_config.json"), generationToHf(opts.generation));
    written.push("generation_config.json");
  }
  if (src !== undefined) {
    for (const f of TOKENIZER_FILES) {
      if (existsSync(join(src, f))) {
        copyFileAtomic(join(src, f), join(dir, f));
        written.push(f);
      }
    }
  }
  return written;
}

export interface LoadedHfModel {
  dir: string;
  config: ModelConfig;
  rawConfig: Record<string, unknown>;
  model: Model;
  generation: GenerationDefaults;
  /** null when the folder has no tokenizer.json and the caller allowed that. */
  tokenizer: HfTokenizer | null;
  warnings: string[];
  dtypes: string[];
}

export interface LoadOptions {
  precision?: Precision;
  /** Matrix products of sampling (prefill / decode); default: precision. See Model's file comment. */
  inferencePrecision?: Precision;
  /** Element type of the sampler's KV cache; default fp32. */
  kvCache?: KVCacheDtype;
  /** "required": error without tokenizer.json; "optional": null then; "skip": do not read it. Default optional. */
  tokenizer?: "required" | "optional" | "skip";
}

/** Loads a whole model folder: config, weights into a new Model, generation defaults, tokenizer. */
export function loadHfModel(dir: string, opts: LoadOptions = {}): LoadedHfModel {
  const { config, raw, head } = readHfConfig(dir);
  if (head.kind === "value") {
    throw new UserError(
      `${join(dir, "config.json")}: ${String((raw["architectures"] as string[])[0])} is a value model (a score head, no vocabulary head): it gives values, not tokens`,
      "load it with loadHfValueModel (a critic), or give the policy's own model folder",
      "AHA_VALUE_MODEL",
    );
  }
  const want = opts.tokenizer ?? "optional";
  let tokenizer: HfTokenizer | null = null;
  if (want === "required" || (want === "optional" && existsSync(join(dir, "tokenizer.json")))) {
    tokenizer = HfTokenizer.fromFolder(dir);
  }
  const model = new Model(config, {
    ...(opts.precision !== undefined ? { precision: opts.precision } : {}),
    ...(opts.inferencePrecision !== undefined ? { inferencePrecision: opts.inferencePrecision } : {}),
    ...(opts.kvCache !== undefined ? { kvCache: opts.kvCache } : {}),
  });
  const { warnings, dtypes } = loadHfWeights(dir, model.params);
  model.params.markChanged();
  const generation = readGenerationConfig(dir, raw);
  if (generation.eosTokenIds.length === 0 && tokenizer?.eos) generation.eosTokenIds = [tokenizer.eos.id];
  if (tokenizer && tokenizer.vocabSize > config.vocabSize) {
    warnings.push(`${join(dir, "tokenizer.json")}: the tokenizer has ${tokenizer.vocabSize} tokens but config.json's vocab_size is ${config.vocabSize}`);
  }
  return { dir, config, rawConfig: raw, model, generation, tokenizer, warnings, dtypes };
}

export interface LoadedHfValueModel {
  dir: string;
  config: ModelConfig;
  rawConfig: Record<string, unknown>;
  model: ValueModel;
  warnings: string[];
  dtypes: string[];
}

/**
 * Loads a value-model folder (…ForTokenClassification with num_labels 1, see the file comment) into a
 * new ValueModel. Errors name the file: a causal-LM folder, a missing or mis-shaped score.weight.
 */
export function loadHfValueModel(dir: string, opts: { precision?: Precision } = {}): LoadedHfValueModel {
  const { config, raw, head } = readHfConfig(dir);
  if (head.kind !== "value") {
    throw new UserError(
      `${join(dir, "config.json")}: ${String((raw["architectures"] as string[])[0])} is not a value model (expected …ForTokenClassification with num_labels 1)`,
      "to start a value model from a base model, load the base with loadHfModel and use ValueModel.fromBase",
      "AHA_NOT_VALUE_MODEL",
    );
  }
  const model = new ValueModel(config, { bias: head.bias, ...(opts.precision !== undefined ? { precision: opts.precision } : {}) });
  const { warnings, dtypes } = loadHfWeights(dir, model.params);
  model.params.markChanged();
  return { dir, config, rawConfig: raw, model, warnings, dtypes };
}
