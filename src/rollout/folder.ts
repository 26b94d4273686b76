/**
 * A local rollout engine from a Hugging Face model folder (+ optional PEFT adapter): what `aha serve` and
 * `aha eval --model` start from. Stop ids = generation_config.json's eos ids + the tokenizer's eos.
 */
import { UserError } from "../errors.js";
import { loadHfModel, type LoadedHfModel } from "../formats/hf.js";
import type { HfTokenizer } from "../formats/tokenizer.js";
import { loadPeftAdapter } from "../formats/peft.js";
import type { LoraSet } from "../model/lora.js";
import type { KVCacheDtype, Precision } from "../model/model.js";
import { LocalRolloutEngine } from "./local.js";

export { encodePrompt } from "./prompt.js";

export interface FolderEngineOptions {
  adapter?: string;
  precision?: Precision;
  /** Matrix products of sampling; null / absent = precision. */
  samplePrecision?: Precision | null;
  /** The sampler's KV cache element type (default fp32). */
  kvCache?: KVCacheDtype;
  /** Sequences decoded together (KV-cache slots). */
  slots: number;
  /** Context length (prompt + completion); default min(max_position_embeddings, 4096). */
  maxLen?: number;
  seed?: number;
}

export interface FolderEngine {
  loaded: LoadedHfModel;
  /** The adapter given (attached to loaded.model), or null. */
  adapter: LoraSet | null;
  tokenizer: HfTokenizer;
  engine: LocalRolloutEngine<unknown>;
  maxLen: number;
  stopTokenIds: number[];
}

export type LoadedFolder = Omit<FolderEngine, "engine" | "maxLen">;

/** Loads the folder (+ adapter); the engine comes later (`engineFor`), once the context length is known. */
/** The model-loading part of FolderEngineOptions. */
export type FolderLoadOptions = Pick<FolderEngineOptions, "adapter" | "precision" | "samplePrecision" | "kvCache">;

export function loadFolder(dir: string, o: FolderLoadOptions = {}): LoadedFolder {
  const loaded = loadHfModel(dir, {
    tokenizer: "required",
    ...(o.precision ? { precision: o.precision } : {}),
    ...(o.samplePrecision ? { inferencePrecision: o.samplePrecision } : {}),
    ...(o.kvCache ? { kvCache: o.kvCache } : {}),
  });
  const adapter = o.adapter ? loadPeftAdapter(o.adapter, loaded.model) : null;
  const tokenizer = loaded.tokenizer!;
  const stop = new Set(loaded.generation.eosTokenIds);
  if (tokenizer.eos) stop.add(tokenizer.eos.id);
  return { loaded, adapter, tokenizer, stopTokenIds: [...stop] };
}

export function engineFor(f: LoadedFolder, o: Omit<FolderEngineOptions, keyof FolderLoadOptions>): FolderEngine {
  const maxLen = o.maxLen ?? Math.min(f.loaded.config.maxPositionEmbeddings, 4096);
  if (!Number.isInteger(maxLen) || maxLen < 2) throw new UserError(`the context length must be an integer ≥ 2, got ${maxLen}`);
  const tokenizer = f.tokenizer;
  const engine = new LocalRolloutEngine(f.loaded.model as never, {
    slots: o.slots,
    maxLen,
    // special tokens kept: stop strings may be special tokens (e.g. "</answer>" in the demo's vocabulary)
    decode: (ids) => tokenizer.decode([...ids]),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
  }) as LocalRolloutEngine<unknown>;
  return { ...f, engine, maxLen };
}

export function engineFromFolder(dir: string, o: FolderEngineOptions): FolderEngine {
  const { adapter, precision, samplePrecision, kvCache, ...rest } = o;
  return engineFor(loadFolder(dir, {
    ...(adapter ? { adapter } : {}), ...(precision ? { precision } : {}),
    ...(samplePrecision ? { samplePrecision } : {}), ...(kvCache ? { kvCache } : {}),
  }), rest);
}
