/**
 * The parameter table: every tensor of the model declared once (Hugging Face name → shape), all of them
 * in ONE Float32Array arena with subarray views (llm.c's `malloc_and_point_parameters`). Gradients and
 * AdamW's m / v are arenas over the same table.
 *
 * Loaders fill `arena.view(hfName)` by name; savers iterate `table.specs`.
 *
 * The head decides the table's last tensors: the vocabulary head adds `lm_head.weight` (V, C) unless the
 * embeddings are tied; a value head (./value.ts) adds `score.weight` (1, C) [and `score.bias` (1)] and
 * never an lm_head, as transformers' `<Family>ForTokenClassification` (whose state dict has no lm_head).
 */
import type { Backend, F32 } from "../kernels/backend.js";
import { splitmix32, Xoshiro128 } from "../util/rng.js";
import { LM_HEAD, type ModelConfig, type ModelHead } from "./config.js";

export type ParamKind = "embedding" | "matrix" | "bias" | "norm";

export interface ParamSpec {
  /** Hugging Face tensor name, e.g. `model.layers.0.self_attn.q_proj.weight`. */
  name: string;
  shape: number[];
  kind: ParamKind;
  /** Offset (in floats) into the arena. */
  offset: number;
  size: number;
  /** AdamW weight decay applies (matrices and embeddings only; never norms or biases). */
  decay: boolean;
}

export interface ParamTable {
  specs: ParamSpec[];
  byName: Map<string, ParamSpec>;
  /** Total floats. */
  size: number;
}

/** The tensors of the model, in the order HF modules declare them. */
export function paramTable(cfg: ModelConfig, head: ModelHead = LM_HEAD): ParamTable {
  const { hiddenSize: C, intermediateSize: I, vocabSize: V, numHeads: H, numKvHeads: KV, headDim: D } = cfg;
  const list: [string, number[], ParamKind][] = [["model.embed_tokens.weight", [V, C], "embedding"]];
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const lin = (name: string, out: number, inp: number, bias: boolean): void => {
      list.push([`${p}${name}.weight`, [out, inp], "matrix"]);
      if (bias) list.push([`${p}${name}.bias`, [out], "bias"]);
    };
    list.push([`${p}input_layernorm.weight`, [C], "norm"]);
    lin("self_attn.q_proj", H * D, C, cfg.qkvBias);
    lin("self_attn.k_proj", KV * D, C, cfg.qkvBias);
    lin("self_attn.v_proj", KV * D, C, cfg.qkvBias);
    lin("self_attn.o_proj", C, H * D, cfg.oBias);
    if (cfg.qkNorm) {
      list.push([`${p}self_attn.q_norm.weight`, [D], "norm"]);
      list.push([`${p}self_attn.k_norm.weight`, [D], "norm"]);
    }
    list.push([`${p}post_attention_layernorm.weight`, [C], "norm"]);
    lin("mlp.gate_proj", I, C, cfg.mlpBias);
    lin("mlp.up_proj", I, C, cfg.mlpBias);
    lin("mlp.down_proj", C, I, cfg.mlpBias);
  }
  list.push(["model.norm.weight", [C], "norm"]);
  if (head.kind === "lm") {
    if (!cfg.tieWordEmbeddings) list.push(["lm_head.weight", [V, C], "embedding"]);
  } else {
    list.push(["score.weight", [1, C], "matrix"]);
    if (head.bias) list.push(["score.bias", [1], "bias"]);
  }

  const specs: ParamSpec[] = [];
  let offset = 0;
  for (const [name, shape, kind] of list) {
    const size = shape.reduce((a, b) => a * b, 1);
    // Keep every tensor 16-float (64-byte) aligned so native kernels see aligned rows.
    specs.push({ name, shape, kind, offset, size, decay: kind === "matrix" || kind === "embedding" });
    offset += Math.ceil(size / 16) * 16;
  }
  return { specs, byName: new Map(specs.map((s) => [s.name, s])), size: offset };
}

/**
 * One arena over a table: the parameters, or their gradients, or an optimizer moment.
 *
 * On a device backend (webgpu) an arena lives in device memory once `onDevice(be)` is called: kernels
 * update the device copy, so host code reads `data` only after `pull()` and makes host writes count with
 * `push()` (Params.markChanged() pushes). On CPU backends both are no-ops.
 */
export class Arena {
  readonly table: ParamTable;
  readonly data: F32;
  private readonly views = new Map<string, F32>();
  private device: Backend | null = null;

  constructor(table: ParamTable, data?: F32) {
    this.table = table;
    if (data && data.length !== table.size) throw new Error(`arena: data has ${data.length} floats, table needs ${table.size}`);
    this.data = data ?? new Float32Array(table.size);
    for (const s of table.specs) this.views.set(s.name, this.data.subarray(s.offset, s.offset + s.size));
  }

  /** The view of one tensor by HF name (throws on an unknown name). */
  view(name: string): F32 {
    const v = this.views.get(name);
    if (!v) throw new Error(`no parameter named '${name}'`);
    return v;
  }

  has(name: string): boolean {
    return this.views.has(name);
  }

  /** Keep this arena on be's device (a no-op on CPU backends). */
  onDevice(be: Backend): this {
    this.device = be;
    be.keepOnDevice(this.data);
    return this;
  }

  /** The backend whose device holds the arena (null: host only). */
  get deviceBackend(): Backend | null {
    return this.device;
  }

  /** Brings the device's values into `data` (call before reading it on the host). */
  pull(): void {
    this.device?.download(this.data);
  }

  /** Sends host writes into `data` to the device. */
  push(): void {
    this.device?.upload(this.data);
  }

