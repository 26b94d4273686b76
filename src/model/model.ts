/**
 * The decoder-only transformer (Llama / Qwen2 / Qwen3), written the llm.c way: explicit forward and
 * backward passes as flat lists of backend calls, activations in one reused arena, parameters and
 * gradients in arenas over one table (./params.ts).
 *
 * Training:   forward(tokens, cuSeqlens, targets) → per-token log-prob of the target and entropy,
 *             backward(dlogp, dentropy) → adds into `grads` (zero them once per step with zeroGrad()).
 * Inference:  createKVCache / prefill / decode / copySlot, and lastLogits (full recompute: the oracle).
 * Other heads: forwardHidden(tokens, cuSeqlens) → the final RMSNorm output (T, C), backwardHidden(dL/dit)
 *             → the same backward from there down (the value model of ./value.ts is built on these).
 *
 * Batches are packed variable-length sequences: T tokens in a row, `cuSeqlens` (S+1) marks the starts;
 * positions restart at 0 in each sequence and attention never crosses a boundary.
 *
 * The vocabulary head runs in chunks of token rows, so logits (T, V) never exist whole: (chunk, V) at a
 * time, with chunk = logitsChunkFloats / V. When the whole batch fits in one chunk, the logits are kept
 * from forward to backward; otherwise backward recomputes each chunk's logits.
 *
 * Precision "bf16": every matrix product takes bf16 operands with fp32 accumulation; weights enter
 * through a bf16 copy of the parameter arena, refreshed automatically whenever `params.version`
 * changes (bump it with params.markChanged() after loading or an optimizer step). Master weights,
 * activations, norms, softmax and gradients stay fp32.
 *
 * Inference (prefill / decode / lastLogits) has its own settings, so that sampling can run in bf16 while
 * training stays fp32: `inferencePrecision` (default: the model's precision) — "bf16" streams weights
 * packed once per weight version for the backend's decoding product (matmulPacked: half the bytes of
 * fp32, no per-call reorder, and each row's sums independent of how many rows share the call) — and
 * `kvCache` ("fp32" | "bf16"), the element type of the caches createKVCache makes.
 *
 * A frozen bf16 base (freezeBaseBf16(), for LoRA): the matrices and the embedding then live ONLY in the
 * bf16 arena (half the memory; no fp32 master copy, since nothing updates them); norms and biases stay
 * fp32. Gradients still flow through the bf16 matrix products to the adapters (fp32).
 *
 * Gradient checkpointing (`gradCheckpointing`): the training forward keeps only each layer's input
 * (T, C); backward recomputes the layer's activations from it, one layer at a time, just before that
 * layer's backward. The same kernels on the same inputs: gradients are identical to the stored path's.
 * With a frozen base (trainBase false) no gradient arena for the base is ever allocated.
 */
import { packedBf16Size, type Backend, type BF16, type F32 } from "../kernels/backend.js";
import { getBackend } from "../kernels/index.js";
import { LM_HEAD, type ModelConfig, type ModelHead } from "./config.js";
import { Arena, Params, modelViews, paramTable, type LayerViews, type ModelViews, type ParamSpec, type ParamTable } from "./params.js";

export type Precision = "fp32" | "bf16";

/**
 * The hook for LoRA (src/model/lora.ts): an adapter attached to one linear layer adds its own term to
 * the layer's output and its own gradient path. The model passes the linear's input x in both calls.
 */
export interface LinearAdapter {
  /**
   * out (rows, outFeatures) += adapter(x (rows, inFeatures)). `training` is true inside Model.forward
   * (a backward may follow) and false for inference (lastLogits / prefill / decode). `replay` is true
   * when gradient checkpointing runs the last training forward of this layer again before its backward:
   * the adapter must reproduce that forward exactly (e.g. the same dropout mask).
   */
  forward(out: F32, x: F32, rows: number, training: boolean, replay?: boolean): void;
  /** dx (rows, inFeatures) += d/dx, and the adapter's own gradients +=, from dout (rows, outFeatures). */
  backward(dx: F32, dout: F32, x: F32, rows: number): void;
}

/** One linear layer y = x·Wᵀ + b, by HF name (`model.layers.0.self_attn.q_proj`). */
export interface Linear {
  readonly name: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly w: F32; // (out, in)
  readonly b: F32 | null; // (out)
  readonly dw: F32; // (out, in)
  readonly db: F32 | null; // (out)
  wBf16: BF16 | null; // (out, in), set in bf16 mode
  wPacked: BF16 | null; // packBf16(w): (packedBf16Size(out, in)), set when inference runs in bf16
  adapter: LinearAdapter | null;
}

interface LayerLinears { q: Linear; k: Linear; v: Linear; o: Linear; gate: Linear; up: Linear; down: Linear }

/** Linears that read the same x, packed one after another: one matmulPackedMany in inference. */
interface PackedGroup { lins: Linear[]; w: BF16; ns: number[]; biases: (F32 | null)[] }

export type KVCacheDtype = "fp32" | "bf16";

export interface KVCache {
  dtype: KVCacheDtype;
  k: (F32 | BF16)[]; // per layer (slots, maxLen, Hkv·D); Uint16Array (bf16 bits) when dtype is bf16
  v: (F32 | BF16)[]; // per layer (slots, maxLen, Hkv·D)
  lens: Int32Array; // (slots) filled positions
  slots: number;
  maxLen: number;
}

export interface ModelOptions {
  precision?: Precision;
  /** Matrix products of prefill / decode / lastLogits (see the file comment). Default: `precision`. */
  inferencePrecision?: Precision;
  /** Element type of the KV caches createKVCache makes. Default fp32. */
  kvCache?: KVCacheDtype;
  /** Size (floats) of the logits chunk buffer; chunk rows = max(1, floor(this / V)). Default 2^24 (64 MB). */
  logitsChunkFloats?: number;
  /** Keep only each layer's input in training and recompute the layer in backward (see the file header). Default false. */
  gradCheckpointing?: boolean;
  backend?: Backend;
  /**
   * The head the parameter table holds (./params.ts): the vocabulary head (default), or a value head
   * (`score`, no lm_head): then only forwardHidden / backwardHidden run (a ValueModel drives them).
   */
  head?: ModelHead;
}

/** Activations of one layer for T tokens (views; shapes in comments). */
interface LayerActs {
  ln1: F32; // (T, C) input_layernorm output
  rstd1: F32; // (T)
  qPre: F32 | null; // (T, Hq·D) q before q_norm (Qwen3 only)
  kPre: F32 | null; // (T, Hkv·D)
  qRstd: F32 | null; // (T·Hq)
  kRstd: F32 | null; // (T·Hkv)
  q: F32; // (T, Hq·D) after bias, q_norm and rotary: what attention reads
  k: F32; // (T, Hkv·D)
  v: F32; // (T, Hkv·D)
  att: F32; // (T, Hq·D) attention output
  lse: F32; // (Hq, T)
  resid2: F32; // (T, C) residual after attention
  ln2: F32; // (T, C)
  rstd2: F32; // (T)
  gate: F32; // (T, I)
  up: F32; // (T, I)
}

/**
 * One Float32Array holding all activations for up to `cap` tokens. `bind(T)` hands out exact-size views.
 * Training workspaces keep every layer's activations (for backward); inference ones share one set.
 */
class Workspace {
  readonly cap: number;
  private readonly data: F32;
  private readonly cfg: ModelConfig;
  private readonly perLayer: boolean;
  private readonly withGrad: boolean;
  readonly chunkRows: number;
  /** Training with gradient checkpointing: per-layer inputs (resid) but ONE set of layer activations. */
  readonly checkpoint: boolean;

  constructor(cfg: ModelConfig, cap: number, perLayer: boolean, withGrad: boolean, chunkRows: number, be: Backend, checkpoint = false) {
    this.cfg = cfg;
    this.cap = cap;
    this.perLayer = perLayer;
    this.withGrad = withGrad;
    this.chunkRows = chunkRows;
    this.checkpoint = checkpoint;
    let total = 0;
    this.layout(cap, (n) => {
      total += Math.ceil(n / 16) * 16;
      return zeroes(0);
    });
    this.data = new Float32Array(total);
    be.keepOnDevice(this.data);
  }

