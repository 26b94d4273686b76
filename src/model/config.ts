/**
 * ModelConfig: the shape of a decoder-only transformer of the Llama / Qwen2 / Qwen3 families, read from
 * the fields of a Hugging Face `config.json`.
 *
 * Family differences (the only ones we model), as the HF modeling files define them:
 * - Qwen2ForCausalLM: q/k/v projections always have a bias, o_proj never (config has no attention_bias).
 * - Qwen3ForCausalLM: per-head RMSNorm on q and k (`q_norm`, `k_norm`, weight (head_dim)) before RoPE;
 *   `attention_bias` (default false) puts a bias on q, k, v and o; `head_dim` may differ from hidden/heads.
 * - LlamaForCausalLM: `attention_bias` (default false) on q, k, v, o; `mlp_bias` (default false) on
 *   gate/up/down; optional `rope_scaling` of type "llama3" (Llama 3.1 / 3.2).
 *
 * The output head (ModelHead) is read from the same file: `<Family>ForCausalLM` has the vocabulary head;
 * `<Family>ForTokenClassification` with one label is a value model (the same body, a `score` head of
 * shape (1, hidden) with an optional bias, as transformers' GenericForTokenClassification builds it:
 * `nn.Linear(hidden_size, num_labels, bias=config.token_classification_bias)`, the bias on by default).
 */
import { z } from "zod";
import { UserError } from "../errors.js";

export type Architecture = "Qwen2ForCausalLM" | "Qwen3ForCausalLM" | "LlamaForCausalLM";

/**
 * The output head on top of the body's final RMSNorm: the vocabulary head (`lm_head.weight`, or the
 * embedding when tied), or a scalar value head `score.weight` (1, hidden) [+ `score.bias` (1)].
 */
export type ModelHead = { kind: "lm" } | { kind: "value"; bias: boolean };
export const LM_HEAD: ModelHead = { kind: "lm" };

const TOKEN_CLS = "ForTokenClassification";

/** Llama 3.x frequency-dependent RoPE scaling ("rope_type": "llama3"). */
export interface Llama3RopeScaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

export interface ModelConfig {
  architecture: Architecture;
  vocabSize: number;
  hiddenSize: number; // C
  intermediateSize: number; // I (SwiGLU width)
  numLayers: number; // L
  numHeads: number; // Hq
  numKvHeads: number; // Hkv (divides Hq; = Hq for multi-head attention)
  headDim: number; // D (`head_dim`, else hidden / heads)
  ropeTheta: number;
  ropeScaling: Llama3RopeScaling | null;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  qkvBias: boolean; // bias on q_proj, k_proj, v_proj
  oBias: boolean; // bias on o_proj
  mlpBias: boolean; // bias on gate_proj, up_proj, down_proj
  qkNorm: boolean; // Qwen3 per-head RMSNorm on q and k
  maxPositionEmbeddings: number;
  /** Std of the normal init of matrices (`initializer_range`, HF default 0.02). */
  initializerRange: number;
}

const SUPPORTED: readonly Architecture[] = ["Qwen2ForCausalLM", "Qwen3ForCausalLM", "LlamaForCausalLM"];

const posInt = z.number().int().positive();
const ropeScalingSchema = z.object({
  rope_type: z.string().optional(),
  type: z.string().optional(),
  factor: z.number().positive().optional(),
  low_freq_factor: z.number().positive().optional(),
  high_freq_factor: z.number().positive().optional(),
  original_max_position_embeddings: posInt.optional(),
}).loose();

/** The HF fields we read; other fields (torch_dtype, bos_token_id, ...) are allowed and ignored. */
const hfSchema = z.object({
  architectures: z.array(z.string()).min(1),
  vocab_size: posInt,
  hidden_size: posInt,
  intermediate_size: posInt,
  num_hidden_layers: posInt,
  num_attention_heads: posInt,
  num_key_value_heads: posInt.optional(),
  head_dim: posInt.nullish(),
  rope_theta: z.number().positive().optional(),
  rms_norm_eps: z.number().positive().optional(),
  tie_word_embeddings: z.boolean().optional(),
  attention_bias: z.boolean().optional(),
  mlp_bias: z.boolean().optional(),
  max_position_embeddings: posInt.optional(),
  initializer_range: z.number().positive().optional(),
  rope_scaling: ropeScalingSchema.nullish(),
  hidden_act: z.string().optional(),
  use_sliding_window: z.boolean().optional(),
}).loose();

