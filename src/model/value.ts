/**
 * The value model (PPO's critic): the policy's transformer body with a scalar head on the final RMSNorm
 * output instead of the vocabulary head, as transformers' `<Family>ForTokenClassification` with one label:
 *
 *     value_t = score · lnF_t (+ b)          score (1, C), lnF_t the final-norm output at position t
 *     dscore += Σ_t dv_t · lnF_t,   db += Σ_t dv_t,   dlnF_t = dv_t · score  → Model.backwardHidden
 *
 * The vocabulary head is never run (no logits, no lm_head tensor). The head's product is fp32 in both
 * precisions (it is C flops per token); the body follows the model's precision ("bf16": bf16 matmuls).
 *
 * One arena: the body's tensors (HF names, no lm_head) and `score.weight` (1, C) [+ `score.bias` (1)]
 * share one parameter table (./params.ts, head "value"), so AdamW over `params`/`grads` steps the body
 * and the head together and exports torch-like names (`exp_avg.score.weight`), clipGradNorm sees every
 * gradient, and the HF folder saver/loader (src/formats/hf.ts) handles the head like any tensor.
 *
 * Init (fromBase): the body is a copy of the base model's weights (Open-Reasoner-Zero starts its critic
 * from the same base as the policy); the head is N(0, σ²) with σ = 1/(C+1) from a seed, as ORZ's
 * critic does (orz/ppo/models.py, taken from OpenRLHF: `value_head = nn.Linear(hidden, 1, bias=False)`,
 * `value_head.weight.normal_(0, 1 / (hidden_size + 1))` when the critic starts from the pretrained base).
 * Other choices, as options: any σ (verl's critic is `AutoModelForTokenClassification` from the base,
 * whose missing `score` gets transformers' init N(0, initializer_range²) = 0.02 and a zero bias), or
 * zeros (values start at exactly 0, but then the body receives no gradient until the head has moved).
 * No bias by default (ORZ / OpenRLHF); `bias: true` gives transformers' TokenClassification default.
 *
 * LoRA: attach adapters to `model` (LoraSet) and set `model.trainBase = false`; the head still gets its
 * gradient (`trainHead`, as PEFT's token-classification task keeps `score` fully trainable), and
 * `scoreArenas()` gives the head's params/grads as an arena of their own for a second AdamW.
 */
import type { Backend, F32 } from "../kernels/backend.js";
import type { ModelConfig, ModelHead } from "./config.js";
import { Model, type Precision } from "./model.js";
import { Arena, normalFill, type Params, type ParamSpec, type ParamTable } from "./params.js";

export interface ValueModelOptions {
  precision?: Precision;
  backend?: Backend;
  /** A bias on the head (`score.bias`): transformers' TokenClassification default; ORZ's critic has none. Default false. */
  bias?: boolean;
}

/** How fromBase initialises the head (the bias, if any, starts at 0). */
export interface ValueHeadInit {
  /** "normal" (default): N(0, std²); "zeros". */
  init?: "normal" | "zeros";
  /** Default 1 / (hidden_size + 1), ORZ's / OpenRLHF's value-head init. */
  std?: number;
  /** Seed of the normal draws (default 0). */
  seed?: number;
}

export class ValueModel {
  /** The body (and the head's tensors, in the same arena); its head kind is "value". */
  readonly model: Model;
  readonly cfg: ModelConfig;
  /** When false, backward leaves the head's gradients untouched. Independent of model.trainBase. */
  trainHead = true;
  private valuesBuf: F32 = new Float32Array(0);
  private dlnFBuf: F32 = new Float32Array(0);
  /** The last forward's final-norm output (a view into the model's workspace) and T. */
  private saved: { lnF: F32; T: number } | null = null;

  constructor(cfg: ModelConfig, opts: ValueModelOptions = {}) {
    this.cfg = cfg;
    this.model = new Model(cfg, {
      head: { kind: "value", bias: opts.bias ?? false },
      ...(opts.precision !== undefined ? { precision: opts.precision } : {}),
      ...(opts.backend !== undefined ? { backend: opts.backend } : {}),
    });
  }

  /**
   * A value model whose body is a copy of `base`'s weights (same config; the base's lm_head, if any, is
   * not taken) and whose head is initialised per `init` (default: N(0, (1/(C+1))²), seed 0).
   * Precision and backend default to the base's.
   */
  static fromBase(base: Model, opts: ValueModelOptions & ValueHeadInit = {}): ValueModel {
    const vm = new ValueModel(base.cfg, { precision: opts.precision ?? base.precision, backend: opts.backend ?? base.be, bias: opts.bias ?? false });
    base.params.pull();
    for (const s of vm.table.specs) {
      if (s.name.startsWith("score.")) continue;
      vm.params.view(s.name).set(base.params.view(s.name));
    }
    vm.initHead(opts);
    return vm;
  }