  /** Walks the buffer list; `at(n)` returns the view of the next n floats (16-float aligned). */
  private layout(T: number, at: (n: number) => F32) {
    const c = this.cfg;
    const C = c.hiddenSize, I = c.intermediateSize, HD = c.numHeads * c.headDim, KD = c.numKvHeads * c.headDim;
    const ownSets = this.perLayer && !this.checkpoint; // one activation set per layer, or one shared
    const nLayerSets = ownSets ? c.numLayers : 1;
    const layerSets: LayerActs[] = [];
    for (let l = 0; l < nLayerSets; l++) {
      layerSets.push({
        ln1: at(T * C), rstd1: at(T),
        qPre: c.qkNorm ? at(T * HD) : null, kPre: c.qkNorm ? at(T * KD) : null,
        qRstd: c.qkNorm ? at(T * c.numHeads) : null, kRstd: c.qkNorm ? at(T * c.numKvHeads) : null,
        q: at(T * HD), k: at(T * KD), v: at(T * KD),
        att: at(T * HD), lse: at(c.numHeads * T),
        resid2: at(T * C), ln2: at(T * C), rstd2: at(T),
        gate: at(T * I), up: at(T * I),
      });
    }
    const resid: F32[] = [];
    for (let l = 0; l < (this.perLayer ? c.numLayers + 1 : 2); l++) resid.push(at(T * C)); // (T, C) input of layer l
    const acts = {
      layers: Array.from({ length: c.numLayers }, (_, l) => layerSets[ownSets ? l : 0]!),
      /** input of layer l (l = numLayers: the final residual); inference workspaces ping-pong two buffers */
      resid: (l: number): F32 => resid[this.perLayer ? l : l % 2]!,
      h: at(T * I), // (T, I) swiglu output, recomputed in backward
      lnF: at(T * C), rstdF: at(T), // final norm
      logp: at(T), entropy: at(T), lseV: at(T), // (T); lseV per head row
      lnFc: at(T * C), logpC: at(T), entC: at(T), // compacted head rows (onlyTargets)
      cos: at(T * (c.headDim / 2)), sin: at(T * (c.headDim / 2)), // (T, D/2)
      logits: at(Math.min(T, this.chunkRows) * c.vocabSize), // (chunk, V)
      // backward scratch
      dresid: this.withGrad ? at(T * C) : null, dln: this.withGrad ? at(T * C) : null,
      datt: this.withGrad ? at(T * HD) : null, dq: this.withGrad ? at(T * HD) : null,
      dk: this.withGrad ? at(T * KD) : null, dv: this.withGrad ? at(T * KD) : null,
      dqPre: this.withGrad && c.qkNorm ? at(T * HD) : null, dkPre: this.withGrad && c.qkNorm ? at(T * KD) : null,
      dh: this.withGrad ? at(T * I) : null, dgate: this.withGrad ? at(T * I) : null, dup: this.withGrad ? at(T * I) : null,
      dlnF: this.withGrad ? at(T * C) : null, dlnFc: this.withGrad ? at(T * C) : null,
    };
    return acts;
  }

  bind(T: number) {
    if (T > this.cap) throw new Error(`workspace holds ${this.cap} tokens, asked for ${T}`);
    let off = 0;
    return this.layout(T, (n) => {
      const v = this.data.subarray(off, off + n);
      off += Math.ceil(n / 16) * 16;
      return v;
    });
  }
}

type Acts = ReturnType<Workspace["bind"]>;

function zeroes(n: number): F32 {
  return new Float32Array(n);
}

export class Model {
  readonly cfg: ModelConfig;
  /** The full parameter table (HF names → shapes); the bf16 arena is laid out over it. */
  readonly table: ParamTable;
  readonly be: Backend;
  readonly head: ModelHead;
  private paramArena: Params;
  /** Allocated on first use (inference-only models never need it; LoRA training never does). */
  private gradArena: Arena | null = null;
  private w: ModelViews;
  private g: ModelViews | null = null;
  private linears: LayerLinears[] = [];
  /**
   * When false, backward leaves every base-weight gradient untouched and never allocates the base's
   * gradient arena (only adapters get theirs): LoRA training.
   */
  trainBase = true;
  /** Recompute each layer's activations in backward instead of keeping them (see the file header). */
  gradCheckpointing: boolean;
  /** Set by freezeBaseBf16(): matrices and embedding exist only in the bf16 arena. */
  private frozenBf16 = false;

  private precisionMode: Precision;
  private bf16Arena: BF16 | null = null;
  private bf16Version = -1;
  private headBf16: BF16 | null = null;
  /** bf16 copies of activations read by more than one product (see mmOperand), two slots */
  private mmScratch: [BF16, BF16] = [new Uint16Array(0), new Uint16Array(0)];
  private readonly chunkFloats: number;
  private inferMode: Precision;
  /** Element type of the caches createKVCache makes (existing caches keep theirs). */
  kvCache: KVCacheDtype;
  private packedArena: BF16 | null = null;
  private packedVersion = -1;
  private headPacked: BF16 | null = null;
  /** Per layer: q/k/v and gate/up as one packed product each (inference in bf16), else null. */
  private packedGroups: { qkv: PackedGroup; gateUp: PackedGroup }[] | null = null;
  /** True inside prefill / decode / lastLogits: linearForward then reads the packed weights. */
  private inInference = false;

  /** True while forward() runs (told to adapters: e.g. LoRA dropout only then). */
  private inTrainingForward = false;
  /** True while backward recomputes a layer's training forward (gradient checkpointing). */
  private replaying = false;
  private trainWs: Workspace | null = null;
  private inferWs: Workspace | null = null;
  /** What forward saw, for backward. */
  private saved: { T: number; tokens: Int32Array; cu: Int32Array; head: HeadRows | null; logitsKept: boolean } | null = null;

  private readonly invFreq: Float64Array; // (D/2)
  private ropeCos: F32 = zeroes(0); // (P, D/2) by position
  private ropeSin: F32 = zeroes(0);
  private ropeLen = 0;
  /** (rows, C) gathered final residuals, their norms, rstd: lastLogits / prefill / decode. */
  private rowsScratch: F32 = zeroes(0);
  /** decode's new k/v rows in bf16 (kvRowsBf16) */
  private kvScratch: BF16 = new Uint16Array(0);

  constructor(cfg: ModelConfig, opts: ModelOptions = {}) {
    this.cfg = cfg;
    this.be = opts.backend ?? getBackend();
    this.head = opts.head ?? LM_HEAD;
    this.table = paramTable(cfg, this.head);
    this.paramArena = new Params(this.table).onDevice(this.be);
    this.w = modelViews(this.paramArena, cfg);
    this.precisionMode = opts.precision ?? "fp32";
    this.inferMode = opts.inferencePrecision ?? this.precisionMode;
    this.kvCache = opts.kvCache ?? "fp32";
    this.gradCheckpointing = opts.gradCheckpointing ?? false;
    this.chunkFloats = opts.logitsChunkFloats ?? 1 << 24;
    this.invFreq = ropeInvFreq(cfg);
    this.buildLinears();
  }

  /**
   * The fp32 parameters (load into them, then params.markChanged()). After freezeBaseBf16() only the
   * norms and biases are here (the rest is in the bf16 arena).
   */
  get params(): Params {
    return this.paramArena;
  }

  /** Whether freezeBaseBf16() has dropped the fp32 matrices. */
  get baseFrozenBf16(): boolean {
    return this.frozenBf16;
  }

  get precision(): Precision {
    return this.precisionMode;
  }

  set precision(p: Precision) {
    if (this.frozenBf16 && p !== "bf16") throw new Error("the base is frozen in bf16 (freezeBaseBf16): its fp32 weights are gone; load the model again for fp32");
    this.precisionMode = p;
    if (p === "fp32") {
      this.bf16Arena = null;
      this.headBf16 = null;
      this.bf16Version = -1;
    }
    this.buildLinears();
  }

  /** Precision of prefill / decode / lastLogits ("bf16": packed bf16 weights, see the file comment). */
  get inferencePrecision(): Precision {
    return this.inferMode;
  }

  set inferencePrecision(p: Precision) {
    this.inferMode = p;
    if (p === "fp32") this.packedArena = null;
    this.packedVersion = -1;
    this.buildLinears();
  }

