/**
 * Optimization over parameter arenas: global-norm gradient clipping, AdamW, and the learning-rate
 * schedule (linear warmup, then cosine decay to a minimum ratio, or constant).
 *
 * AdamW matches torch.optim.AdamW (decoupled weight decay, bias-corrected moments). Weight decay is
 * applied only to tensors with ≥ 2 dimensions (embeddings, projection matrices), never to RMSNorm
 * weights or biases — the usual GPT/Llama practice (nanoGPT's `configure_optimizers`), since decaying a
 * norm gain toward 0 or a bias toward 0 has no regularizing meaning. The per-tensor flag is
 * `ParamSpec.decay` in ./params.ts.
 */
import type { Backend, F32 } from "../kernels/backend.js";
import { getBackend } from "../kernels/index.js";
import { Arena, Params } from "./params.js";

export interface AdamWConfig {
  /** β1: torch's default 0.9. */
  beta1: number;
  /** β2: torch's default is 0.999; 0.95 is common for LLM training (Llama, nanoGPT) and for RL fine-tuning. */
  beta2: number;
  /** ε added to sqrt(v̂): torch's default 1e-8. */
  eps: number;
  /** Decoupled weight decay on matrices/embeddings: torch's default 0.01; 0.0 is common for RL fine-tuning. */
  weightDecay: number;
}

export const ADAMW_DEFAULTS: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

/** The exported state: the step count, and torch's state-dict names `exp_avg.<param>` / `exp_avg_sq.<param>`. */
export interface AdamWState {
  step: number;
  tensors: Map<string, F32>;
}

export class AdamW {
  readonly cfg: AdamWConfig;
  readonly params: Arena;
  readonly grads: Arena;
  /** First and second moments, arenas over the same table. */
  readonly m: Arena;
  readonly v: Arena;
  /** Steps taken so far (torch's `state["step"]`). */
  step = 0;
  private readonly be: Backend;

  constructor(params: Arena, grads: Arena, cfg: Partial<AdamWConfig> = {}, be: Backend = getBackend()) {
    if (params.table !== grads.table) throw new Error("AdamW: params and grads must share one table");
    this.cfg = { ...ADAMW_DEFAULTS, ...cfg };
    this.params = params;
    this.grads = grads;
    this.be = be;
    this.m = new Arena(params.table);
    this.v = new Arena(params.table);
    // the moments live where the parameters live (device backends: no host round trip per step)
    if (params.deviceBackend) {
      this.m.onDevice(params.deviceBackend);
      this.v.onDevice(params.deviceBackend);
    }
  }

  /** One AdamW step over every tensor at learning rate lr. Bumps params.version (bf16 copies refresh). */
  update(lr: number): void {
    this.step++;
    const c = this.cfg;
    for (const s of this.params.table.specs) {
      this.be.adamw(this.params.view(s.name), this.grads.view(s.name), this.m.view(s.name), this.v.view(s.name),
        lr, c.beta1, c.beta2, c.eps, s.decay ? c.weightDecay : 0, this.step);
    }
    if (this.params instanceof Params) this.params.markChanged("device");
  }

  exportState(): AdamWState {
    this.m.pull();
    this.v.pull();
    const tensors = new Map<string, F32>();
    for (const s of this.params.table.specs) {
      tensors.set(`exp_avg.${s.name}`, this.m.view(s.name));
      tensors.set(`exp_avg_sq.${s.name}`, this.v.view(s.name));
    }
    return { step: this.step, tensors };
  }

  /** Restores a state from exportState (copies). Throws naming the tensor that is missing or mis-sized. */
  importState(state: AdamWState): void {
    if (!Number.isInteger(state.step) || state.step < 0) throw new Error(`optimizer state: bad step ${state.step}`);
    for (const s of this.params.table.specs) {
      for (const [prefix, arena] of [["exp_avg", this.m], ["exp_avg_sq", this.v]] as const) {
        const t = state.tensors.get(`${prefix}.${s.name}`);
        if (!t) throw new Error(`optimizer state: missing tensor '${prefix}.${s.name}'`);
        if (t.length !== s.size) throw new Error(`optimizer state: '${prefix}.${s.name}' has ${t.length} values, expected ${s.size}`);
        arena.view(s.name).set(t);
      }
    }
    this.m.push();
    this.v.push();
    this.step = state.step;
  }
}

/**
 * Global-norm clipping (torch.nn.utils.clip_grad_norm_): norm = sqrt(Σ g²) over all tensors; if
 * norm > maxNorm, every gradient is scaled by maxNorm / (norm + 1e-6). Returns the norm before
 * clipping. A non-finite norm is returned as is and nothing is scaled (the caller should skip the step).
 */
export function clipGradNorm(grads: Arena, maxNorm: number, be: Backend = getBackend()): number {
  return clipGradNorms([grads], maxNorm, be);
}

/** clipGradNorm over several arenas as one parameter set (one global norm; e.g. LoRA adapters + a head). */
export function clipGradNorms(grads: readonly Arena[], maxNorm: number, be: Backend = getBackend()): number {
  let sq = 0;
  for (const g of grads) sq += (g.deviceBackend ?? be).sumSquares(g.data);
  const norm = Math.sqrt(sq);
  if (!Number.isFinite(norm)) return norm;
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (const g of grads) (g.deviceBackend ?? be).scale(g.data, coef);
  return norm;
}

export interface LrSchedule {
  /** Peak learning rate. */
  lr: number;
  /** Linear warmup from lr/warmupSteps to lr over the first warmupSteps steps (0 = none). */
  warmupSteps: number;
  /** Total steps (the cosine reaches its minimum here). */
  totalSteps: number;
  /** After warmup: "cosine" decays to lr·minLrRatio at totalSteps; "constant" stays at lr. */
  decay: "cosine" | "constant";
  /** Floor of the cosine as a fraction of lr (0.1 is the common choice for pretraining, 0 for fine-tuning). */
  minLrRatio: number;
}

/** Learning rate for step `step` (1-based: the step about to be taken). */
export function lrAt(step: number, s: LrSchedule): number {
  if (s.warmupSteps > 0 && step <= s.warmupSteps) return (s.lr * step) / s.warmupSteps;
  if (s.decay === "constant") return s.lr;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, Math.max(0, (step - s.warmupSteps) / span));
  return s.lr * (s.minLrRatio + (1 - s.minLrRatio) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}