  zero(): void {
    if (this.device) this.device.zero(this.data);
    else this.data.fill(0);
  }
}

/** The parameter arena plus a version counter that anything changing the weights bumps (bf16 copies refresh on it). */
export class Params extends Arena {
  /** Bumped by `markChanged()`: after loading weights or an optimizer step. */
  version = 0;
  /**
   * The weights changed: written on the host (loading, copying; then they are pushed to the device) or,
   * with "device", by kernels (an optimizer step: nothing to send).
   */
  markChanged(where: "host" | "device" = "host"): void {
    if (where === "host") this.push();
    this.version++;
  }
}

/** Per-layer views of an arena (params or grads), so the forward/backward code reads like llm.c's `l_*` pointers. */
export interface LayerViews {
  ln1: F32; // (C)
  q: F32; qb: F32 | null; // (Hq·D, C), (Hq·D)
  k: F32; kb: F32 | null; // (Hkv·D, C), (Hkv·D)
  v: F32; vb: F32 | null; // (Hkv·D, C), (Hkv·D)
  o: F32; ob: F32 | null; // (C, Hq·D), (C)
  qNorm: F32 | null; kNorm: F32 | null; // (D)
  ln2: F32; // (C)
  gate: F32; gateB: F32 | null; // (I, C), (I)
  up: F32; upB: F32 | null; // (I, C), (I)
  down: F32; downB: F32 | null; // (C, I), (C)
}

export interface ModelViews {
  embed: F32; // (V, C)
  layers: LayerViews[];
  normF: F32; // (C)
  head: F32 | null; // (V, C): lm_head, or embed itself when tied; null for a value head
  score: F32 | null; // (1, C) value head, or null
  scoreBias: F32 | null; // (1)
}

export function modelViews(a: Arena, cfg: ModelConfig): ModelViews {
  const opt = (n: string): F32 | null => (a.has(n) ? a.view(n) : null);
  const layers: LayerViews[] = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}.`;
    layers.push({
      ln1: a.view(`${p}input_layernorm.weight`),
      q: a.view(`${p}self_attn.q_proj.weight`), qb: opt(`${p}self_attn.q_proj.bias`),
      k: a.view(`${p}self_attn.k_proj.weight`), kb: opt(`${p}self_attn.k_proj.bias`),
      v: a.view(`${p}self_attn.v_proj.weight`), vb: opt(`${p}self_attn.v_proj.bias`),
      o: a.view(`${p}self_attn.o_proj.weight`), ob: opt(`${p}self_attn.o_proj.bias`),
      qNorm: opt(`${p}self_attn.q_norm.weight`), kNorm: opt(`${p}self_attn.k_norm.weight`),
      ln2: a.view(`${p}post_attention_layernorm.weight`),
      gate: a.view(`${p}mlp.gate_proj.weight`), gateB: opt(`${p}mlp.gate_proj.bias`),
      up: a.view(`${p}mlp.up_proj.weight`), upB: opt(`${p}mlp.up_proj.bias`),
      down: a.view(`${p}mlp.down_proj.weight`), downB: opt(`${p}mlp.down_proj.bias`),
    });
  }
  const embed = a.view("model.embed_tokens.weight");
  const score = opt("score.weight");
  const head = score ? null : cfg.tieWordEmbeddings ? embed : a.view("lm_head.weight");
  return { embed, layers, normF: a.view("model.norm.weight"), head, score, scoreBias: opt("score.bias") };
}

/**
 * Deterministic init from a seed, as HF's `_init_weights` does it: embeddings and matrices
 * N(0, initializerRange²) (0.02 by default), biases 0, RMSNorm weights 1. The normals come from a
 * seeded xoshiro128** generator through Box–Muller, drawn tensor by tensor in table order, so a given
 * (config, seed) always gives the same weights.
 */
export function initParams(p: Arena, cfg: ModelConfig, seed: number): void {
  const rng = new NormalRng(seed);
  for (const s of p.table.specs) {
    const v = p.view(s.name);
    if (s.kind === "norm") v.fill(1);
    else if (s.kind === "bias") v.fill(0);
    else for (let i = 0; i < v.length; i++) v[i] = cfg.initializerRange * rng.next();
  }
  if (p instanceof Params) p.markChanged();
}

/** Fills v with N(0, std²) draws from a seeded generator (the same one initParams uses). */
export function normalFill(v: F32, std: number, seed: number): void {
  const rng = new NormalRng(seed);
  for (let i = 0; i < v.length; i++) v[i] = std * rng.next();
}

/** The head a table was built for (./config.ts ModelHead), read back from its tensor names. */
export function headOfTable(t: ParamTable): ModelHead {
  return t.byName.has("score.weight") ? { kind: "value", bias: t.byName.has("score.bias") } : LM_HEAD;
}

/** Standard normals from a seeded xoshiro128** (the init RNG; 32-bit integer math, fast; not cryptographic). */
class NormalRng {
  private readonly x: Xoshiro128;
  private spare: number | null = null;
  constructor(seed: number) {
    const next = splitmix32(seed); // spreads the seed over the four state words
    const s = [next(), next(), next(), next()];
    if ((s[0]! | s[1]! | s[2]! | s[3]!) === 0) s[0] = 1;
    this.x = new Xoshiro128(s[0]!, s[1]!, s[2]!, s[3]!);
  }
  /** Uniform in (0, 1) with 53 random bits. */
  private uniform(): number {
    const hi = this.x.nextU32() >>> 5; // 27 bits
    const lo = this.x.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo + 0.5) / 9007199254740992;
  }
  next(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}