  /** The gradient arena (same table as params). */
  get grads(): Arena {
    if (this.frozenBf16) throw new Error("the base is frozen in bf16 (freezeBaseBf16): it has no gradients; train adapters (trainBase = false)");
    if (!this.gradArena) {
      this.gradArena = new Arena(this.table).onDevice(this.be);
      this.g = modelViews(this.gradArena, this.cfg);
      this.buildLinears();
    }
    return this.gradArena;
  }

  zeroGrad(): void {
    this.grads.zero();
  }

  /** The gradient views, allocating the arena on first use. */
  private baseGrads(): ModelViews {
    void this.grads;
    return this.g!;
  }

  /** Linear layers by HF module name (e.g. `model.layers.3.mlp.down_proj`), for attaching adapters. */
  linear(name: string): Linear {
    for (const ll of this.linears) for (const lin of Object.values(ll) as Linear[]) if (lin.name === name) return lin;
    throw new Error(`no linear layer named '${name}'`);
  }

  /** All linear layers, in layer order (q, k, v, o, gate, up, down per layer). */
  allLinears(): Linear[] {
    return this.linears.flatMap((ll) => [ll.q, ll.k, ll.v, ll.o, ll.gate, ll.up, ll.down]);
  }

  private buildLinears(): void {
    const cfg = this.cfg;
    const old = this.linears;
    if (this.precisionMode === "bf16" && !this.bf16Arena) {
      this.bf16Arena = new Uint16Array(this.table.size);
      this.be.keepOnDevice(this.bf16Arena);
    }
    const bf = this.precisionMode === "bf16" ? this.bf16Arena : null;
    this.headBf16 = bf && this.head.kind === "lm" ? this.bf16View(this.cfg.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight") : null;
    const ga = this.gradArena;
    // packed bf16 weights for inference: one arena, each linear's panels in layer order, then the head
    const packed = this.inferMode === "bf16" && this.head.kind === "lm" ? this.packedLayout() : null;
    this.headPacked = packed?.get("head") ?? null;
    this.linears = this.w.layers.map((lw, l) => {
      const p = `model.layers.${l}.`;
      const mk = (key: keyof LayerLinears, mod: string, outF: number, inF: number, w: F32, b: F32 | null): Linear => {
        const name = p + mod;
        return {
          name, inFeatures: inF, outFeatures: outF, w, b,
          dw: ga ? ga.view(`${name}.weight`) : zeroes(0),
          db: ga && b ? ga.view(`${name}.bias`) : null,
          wBf16: bf ? this.bf16View(`${name}.weight`) : null,
          wPacked: packed?.get(name) ?? null,
          adapter: old[l]?.[key].adapter ?? null,
        };
      };
      const C = cfg.hiddenSize, I = cfg.intermediateSize, HD = cfg.numHeads * cfg.headDim, KD = cfg.numKvHeads * cfg.headDim;
      return {
        q: mk("q", "self_attn.q_proj", HD, C, lw.q, lw.qb),
        k: mk("k", "self_attn.k_proj", KD, C, lw.k, lw.kb),
        v: mk("v", "self_attn.v_proj", KD, C, lw.v, lw.vb),
        o: mk("o", "self_attn.o_proj", C, HD, lw.o, lw.ob),
        gate: mk("gate", "mlp.gate_proj", I, C, lw.gate, lw.gateB),
        up: mk("up", "mlp.up_proj", I, C, lw.up, lw.upB),
        down: mk("down", "mlp.down_proj", C, I, lw.down, lw.downB),
      };
    });
    const group = (lins: Linear[], w: BF16): PackedGroup => ({ lins, w, ns: lins.map((x) => x.outFeatures), biases: lins.map((x) => x.b) });
    this.packedGroups = packed ? this.linears.map((ll, l) => ({
      qkv: group([ll.q, ll.k, ll.v], packed.get(`model.layers.${l}.qkv`)!),
      gateUp: group([ll.gate, ll.up], packed.get(`model.layers.${l}.gate_up`)!),
    })) : null;
  }

  /** Views of the packed arena by linear name (and "head"), allocating the arena on first use. */
  private packedLayout(): Map<string, BF16> {
    // (only a vocabulary-head model runs inference: a value model never needs these)
    const c = this.cfg, C = c.hiddenSize, I = c.intermediateSize, HD = c.numHeads * c.headDim, KD = c.numKvHeads * c.headDim;
    const shapes: [string, number, number][] = [];
    for (let l = 0; l < c.numLayers; l++) {
      const p = `model.layers.${l}.`;
      shapes.push([p + "self_attn.q_proj", HD, C], [p + "self_attn.k_proj", KD, C], [p + "self_attn.v_proj", KD, C],
        [p + "self_attn.o_proj", C, HD], [p + "mlp.gate_proj", I, C], [p + "mlp.up_proj", I, C], [p + "mlp.down_proj", C, I]);
    }
    shapes.push(["head", c.vocabSize, C]);
    const total = shapes.reduce((s, [, n, k]) => s + packedBf16Size(n, k), 0);
    if (!this.packedArena || this.packedArena.length !== total) {
      this.packedArena = new Uint16Array(this.be.allocLarge(2 * total)); // streamed every decoding step
      this.packedVersion = -1;
    }
    const views = new Map<string, BF16>();
    let off = 0;
    for (const [name, n, k] of shapes) {
      views.set(name, this.packedArena.subarray(off, off + packedBf16Size(n, k)));
      off += packedBf16Size(n, k);
    }
    // q, k, v and gate, up lie one after another: views over each run, for matmulPackedMany
    const arena = this.packedArena;
    const span = (first: string, last: string): BF16 => {
      const a = views.get(first)!, b = views.get(last)!;
      return arena.subarray((a.byteOffset - arena.byteOffset) / 2, (b.byteOffset + b.byteLength - arena.byteOffset) / 2);
    };
    for (let l = 0; l < c.numLayers; l++) {
      const p = `model.layers.${l}.`;
      views.set(p + "qkv", span(p + "self_attn.q_proj", p + "self_attn.v_proj"));
      views.set(p + "gate_up", span(p + "mlp.gate_proj", p + "mlp.up_proj"));
    }
    return views;
  }

  /** Repacks the inference weights if the fp32 weights changed since. */
  private syncPacked(): void {
    if (this.inferMode !== "bf16" || this.packedVersion === this.params.version) return;
    for (const lin of this.allLinears()) this.be.packBf16(lin.wPacked!, this.packSource(lin.w, lin.wBf16), lin.outFeatures, lin.inFeatures);
    if (this.headPacked) this.be.packBf16(this.headPacked, this.packSource(this.frozenBf16 ? new Float32Array(0) : this.lmHead("pack"), this.headBf16), this.cfg.vocabSize, this.cfg.hiddenSize);
    this.packedVersion = this.params.version;
  }

  /**
   * What packBf16 reads for a weight: the fp32 weight, or — for a base frozen in bf16, whose fp32 copies
   * are released — its bf16 copy widened to fp32 (exact: packing rounds to bf16 again, a no-op).
   */
  private packSource(w: F32, bf: BF16 | null): F32 {
    if (!this.frozenBf16 || bf === null) return w;
    const out = new Float32Array(bf.length);
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < bf.length; i++) bits[i] = bf[i]! << 16;
    return out;
  }

  /** The vocabulary head's weight (V, C); throws on a value-head model (which has none). */
  private lmHead(what: string): F32 {
    if (!this.w.head) throw new Error(`${what}: this model has a value head (score), no vocabulary head: use ValueModel's forward / backward`);
    return this.w.head;
  }

  private bf16View(name: string): BF16 {
    const s = this.table.byName.get(name)!;
    return this.bf16Arena!.subarray(s.offset, s.offset + s.size);
  }