/**
 * Parses a Hugging Face config.json object. `fileName` is only used in error messages.
 * Throws UserError naming the field on bad or unsupported input.
 */
export function parseHfConfig(json: unknown, fileName: string): ModelConfig {
  const r = hfSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.length > 0 ? issue.path.join(".") : "(top level)";
    throw new UserError(`${fileName}: field '${field}': ${issue.message}`);
  }
  const c = r.data;
  // a value model (…ForTokenClassification) has the body of its …ForCausalLM family
  const arch = c.architectures[0]!.replace(/ForTokenClassification$/, "ForCausalLM");
  if (!(SUPPORTED as readonly string[]).includes(arch)) {
    const all = [...SUPPORTED, ...SUPPORTED.map((a) => a.replace(/ForCausalLM$/, TOKEN_CLS))];
    throw new UserError(`${fileName}: unsupported architecture ${c.architectures[0]!}; supported: ${all.join(", ")}`);
  }
  const architecture = arch as Architecture;
  if (c.hidden_act !== undefined && c.hidden_act !== "silu") {
    throw new UserError(`${fileName}: field 'hidden_act': only "silu" (SwiGLU) is supported, got "${c.hidden_act}"`);
  }
  const numHeads = c.num_attention_heads;
  const numKvHeads = c.num_key_value_heads ?? numHeads;
  if (numHeads % numKvHeads !== 0) {
    throw new UserError(`${fileName}: field 'num_key_value_heads': ${numKvHeads} does not divide num_attention_heads ${numHeads}`);
  }
  let headDim: number;
  if (c.head_dim !== undefined && c.head_dim !== null) {
    headDim = c.head_dim;
  } else {
    if (c.hidden_size % numHeads !== 0) {
      throw new UserError(`${fileName}: field 'hidden_size': ${c.hidden_size} is not divisible by num_attention_heads ${numHeads} and no head_dim is given`);
    }
    headDim = c.hidden_size / numHeads;
  }
  if (headDim % 2 !== 0) throw new UserError(`${fileName}: field 'head_dim': rotary embeddings need an even head_dim, got ${headDim}`);
  const ropeScaling = parseRopeScaling(c.rope_scaling ?? null, fileName);
  if (architecture !== "LlamaForCausalLM" && ropeScaling !== null) {
    throw new UserError(`${fileName}: field 'rope_scaling': only supported for LlamaForCausalLM`);
  }
  if (c.use_sliding_window === true) {
    throw new UserError(`${fileName}: field 'use_sliding_window': sliding-window attention is not supported`);
  }
  const attentionBias = c.attention_bias ?? false;
  return {
    architecture,
    vocabSize: c.vocab_size,
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    numLayers: c.num_hidden_layers,
    numHeads,
    numKvHeads,
    headDim,
    // HF defaults: Llama and Qwen2 default rope_theta 10000, Qwen3 1e6; rms_norm_eps 1e-6 (Llama's 1e-6 too).
    ropeTheta: c.rope_theta ?? (architecture === "Qwen3ForCausalLM" ? 1_000_000 : 10_000),
    ropeScaling,
    rmsNormEps: c.rms_norm_eps ?? 1e-6,
    // LlamaConfig, Qwen2Config and Qwen3Config all default to false.
    tieWordEmbeddings: c.tie_word_embeddings ?? false,
    qkvBias: architecture === "Qwen2ForCausalLM" ? true : attentionBias,
    oBias: architecture === "Qwen2ForCausalLM" ? false : attentionBias,
    mlpBias: architecture === "LlamaForCausalLM" ? c.mlp_bias ?? false : false,
    qkNorm: architecture === "Qwen3ForCausalLM",
    maxPositionEmbeddings: c.max_position_embeddings ?? 32_768,
    initializerRange: c.initializer_range ?? 0.02,
  };
}