  get table(): ParamTable {
    return this.model.table;
  }

  /** Body and head parameters (one arena). Call params.markChanged() after writing into it. */
  get params(): Params {
    return this.model.params;
  }

  /** Their gradients (one arena, same table). */
  get grads(): Arena {
    return this.model.grads;
  }

  get head(): ModelHead {
    return this.model.head;
  }

  get precision(): Precision {
    return this.model.precision;
  }

  set precision(p: Precision) {
    this.model.precision = p;
  }

  zeroGrad(): void {
    this.model.zeroGrad();
  }

  /** Sets the head: score.weight per `init`, score.bias (if any) 0. Bumps params.version. */
  initHead(init: ValueHeadInit = {}): void {
    const w = this.params.view("score.weight");
    if ((init.init ?? "normal") === "zeros") w.fill(0);
    else normalFill(w, init.std ?? 1 / (this.cfg.hiddenSize + 1), init.seed ?? 0);
    if (this.params.has("score.bias")) this.params.view("score.bias").fill(0);
    this.params.markChanged();
  }

  /**
   * Values over packed sequences: tokens (T), cuSeqlens (S+1) as Model.forward. Returns values (T), the
   * value at every position, a view valid until the next forward.
   */
  forward(tokens: Int32Array, cuSeqlens: Int32Array): F32 {
    const T = tokens.length, C = this.cfg.hiddenSize;
    const lnF = this.model.forwardHidden(tokens, cuSeqlens); // (T, C)
    if (this.valuesBuf.length < T) this.valuesBuf = new Float32Array(Math.max(T, Math.ceil(this.valuesBuf.length * 1.5)));
    const values = this.valuesBuf.subarray(0, T);
    this.model.be.matmul(values, lnF, this.params.view("score.weight"), T, 1, C, { transB: true }); // (T, 1) = lnF · scoreᵀ
    if (this.params.has("score.bias")) this.model.be.addBias(values, this.params.view("score.bias"), T, 1);
    this.saved = { lnF, T };
    return values;
  }

  /**
   * Backward from dvalues (T) = dL/dvalue of the last forward: the head's gradients (unless trainHead is
   * false), then the body's (Model.backwardHidden). ADDS into `grads` (zeroGrad() once per step).
   */
  backward(dvalues: F32): void {
    const s = this.saved;
    if (!s) throw new Error("ValueModel.backward() needs a forward() first");
    if (dvalues.length !== s.T) throw new Error(`dvalues must have ${s.T} entries, got ${dvalues.length}`);
    this.saved = null;
    const T = s.T, C = this.cfg.hiddenSize, be = this.model.be, g = this.grads;
    if (this.trainHead) {
      be.matmul(g.view("score.weight"), dvalues, s.lnF, 1, C, T, { transA: true, accumulate: true }); // (1, C) += dvᵀ · lnF
      if (g.has("score.bias")) be.addBiasBackward(g.view("score.bias"), dvalues, T, 1);
    }
    if (this.dlnFBuf.length < T * C) this.dlnFBuf = new Float32Array(Math.max(T * C, Math.ceil(this.dlnFBuf.length * 1.5)));
    const dlnF = this.dlnFBuf.subarray(0, T * C);
    be.matmul(dlnF, dvalues, this.params.view("score.weight"), T, C, 1); // (T, C) = dv (T, 1) · score (1, C)
    this.model.backwardHidden(dlnF);
  }

  /**
   * The head's tensors as arenas of their own (sharing memory with params / grads): for an optimizer of
   * the head alone, next to the LoRA adapters' (their state names are still `exp_avg.score.weight`).
   */
  scoreArenas(): { params: Arena; grads: Arena } {
    const specs = this.table.specs.filter((s) => s.name.startsWith("score."));
    const base = specs[0]!.offset, size = this.table.size - base;
    const rebased: ParamSpec[] = specs.map((s) => ({ ...s, offset: s.offset - base }));
    const table: ParamTable = { specs: rebased, byName: new Map(rebased.map((s) => [s.name, s])), size };
    const params = new Arena(table, this.params.data.subarray(base, base + size));
    const grads = new Arena(table, this.grads.data.subarray(base, base + size));
    const dev = this.params.deviceBackend;
    return dev ? { params: params.onDevice(dev), grads: grads.onDevice(dev) } : { params, grads };
  }
}