  /**
   * Stores the frozen base in bf16 only: the matrices and the embedding (tied head included) are kept in
   * the bf16 arena and their fp32 copies are released; norms and biases stay fp32 (a small new arena).
   * For LoRA training on a bf16 base (the memory of the weights halves). Needs precision bf16; sets
   * trainBase = false for good. Load the weights before calling it: afterwards `params` holds only the
   * norms and biases. Embedding rows are read from bf16 (as a bf16 checkpoint stores them).
   */
  freezeBaseBf16(): void {
    if (this.frozenBf16) return;
    if (this.precisionMode !== "bf16") throw new Error("freezeBaseBf16: set precision to bf16 first");
    // the frozen path reads embedding rows from the bf16 arena on the host: not wired to a device heap
    if (this.be.name === "webgpu") throw new Error("freezeBaseBf16: a base frozen in bf16 is not supported on the webgpu backend (docs/webgpu.md); use --backend native or ts, or train LoRA on an fp32 base");
    if (this.head.kind !== "lm") throw new Error("freezeBaseBf16: a value model trains its score head; only a policy's base can be frozen");
    this.syncBf16();
    const old = this.paramArena;
    const specs: ParamSpec[] = [];
    let offset = 0;
    for (const s of this.table.specs) {
      if (s.kind !== "norm" && s.kind !== "bias") continue; // matrices and embeddings: bf16 only
      specs.push({ ...s, offset });
      offset += Math.ceil(s.size / 16) * 16;
    }
    const small = new Params({ specs, byName: new Map(specs.map((s) => [s.name, s])), size: offset });
    for (const s of specs) small.view(s.name).set(old.view(s.name));
    small.version = old.version;
    this.paramArena = small;
    this.w = modelViews(small, this.cfg, { missing: "empty" });
    this.frozenBf16 = true;
    this.trainBase = false;
    this.gradArena = null;
    this.g = null;
    this.buildLinears();
  }

  /** out (T, C) = embedding rows of tokens: from the fp32 table, or from bf16 when the base is frozen. */
  private embedForward(out: F32, tokens: Int32Array, T: number): void {
    const C = this.cfg.hiddenSize;
    if (!this.frozenBf16) {
      this.be.embeddingForward(out, tokens, this.w.embed, T, C);
      return;
    }
    const e = this.bf16View("model.embed_tokens.weight"); // (V, C)
    const o = new Uint32Array(out.buffer, out.byteOffset, T * C);
    for (let t = 0; t < T; t++) {
      const src = tokens[t]! * C, dst = t * C;
      for (let i = 0; i < C; i++) o[dst + i] = e[src + i]! << 16;
    }
  }

  /** Refreshes the bf16 weight copy if the fp32 weights changed since (never after freezeBaseBf16: the bf16 arena is the weights). */
  private syncBf16(): void {
    if (this.frozenBf16 || this.precisionMode !== "bf16" || this.bf16Version === this.params.version) return;
    this.be.toBf16(this.bf16Arena!, this.params.data);
    this.bf16Version = this.params.version;
  }

  // ***** linear layers: the one place matrix products with weights happen *****

  /**
   * The operand a matrix product reads for activation x: in bf16 mode x converted to bf16 once, in
   * scratch `slot`, for the products that share it (q/k/v read ln1; gate/up read ln2; dout feeds both
   * dW and dx) — converting per product was a quarter of model S's bf16 step. x itself in fp32 mode.
   * The copy is valid until the slot is used again.
   */
  private mmOperand(x: F32, slot: 0 | 1): F32 | BF16 {
    // inference reads fp32 activations (the packed product converts them itself)
    if (this.precisionMode !== "bf16" || this.inInference) return x;
    if (this.mmScratch[slot].length < x.length) {
      this.mmScratch[slot] = new Uint16Array(x.length);
      this.be.keepOnDevice(this.mmScratch[slot]); // written and read by kernels only
    }
    const out = this.mmScratch[slot].subarray(0, x.length);
    this.be.toBf16(out, x);
    return out;
  }

  /**
   * out (rows, outF) = x (rows, inF) · Wᵀ + b  [+ adapter(x)]. Overwrites out. `xm`: what the product
   * reads for x (mmOperand's shared bf16 copy; default x).
   */
  linearForward(out: F32, x: F32, lin: Linear, rows: number, xm: F32 | BF16 = x): void {
    const bf16 = lin.wBf16 !== null;
    if (this.inInference && lin.wPacked) this.be.matmulPacked(out, x, lin.wPacked, rows, lin.outFeatures, lin.inFeatures);
    else this.be.matmul(out, xm, lin.wBf16 ?? lin.w, rows, lin.outFeatures, lin.inFeatures, { transB: true, bf16 });
    if (lin.b) this.be.addBias(out, lin.b, rows, lin.outFeatures);
    if (lin.adapter) lin.adapter.forward(out, x, rows, this.inTrainingForward, this.replaying);
  }

  /**
   * linearForward for linears that read the same x into outs[i]: one matmulPackedMany when given their
   * packed group (inference in bf16), else one linearForward each.
   */
  private linearsForward(outs: F32[], x: F32, lins: Linear[] | PackedGroup, rows: number, xm: F32 | BF16): void {
    if (Array.isArray(lins)) {
      lins.forEach((lin, i) => this.linearForward(outs[i]!, x, lin, rows, xm));
      return;
    }
    this.be.matmulPackedMany(outs, x, lins.w, rows, lins.ns, lins.lins[0]!.inFeatures, lins.biases);
    lins.lins.forEach((lin, i) => lin.adapter?.forward(outs[i]!, x, rows, this.inTrainingForward, this.replaying));
  }

  /**
   * dx (rows, inF) += (or = when accumulateDx is false), dW +=, db += (unless trainBase is false), from
   * dout (rows, outF); x as in forward. `xm`, `doutm`: what the products read (mmOperand; default x, dout).
   */
  linearBackward(dx: F32, dout: F32, x: F32, lin: Linear, rows: number, accumulateDx = true,
    xm: F32 | BF16 = x, doutm: F32 | BF16 = dout): void {
    const bf16 = lin.wBf16 !== null;
    if (this.trainBase) {
      this.be.matmul(lin.dw, doutm, xm, lin.outFeatures, lin.inFeatures, rows, { transA: true, accumulate: true, bf16 });
      if (lin.db) this.be.addBiasBackward(lin.db, dout, rows, lin.outFeatures);
    }
    this.be.matmul(dx, doutm, lin.wBf16 ?? lin.w, rows, lin.inFeatures, lin.outFeatures, { accumulate: accumulateDx, bf16 });
    if (lin.adapter) lin.adapter.backward(dx, dout, x, rows);
  }

  // ***** rotary tables *****

  /** Makes sure cos/sin rows exist for positions [0, n). */
  private ropeTable(n: number): void {
    if (n <= this.ropeLen) return;
    const half = this.cfg.headDim / 2;
    const len = Math.max(n, 2 * this.ropeLen, 256);
    const cos = new Float32Array(len * half), sin = new Float32Array(len * half);
    for (let p = 0; p < len; p++) {
      for (let i = 0; i < half; i++) {
        // As HF: angle = fp32(inv_freq · position), then cos/sin.
        const a = Math.fround(this.invFreq[i]! * p);
        cos[p * half + i] = Math.cos(a);
        sin[p * half + i] = Math.sin(a);
      }
    }
    this.ropeCos = cos;
    this.ropeSin = sin;
    this.ropeLen = len;
  }

  /** cos, sin (rows, D/2) for the given positions (rows). */
  private fillRope(cos: F32, sin: F32, positions: ArrayLike<number>, rows: number): void {
    let mx = 0;
    for (let r = 0; r < rows; r++) mx = Math.max(mx, positions[r]!);
    this.ropeTable(mx + 1);
    const half = this.cfg.headDim / 2;
    for (let r = 0; r < rows; r++) {
      const p = positions[r]!;
      cos.set(this.ropeCos.subarray(p * half, (p + 1) * half), r * half);
      sin.set(this.ropeSin.subarray(p * half, (p + 1) * half), r * half);
    }
    this.be.upload(cos.subarray(0, rows * half));
    this.be.upload(sin.subarray(0, rows * half));
  }

  // ***** the transformer body *****

  /**
   * Embedding + all layers over T tokens. a.resid(numLayers) receives the final residual (T, C).
   * `attend(l, la)` fills la.att (and la.lse) from la.q/k/v: packed causal attention, or a KV-cache read.
   */
  private bodyForward(a: Acts, tokens: Int32Array, T: number, attend: (l: number, la: LayerActs) => void): void {
    const c = this.cfg;
    for (let t = 0; t < T; t++) {
      const id = tokens[t]!;
      if (!(id >= 0 && id < c.vocabSize)) throw new Error(`token id ${id} at position ${t} is outside the vocabulary (${c.vocabSize})`);
    }
    this.embedForward(a.resid(0), tokens, T);
    for (let l = 0; l < c.numLayers; l++) this.layerForward(a, l, T, attend, a.resid(l + 1));
  }