function parseRopeScaling(rs: z.infer<typeof ropeScalingSchema> | null, fileName: string): Llama3RopeScaling | null {
  if (rs === null) return null;
  const kind = rs.rope_type ?? rs.type;
  if (kind === "default") return null;
  if (kind !== "llama3") {
    throw new UserError(`${fileName}: field 'rope_scaling.rope_type': unsupported "${String(kind)}"; supported: llama3, default`);
  }
  for (const f of ["factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"] as const) {
    if (rs[f] === undefined) throw new UserError(`${fileName}: field 'rope_scaling.${f}' is required for rope_type llama3`);
  }
  if (rs.high_freq_factor! <= rs.low_freq_factor!) {
    throw new UserError(`${fileName}: field 'rope_scaling.high_freq_factor' must exceed low_freq_factor`);
  }
  return {
    factor: rs.factor!,
    lowFreqFactor: rs.low_freq_factor!,
    highFreqFactor: rs.high_freq_factor!,
    originalMaxPositionEmbeddings: rs.original_max_position_embeddings!,
  };
}

/**
 * The head a config.json describes (`json` already accepted by parseHfConfig): …ForCausalLM → the
 * vocabulary head; …ForTokenClassification → a value head, which needs exactly one label (`num_labels`,
 * else the size of `id2label`, else transformers' default 2 → an error) and has a bias unless
 * `token_classification_bias` is false (transformers' default true).
 */
export function parseHfHead(json: Record<string, unknown>, fileName: string): ModelHead {
  const archs = json["architectures"];
  const arch = Array.isArray(archs) && typeof archs[0] === "string" ? archs[0] : "";
  if (!arch.endsWith(TOKEN_CLS)) return LM_HEAD;
  const id2label = json["id2label"];
  const n = json["num_labels"] ?? (id2label && typeof id2label === "object" ? Object.keys(id2label).length : 2);
  if (n !== 1) {
    throw new UserError(`${fileName}: ${arch} with ${JSON.stringify(n)} labels; a value model has one (num_labels 1, id2label {"0": "LABEL_0"})`);
  }
  const bias = json["token_classification_bias"] ?? true;
  if (typeof bias !== "boolean") throw new UserError(`${fileName}: field 'token_classification_bias' must be true or false`);
  return { kind: "value", bias };
}

/**
 * The config back as HF config.json fields (for savers; round-trips through parseHfConfig and
 * parseHfHead). A value head is written as transformers writes `<Family>ForTokenClassification` with
 * num_labels 1: `id2label` / `label2id` of one label, plus `num_labels` and `token_classification_bias`.
 */
export function toHfConfig(cfg: ModelConfig, head: ModelHead = LM_HEAD): Record<string, unknown> {
  const modelType = { Qwen2ForCausalLM: "qwen2", Qwen3ForCausalLM: "qwen3", LlamaForCausalLM: "llama" }[cfg.architecture];
  const out: Record<string, unknown> = {
    architectures: [head.kind === "value" ? cfg.architecture.replace(/ForCausalLM$/, TOKEN_CLS) : cfg.architecture],
    model_type: modelType,
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.hiddenSize,
    intermediate_size: cfg.intermediateSize,
    num_hidden_layers: cfg.numLayers,
    num_attention_heads: cfg.numHeads,
    num_key_value_heads: cfg.numKvHeads,
    head_dim: cfg.headDim,
    rope_theta: cfg.ropeTheta,
    rms_norm_eps: cfg.rmsNormEps,
    tie_word_embeddings: cfg.tieWordEmbeddings,
    max_position_embeddings: cfg.maxPositionEmbeddings,
    initializer_range: cfg.initializerRange,
    hidden_act: "silu",
    torch_dtype: "float32",
  };
  if (cfg.architecture !== "Qwen2ForCausalLM") out["attention_bias"] = cfg.qkvBias;
  if (cfg.architecture === "LlamaForCausalLM") out["mlp_bias"] = cfg.mlpBias;
  if (cfg.ropeScaling) {
    out["rope_scaling"] = {
      rope_type: "llama3",
      factor: cfg.ropeScaling.factor,
      low_freq_factor: cfg.ropeScaling.lowFreqFactor,
      high_freq_factor: cfg.ropeScaling.highFreqFactor,
      original_max_position_embeddings: cfg.ropeScaling.originalMaxPositionEmbeddings,
    };
  }
  if (head.kind === "value") {
    out["num_labels"] = 1;
    out["id2label"] = { "0": "LABEL_0" };
    out["label2id"] = { LABEL_0: 0 };
    out["token_classification_bias"] = head.bias;
  }
  return out;
}