  /**
   * Layer l over T tokens: from x = a.resid(l) into la = a.layers[l] and xOut (T, C). With xOut null (the
   * recompute of gradient checkpointing) it stops after what backward reads (gate, up): no swiglu, no down.
   */
  private layerForward(a: Acts, l: number, T: number, attend: (l: number, la: LayerActs) => void, xOut: F32 | null): void {
    const be = this.be, c = this.cfg, w = this.w;
    const C = c.hiddenSize, Hq = c.numHeads, Hkv = c.numKvHeads, D = c.headDim, eps = c.rmsNormEps;
    const la = a.layers[l]!, lw = w.layers[l]!, lin = this.linears[l]!;
    const x = a.resid(l);
    // attention block
    be.rmsnormForward(la.ln1, la.rstd1, x, lw.ln1, T, C, eps);
    const ln1m = this.mmOperand(la.ln1, 0), pg = this.inInference ? this.packedGroups?.[l] : undefined;
    this.linearsForward([la.qPre ?? la.q, la.kPre ?? la.k, la.v], la.ln1, pg?.qkv ?? [lin.q, lin.k, lin.v], T, ln1m);
    if (c.qkNorm) {
      be.rmsnormForward(la.q, la.qRstd!, la.qPre!, lw.qNorm!, T * Hq, D, eps);
      be.rmsnormForward(la.k, la.kRstd!, la.kPre!, lw.kNorm!, T * Hkv, D, eps);
    }
    be.rope(la.q, a.cos, a.sin, T, Hq, D, false);
    be.rope(la.k, a.cos, a.sin, T, Hkv, D, false);
    attend(l, la);
    this.linearForward(la.resid2, la.att, lin.o, T);
    be.add(la.resid2, la.resid2, x);
    // MLP block
    be.rmsnormForward(la.ln2, la.rstd2, la.resid2, lw.ln2, T, C, eps);
    const ln2m = this.mmOperand(la.ln2, 0);
    this.linearsForward([la.gate, la.up], la.ln2, pg?.gateUp ?? [lin.gate, lin.up], T, ln2m);
    if (!xOut) return;
    be.swigluForward(a.h, la.gate, la.up);
    this.linearForward(xOut, a.h, lin.down, T);
    be.add(xOut, xOut, la.resid2);
  }

  private workspace(kind: "train" | "infer", T: number): Acts {
    // no logits buffer without a vocabulary head
    const chunkRows = this.head.kind === "lm" ? Math.max(1, Math.floor(this.chunkFloats / this.cfg.vocabSize)) : 0;
    const cur = kind === "train" ? this.trainWs : this.inferWs;
    const checkpoint = kind === "train" && this.gradCheckpointing;
    if (!cur || cur.cap < T || cur.checkpoint !== checkpoint) {
      // grow by at least 1.5x so slowly growing batches do not reallocate every call
      const cap = Math.max(T, cur && cur.cap < T ? Math.ceil(cur.cap * 1.5) : cur?.cap ?? 0);
      const ws = new Workspace(this.cfg, cap, kind === "train", kind === "train", chunkRows, this.be, checkpoint);
      if (kind === "train") this.trainWs = ws;
      else this.inferWs = ws;
      return ws.bind(T);
    }
    return cur.bind(T);
  }

  // ***** training: forward / backward *****

  /**
   * Forward over packed sequences. tokens (T), cuSeqlens (S+1), targets (T): the token whose log-prob
   * is wanted at each position (usually the next token of the sequence; −1 = none, logp 0).
   * Returns views valid until the next forward: logp (T) = log p(target | prefix), entropy (T) of the
   * next-token distribution at every position (see ForwardOptions.onlyTargets).
   */
  forward(tokens: Int32Array, cuSeqlens: Int32Array, targets: Int32Array, opts: ForwardOptions = {}): { logp: F32; entropy: F32 } {
    const T = tokens.length;
    this.lmHead("forward");
    if (targets.length !== T) throw new Error(`targets has ${targets.length} entries, tokens ${T}`);
    for (let t = 0; t < T; t++) {
      const y = targets[t]!;
      if (y >= this.cfg.vocabSize) throw new Error(`target ${y} at position ${t} is outside the vocabulary (${this.cfg.vocabSize})`);
    }
    const a = this.trainingBodyForward(tokens, cuSeqlens);
    const C = this.cfg.hiddenSize;
    // the rows the vocabulary head runs on: all, or (onlyTargets) those with a target, gathered
    let head: HeadRows;
    if (opts.onlyTargets) {
      let R = 0;
      for (let t = 0; t < T; t++) if (targets[t]! >= 0) R++;
      const rows = new Int32Array(R), tg = new Int32Array(R);
      for (let t = 0, r = 0; t < T; t++) if (targets[t]! >= 0) { rows[r] = t; tg[r++] = targets[t]!; }
      if (R > 0) this.be.embeddingForward(a.lnFc, rows, a.lnF.subarray(0, T * C), R, C); // gather the head rows
      head = { rows, R, x: a.lnFc.subarray(0, R * C), logp: a.logpC.subarray(0, R), entropy: a.entC.subarray(0, R), targets: tg };
    } else {
      head = { rows: null, R: T, x: a.lnF, logp: a.logp, entropy: a.entropy, targets: targets.slice() };
    }
    const logitsKept = this.headForward(a, head);
    if (head.rows) {
      this.be.download(head.logp);
      this.be.download(head.entropy);
      a.logp.fill(0);
      a.entropy.fill(0);
      for (let r = 0; r < head.R; r++) { a.logp[head.rows[r]!] = head.logp[r]!; a.entropy[head.rows[r]!] = head.entropy[r]!; }
      this.be.upload(a.logp.subarray(0, T));
      this.be.upload(a.entropy.subarray(0, T));
    } else {
      this.be.download(a.logp.subarray(0, T)); // the sync point of a training forward: log-probs and entropies
      this.be.download(a.entropy.subarray(0, T));
    }
    this.saved = { T, tokens: tokens.slice(), cu: cuSeqlens.slice(), head, logitsKept };
    return { logp: a.logp, entropy: a.entropy };
  }

  /**
   * Training forward of the body: embedding, layers and the final RMSNorm over packed sequences. Returns
   * the training workspace, whose lnF (T, C) holds the final-norm output.
   */
  private trainingBodyForward(tokens: Int32Array, cuSeqlens: Int32Array): Acts {
    const T = tokens.length, c = this.cfg;
    checkPacked(cuSeqlens, T);
    this.syncBf16();
    const a = this.workspace("train", T);
    this.fillRope(a.cos, a.sin, packedPositions(cuSeqlens, T), T);
    const scale = 1 / Math.sqrt(c.headDim);
    this.inTrainingForward = true;
    try {
      this.bodyForward(a, tokens, T, (_l, la) => {
        this.be.attentionForward(la.att, la.lse, la.q, la.k, la.v, cuSeqlens, T, c.numHeads, c.numKvHeads, c.headDim, scale);
      });
    } finally {
      this.inTrainingForward = false;
    }
    this.be.rmsnormForward(a.lnF, a.rstdF, a.resid(c.numLayers), this.w.normF, T, c.hiddenSize, c.rmsNormEps);
    return a;
  }

  /**
   * Forward over packed sequences without any head: returns the final RMSNorm output (T, C), a view
   * valid until the next forward, for a head of the caller's own (the value model's score). Follow it
   * with backwardHidden. Works with either head.
   */
  forwardHidden(tokens: Int32Array, cuSeqlens: Int32Array): F32 {
    const T = tokens.length;
    const a = this.trainingBodyForward(tokens, cuSeqlens);
    this.saved = { T, tokens: tokens.slice(), cu: cuSeqlens.slice(), head: null, logitsKept: false };
    return a.lnF.subarray(0, T * this.cfg.hiddenSize); // on a device backend: device-resident (download it to read it)
  }

  /**
   * Backward from dhidden (T, C) = dL/d(final-norm output) of the last forward (forwardHidden, or
   * forward): the final RMSNorm, the layers and the embedding. ADDS into `grads` (unless trainBase is
   * false: then only adapters get theirs), as backward does.
   */
  backwardHidden(dhidden: F32): void {
    const s = this.saved;
    if (!s) throw new Error("backwardHidden() needs a forwardHidden() first");
    if (dhidden.length !== s.T * this.cfg.hiddenSize) throw new Error(`dhidden must have ${s.T}·${this.cfg.hiddenSize} entries, got ${dhidden.length}`);
    this.saved = null;
    this.bodyBackward(dhidden, s.T, s.tokens, s.cu);
  }

  /** Vocabulary head over the head rows, in chunks → logp, entropy, lseV (per head row). Returns whether the logits are kept whole. */
  private headForward(a: Acts, h: HeadRows): boolean {
    const be = this.be, C = this.cfg.hiddenSize, V = this.cfg.vocabSize, R = h.R;
    const rows = Math.max(1, Math.floor(this.chunkFloats / V));
    for (let r0 = 0; r0 < R; r0 += rows) {
      const n = Math.min(rows, R - r0);
      const logits = a.logits.subarray(0, n * V); // (n, V)
      be.matmul(logits, h.x.subarray(r0 * C, (r0 + n) * C), this.headBf16 ?? this.lmHead("forward"), n, V, C,
        { transB: true, bf16: this.headBf16 !== null });
      be.logprobsForward(h.logp.subarray(r0, r0 + n), h.entropy.subarray(r0, r0 + n), a.lseV.subarray(r0, r0 + n),
        logits, h.targets.subarray(r0, r0 + n), n, V);
    }
    return rows >= R;
  }

  /**
   * Backward from dlogp (T) = dL/dlogp and dentropy (T) = dL/dentropy (either may be null = zero), for
   * the batch of the last forward. ADDS into `grads` (call zeroGrad() once per step).
   * Go in the reverse order of the forward pass.
   */
  backward(dlogp: F32 | null, dentropy: F32 | null): void {
    const s = this.saved;
    if (!s) throw new Error("backward() needs a forward() first");
    if (!s.head) throw new Error("backward() after forwardHidden(): use backwardHidden()");
    const T = s.T;
    if ((dlogp && dlogp.length !== T) || (dentropy && dentropy.length !== T)) throw new Error(`dlogp/dentropy must have ${T} entries`);
    this.saved = null; // the logits buffer is overwritten below: one backward per forward
    const c = this.cfg, be = this.be;
    const C = c.hiddenSize, V = c.vocabSize;
    const head = this.lmHead("backward");
    const gHead = this.trainBase ? this.baseGrads().head! : null; // (V, C), none for a frozen base
    this.syncBf16();
    const a = this.trainWs!.bind(T);
    const dlnF = a.dlnF!, h = s.head;
    const bf16 = this.headBf16 !== null;

    // vocabulary head over the head rows, chunk by chunk; chunks with no gradient are skipped
    const R = h.R;
    const gather = (d: F32 | null): F32 | null => (d && h.rows ? Float32Array.from(h.rows, (t) => d[t]!) : d);
    const dlR = gather(dlogp), deR = gather(dentropy); // (R)
    const dX = h.rows ? a.dlnFc!.subarray(0, R * C) : dlnF; // (R, C)
    this.be.zero(dX);
    const rows = Math.max(1, Math.floor(this.chunkFloats / V));
    for (let r0 = 0; r0 < R; r0 += rows) {
      const n = Math.min(rows, R - r0);
      const dl = dlR?.subarray(r0, r0 + n) ?? null, de = deR?.subarray(r0, r0 + n) ?? null;
      if (!anyNonZero(dl) && !anyNonZero(de)) continue;
      const x = h.x.subarray(r0 * C, (r0 + n) * C); // (n, C)
      const logits = a.logits.subarray(0, n * V); // (n, V), becomes dlogits in place
      if (!s.logitsKept) be.matmul(logits, x, this.headBf16 ?? head, n, V, C, { transB: true, bf16 });
      be.logprobsBackward(logits, logits, a.lseV.subarray(r0, r0 + n), h.entropy.subarray(r0, r0 + n), dl, de,
        h.targets.subarray(r0, r0 + n), n, V);
      const dlm = gHead ? this.mmOperand(logits, 1) : logits; // dlogits feeds two products
      if (gHead) be.matmul(gHead, dlm, x, V, C, n, { transA: true, accumulate: true, bf16 }); // (V, C) += dlogitsᵀ · x
      be.matmul(dX.subarray(r0 * C, (r0 + n) * C), dlm, this.headBf16 ?? head, n, C, V, { accumulate: true, bf16 });
    }
    if (h.rows) {
      this.be.zero(dlnF.subarray(0, T * C));
      if (R > 0) this.be.embeddingBackward(dlnF.subarray(0, T * C), dX, h.rows, R, C); // scatter (rows are distinct)
    }
    this.bodyBackward(dlnF.subarray(0, T * C), T, s.tokens, s.cu);
  }

  /**
   * The backward shared by every head: from dlnF (T, C) = dL/d(final-norm output) through the final
   * RMSNorm, the layers (reverse order) and the embedding, for the batch of the last training forward
   * (its activations are still in the training workspace). ADDS into `grads`.
   */
  private bodyBackward(dlnF: F32, T: number, tokens: Int32Array, cu: Int32Array): void {
    const c = this.cfg, be = this.be;
    const C = c.hiddenSize, Hq = c.numHeads, Hkv = c.numKvHeads, D = c.headDim;
    const g = this.trainBase ? this.baseGrads() : null, w = this.w;
    this.syncBf16();
    const ws = this.trainWs!, a = ws.bind(T);
    const dresid = a.dresid!, dln = a.dln!;
    // RMSNorm weight gradients go to a throwaway buffer when the base model is frozen (no gradient arena then)
    const junk = g ? null : new Float32Array(Math.max(C, D));
    const ng = (pick: (v: LayerViews) => F32 | null, l: number, n: number): F32 => (g ? pick(g.layers[l]!)! : junk!.subarray(0, n));
    be.zero(dresid);
    be.rmsnormBackward(dresid, g ? g.normF : junk!.subarray(0, C), dlnF, a.resid(c.numLayers), w.normF, a.rstdF, T, C);

    const scale = 1 / Math.sqrt(D);
    const dh = a.dh!, dgate = a.dgate!, dup = a.dup!, datt = a.datt!, dq = a.dq!, dk = a.dk!, dv = a.dv!;
    for (let l = c.numLayers - 1; l >= 0; l--) {
      const la = a.layers[l]!, lw = w.layers[l]!, lin = this.linears[l]!;
      if (ws.checkpoint && l < c.numLayers - 1) {
        // recompute this layer's activations from its saved input (the same kernels on the same input);
        // the shared set still holds the last layer's from the forward
        this.inTrainingForward = true;
        this.replaying = true;
        try {
          this.layerForward(a, l, T, (_l, lx) => be.attentionForward(lx.att, lx.lse, lx.q, lx.k, lx.v, cu, T, Hq, Hkv, D, scale), null);
        } finally {
          this.inTrainingForward = false;
          this.replaying = false;
        }
      }
      // MLP block: x_{l+1} = resid2 + down(silu(gate(ln2)) * up(ln2)); dresid holds dL/dx_{l+1}
      be.swigluForward(a.h, la.gate, la.up); // recompute h
      // first writer of dh: overwrite, no zeroing
      this.linearBackward(dh, dresid, a.h, lin.down, T, false, a.h, this.mmOperand(dresid, 1));
      be.swigluBackward(dgate, dup, dh, la.gate, la.up);
      const ln2m = this.trainBase ? this.mmOperand(la.ln2, 0) : la.ln2; // read only by dW
      this.linearBackward(dln, dgate, la.ln2, lin.gate, T, false, ln2m, this.mmOperand(dgate, 1));
      this.linearBackward(dln, dup, la.ln2, lin.up, T, true, ln2m, this.mmOperand(dup, 1));
      be.rmsnormBackward(dresid, ng((v) => v.ln2, l, C), dln, la.resid2, lw.ln2, la.rstd2, T, C); // dresid: dL/dresid2
      // attention block: resid2 = x_l + o(attention(rope(norm(q)), rope(norm(k)), v))
      this.linearBackward(datt, dresid, la.att, lin.o, T, false, la.att, this.mmOperand(dresid, 1));
      be.zero(dq);
      be.zero(dk);
      be.zero(dv);
      be.attentionBackward(dq, dk, dv, datt, la.att, la.lse, la.q, la.k, la.v, cu, T, Hq, Hkv, D, scale);
      be.rope(dq, a.cos, a.sin, T, Hq, D, true);
      be.rope(dk, a.cos, a.sin, T, Hkv, D, true);
      let dqIn = dq, dkIn = dk;
      if (c.qkNorm) {
        dqIn = a.dqPre!;
        dkIn = a.dkPre!;
        be.zero(dqIn);
        be.zero(dkIn);
        be.rmsnormBackward(dqIn, ng((v) => v.qNorm, l, D), dq, la.qPre!, lw.qNorm!, la.qRstd!, T * Hq, D);
        be.rmsnormBackward(dkIn, ng((v) => v.kNorm, l, D), dk, la.kPre!, lw.kNorm!, la.kRstd!, T * Hkv, D);
      }
      const ln1m = this.trainBase ? this.mmOperand(la.ln1, 0) : la.ln1;
      this.linearBackward(dln, dqIn, la.ln1, lin.q, T, false, ln1m, this.mmOperand(dqIn, 1));
      this.linearBackward(dln, dkIn, la.ln1, lin.k, T, true, ln1m, this.mmOperand(dkIn, 1));
      this.linearBackward(dln, dv, la.ln1, lin.v, T, true, ln1m, this.mmOperand(dv, 1));
      be.rmsnormBackward(dresid, ng((v) => v.ln1, l, C), dln, a.resid(l), lw.ln1, la.rstd1, T, C); // dresid: dL/dx_l
    }
    if (g) be.embeddingBackward(g.embed, dresid, tokens, T, C);
  }

  /**
   * Cross-entropy over the targets ≥ 0 of the last forward's logp: loss = −mean(logp[targets ≥ 0]);
   * dlogp = −1/N at those positions (feed it to backward). N = 0 gives loss 0, dlogp 0.
   */
  static crossEntropy(logp: F32, targets: Int32Array): { loss: number; dlogp: F32 } {
    let n = 0, sum = 0;
    for (let t = 0; t < targets.length; t++) if (targets[t]! >= 0) { n++; sum += logp[t]!; }
    const dlogp = new Float32Array(targets.length);
    if (n > 0) for (let t = 0; t < targets.length; t++) if (targets[t]! >= 0) dlogp[t] = -1 / n;
    return { loss: n > 0 ? -sum / n : 0, dlogp };
  }

  /** forward + cross-entropy + backward (grads +=). Returns the mean loss. */
  crossEntropyStep(tokens: Int32Array, cuSeqlens: Int32Array, targets: Int32Array): number {
    const { logp } = this.forward(tokens, cuSeqlens, targets, { onlyTargets: true });
    const { loss, dlogp } = Model.crossEntropy(logp, targets);
    this.backward(dlogp, null);
    return loss;
  }

  // ***** inference: KV cache *****

  createKVCache(slots: number, maxLen: number): KVCache {
    const n = slots * maxLen * this.cfg.numKvHeads * this.cfg.headDim;
    const dtype = this.kvCache;
    // plain arrays, not allocLarge: a cache is made per run and touched a row at a time, and on the
    // development VM a 2 MiB page's first touch cost ~3.9 ms (its 512 host pages at once) — a 16 × 16-token
    // prefill's cache writes 19 → 186 ms — against ~9 µs a 4 KiB page, paid only for the rows written
    const mk = (): F32 | BF16 => (dtype === "bf16" ? new Uint16Array(n) : new Float32Array(n));
    return {
      dtype,
      k: Array.from({ length: this.cfg.numLayers }, () => this.onDevice(mk())),
      v: Array.from({ length: this.cfg.numLayers }, () => this.onDevice(mk())),
      lens: new Int32Array(slots),
      slots,
      maxLen,
    };
  }

  /**
   * Prompt tokens of S sequences, packed (tokens, cuSeqlens (S+1)); writes their k/v into cache slots[s]
   * from position 0 (sets lens). Returns the logits of each sequence's last token, (S, V): a view of `out`
   * (at least S·V floats, overwritten) when given, else a new array.
   */
  prefill(cache: KVCache, slots: Int32Array, tokens: Int32Array, cuSeqlens: Int32Array, out?: Float32Array): Float32Array {
    this.lmHead("prefill");
    const S = cuSeqlens.length - 1;
    if (slots.length !== S) throw new Error(`prefill: ${slots.length} slots for ${S} sequences`);
    const KD = this.cfg.numKvHeads * this.cfg.headDim;
    for (let s = 0; s < S; s++) {
      const slot = slots[s]!, len = cuSeqlens[s + 1]! - cuSeqlens[s]!;
      if (!(slot >= 0 && slot < cache.slots)) throw new Error(`prefill: slot ${slot} out of range (${cache.slots} slots)`);
      if (len > cache.maxLen) throw new Error(`prefill: sequence of ${len} tokens exceeds the cache length ${cache.maxLen}`);
    }
    const T = tokens.length;
    const at = new Int32Array(T); // cache offset of each prompt token's k/v row
    for (let s = 0; s < S; s++) {
      for (let t = cuSeqlens[s]!; t < cuSeqlens[s + 1]!; t++) at[t] = (slots[s]! * cache.maxLen + t - cuSeqlens[s]!) * KD;
    }
    const logits = this.packedLastLogits(tokens, cuSeqlens, (l, la) => {
      this.writeKvRows(cache, l, la, at, KD);
    }, out);
    for (let s = 0; s < S; s++) cache.lens[slots[s]!] = cuSeqlens[s + 1]! - cuSeqlens[s]!;
    return logits;
  }

  /** Full recompute without a cache (the oracle): logits of the last position of each packed sequence, (S, V). */
  lastLogits(tokens: Int32Array, cuSeqlens: Int32Array): Float32Array {
    return this.packedLastLogits(tokens, cuSeqlens, null);
  }

  private packedLastLogits(tokens: Int32Array, cu: Int32Array, onKv: ((l: number, la: LayerActs) => void) | null,
    into?: Float32Array): Float32Array {
    this.lmHead("lastLogits");
    const T = tokens.length;
    checkPacked(cu, T);
    const c = this.cfg;
    const a = this.workspace("infer", T);
    this.fillRope(a.cos, a.sin, packedPositions(cu, T), T);
    const scale = 1 / Math.sqrt(c.headDim);
    this.inferenceBody(a, tokens, T, (l, la) => {
      if (onKv) onKv(l, la);
      this.be.attentionForward(la.att, la.lse, la.q, la.k, la.v, cu, T, c.numHeads, c.numKvHeads, c.headDim, scale);
    });
    const S = cu.length - 1;
    const rows = new Int32Array(S);
    for (let s = 0; s < S; s++) rows[s] = cu[s + 1]! - 1;
    return this.rowsLogits(a, rows, into);
  }

  /** bodyForward for inference: the weights of the inference precision (packed bf16 or as in training). */
  private inferenceBody(a: Acts, tokens: Int32Array, T: number, attend: (l: number, la: LayerActs) => void): void {
    this.syncBf16();
    this.syncPacked();
    this.inInference = true;
    try {
      this.bodyForward(a, tokens, T, attend);
    } finally {
      this.inInference = false;
    }
  }

  /** Final norm + head for the given rows of the final residual → (rows, V): a view of `into` when given, else a new array. */
  private rowsLogits(a: Acts, rows: Int32Array, into?: Float32Array): Float32Array {
    const c = this.cfg, C = c.hiddenSize, n = rows.length;
    if (this.rowsScratch.length < n * (2 * C + 1)) {
      this.rowsScratch = new Float32Array(n * (2 * C + 1)); // kept on a device backend's device: only the logits come back
      this.be.keepOnDevice(this.rowsScratch);
    }
    const x = this.rowsScratch.subarray(0, n * C), xn = this.rowsScratch.subarray(n * C, 2 * n * C);
    const rstd = this.rowsScratch.subarray(2 * n * C, n * (2 * C + 1));
    const fin = a.resid(c.numLayers);
    this.be.embeddingForward(x, rows, fin, n, C); // gather the rows
    this.be.rmsnormForward(xn, rstd, x, this.w.normF, n, C, c.rmsNormEps);
    if (into && into.length < n * c.vocabSize) throw new Error(`logits buffer of ${into.length} floats for ${n} × ${c.vocabSize}`);
    // a reused buffer: fresh (B, V) arrays every decoding step cost page faults (a third of a 64-row step)
    const out = into ? into.subarray(0, n * c.vocabSize) : new Float32Array(n * c.vocabSize);
    if (this.headPacked) this.be.matmulPacked(out, xn, this.headPacked, n, c.vocabSize, C);
    else this.be.matmul(out, xn, this.headBf16 ?? this.lmHead("logits"), n, c.vocabSize, C, { transB: true, bf16: this.headBf16 !== null });
    return out;
  }

  /**
   * One new token per listed slot (tokens (B), slots (B), distinct), at position lens[slot]; appends
   * k/v, increments lens. Returns the logits (B, V): a view of `out` (at least B·V floats, overwritten)
   * when given, else a new array.
   */
  decode(cache: KVCache, slots: Int32Array, tokens: Int32Array, out?: Float32Array): Float32Array {
    const B = tokens.length, c = this.cfg;
    this.lmHead("decode");
    if (slots.length !== B) throw new Error(`decode: ${slots.length} slots for ${B} tokens`);
    const pos = new Int32Array(B);
    const seen = new Set<number>();
    for (let b = 0; b < B; b++) {
      const slot = slots[b]!;
      if (!(slot >= 0 && slot < cache.slots)) throw new Error(`decode: slot ${slot} out of range (${cache.slots} slots)`);
      if (seen.has(slot)) throw new Error(`decode: slot ${slot} listed twice`);
      seen.add(slot);
      pos[b] = cache.lens[slot]!;
      if (pos[b]! >= cache.maxLen) throw new Error(`decode: slot ${slot} is full (${cache.maxLen} positions)`);
    }
    const a = this.workspace("infer", B);
    this.fillRope(a.cos, a.sin, pos, B);
    const KD = c.numKvHeads * c.headDim, scale = 1 / Math.sqrt(c.headDim);
    const lensAfter = new Int32Array(B);
    for (let b = 0; b < B; b++) lensAfter[b] = pos[b]! + 1;
    const at = Int32Array.from(pos, (p, b) => (slots[b]! * cache.maxLen + p) * KD); // cache offset of each new k/v row
    this.inferenceBody(a, tokens, B, (l, la) => {
      this.writeKvRows(cache, l, la, at, KD);
      this.be.attentionDecode(la.att, la.q, cache.k[l]!, cache.v[l]!, slots, lensAfter, B, cache.maxLen, c.numHeads, c.numKvHeads, c.headDim, scale);
    });
    for (let b = 0; b < B; b++) cache.lens[slots[b]!] = lensAfter[b]!;
    const rows = new Int32Array(B);
    for (let b = 0; b < B; b++) rows[b] = b;
    return this.rowsLogits(a, rows, out);
  }

  /**
   * Layer l's new keys and values (the first at.length rows of KD in la.k / la.v) into the cache at element
   * offsets `at`: in a bf16 cache the rows are rounded in one call each for k and v, then placed in one call.
   */
  private writeKvRows(cache: KVCache, l: number, la: { k: F32; v: F32 }, at: Int32Array, KD: number): void {
    const n = at.length * KD, kc = cache.k[l]!, vc = cache.v[l]!;
    const [ks, vs] = kc instanceof Uint16Array ? this.kvRowsBf16(la.k.subarray(0, n), la.v.subarray(0, n)) : [la.k, la.v];
    this.be.copyRows(kc, ks.subarray(0, n), KD, at);
    this.be.copyRows(vc, vs.subarray(0, n), KD, at);
  }

  /** k and v (B·KD each) rounded to bf16 in scratch (kept on a device backend's device), valid until the next call. */
  private kvRowsBf16(k: F32, v: F32): [BF16, BF16] {
    if (this.kvScratch.length < 2 * k.length) {
      this.kvScratch = new Uint16Array(2 * k.length);
      this.be.keepOnDevice(this.kvScratch);
    }
    const ks = this.kvScratch.subarray(0, k.length), vs = this.kvScratch.subarray(k.length, 2 * k.length);
    this.be.toBf16(ks, k);
    this.be.toBf16(vs, v);
    return [ks, vs];
  }

  /** x, kept on the backend's device (KV caches). */
  private onDevice<X extends F32 | BF16>(x: X): X {
    this.be.keepOnDevice(x);
    return x;
  }

  /** Copies slot `from`'s filled positions into slot `to` (prefix sharing). */
  copySlot(cache: KVCache, from: number, to: number): void {
    if (from === to) return;
    const KD = this.cfg.numKvHeads * this.cfg.headDim, len = cache.lens[from]!;
    const src = from * cache.maxLen * KD, dst = to * cache.maxLen * KD;
    for (let l = 0; l < this.cfg.numLayers; l++) {
      this.be.copy(cache.k[l]!.subarray(dst, dst + len * KD), cache.k[l]!.subarray(src, src + len * KD));
      this.be.copy(cache.v[l]!.subarray(dst, dst + len * KD), cache.v[l]!.subarray(src, src + len * KD));
    }
    cache.lens[to] = len;
  }
}

/** Rotary inverse frequencies (D/2), with Llama-3 scaling when configured (as HF's `_compute_llama3_parameters`). */
export function ropeInvFreq(cfg: ModelConfig): Float64Array {
  const half = cfg.headDim / 2;
  const f = new Float64Array(half);
  for (let i = 0; i < half; i++) f[i] = 1 / Math.pow(cfg.ropeTheta, (2 * i) / cfg.headDim);
  const rs = cfg.ropeScaling;
  if (rs) {
    const old = rs.originalMaxPositionEmbeddings;
    const lowWl = old / rs.lowFreqFactor, highWl = old / rs.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wl = (2 * Math.PI) / f[i]!;
      if (wl > lowWl) f[i] = f[i]! / rs.factor;
      else if (wl >= highWl) {
        const smooth = (old / wl - rs.lowFreqFactor) / (rs.highFreqFactor - rs.lowFreqFactor);
        f[i] = (1 - smooth) * f[i]! / rs.factor + smooth * f[i]!;
      }
    }
  }
  for (let i = 0; i < half; i++) f[i] = Math.fround(f[i]!); // HF keeps inv_freq in fp32
  return f;
}

/** The rows of the batch the vocabulary head runs on (all, or only those with a target). */
interface HeadRows {
  rows: Int32Array | null; // (R) batch row of each head row; null = all rows in order
  R: number;
  x: F32; // (R, C) final-norm output of those rows
  logp: F32; // (R)
  entropy: F32; // (R)
  targets: Int32Array; // (R)
}

export interface ForwardOptions {
  /**
   * Run the vocabulary head only at positions with a target ≥ 0; logp and entropy are 0 elsewhere and
   * backward ignores dlogp/dentropy there. Saves the head's cost (V·C per token, a quarter of a 0.5B
   * model's compute) on prompt tokens in RL. Default false: entropy at every position.
   */
  onlyTargets?: boolean;
}

function checkPacked(cu: Int32Array, T: number): void {
  if (cu.length < 2 || cu[0] !== 0 || cu[cu.length - 1] !== T) {
    throw new Error(`cuSeqlens must start at 0 and end at T = ${T}, got [${Array.from(cu.subarray(0, 8)).join(", ")}${cu.length > 8 ? ", …" : ""}]`);
  }
  for (let s = 0; s + 1 < cu.length; s++) {
    if (cu[s + 1]! <= cu[s]!) throw new Error(`cuSeqlens must be strictly increasing (sequence ${s} is empty or negative)`);
  }
}

/** Position of each packed token inside its own sequence (T). */
function packedPositions(cu: Int32Array, T: number): Int32Array {
  const pos = new Int32Array(T);
  for (let s = 0; s + 1 < cu.length; s++) for (let t = cu[s]!; t < cu[s + 1]!; t++) pos[t] = t - cu[s]!;
  return pos;
}

function anyNonZero(x: F32 | null): boolean {
  if (!x) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== 0) return true;
  return false;
}
