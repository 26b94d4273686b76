/**
 * LoRA adapters (Hu et al. 2021), PEFT-compatible: on a linear y = x·Wᵀ + b the adapter adds
 *     scale · (dropout(x) · Aᵀ) · Bᵀ,   A: (r, in), B: (out, r),   scale = alpha / r  (rsLoRA: alpha / √r)
 * attached through the model's linear hook (Linear.adapter, see model.ts). The base stays frozen when the
 * caller sets model.trainBase = false; backward then adds into the adapters' own gradient arena only.
 *
 * All adapter tensors live in ONE arena over a table, like the model's parameters (./params.ts), under
 * PEFT's tensor names (`base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`), so AdamW and
 * gradient clipping work on them unchanged. Saving and loading PEFT's folder format (adapter_config.json +
 * adapter_model.safetensors) is src/formats/peft.ts.
 *
 * Dropout (on the adapter's input, as PEFT) is active only in training forwards while `training` is set. Its mask is a pure
 * function of (seed, forward-call counter, layer, element) — regenerated in backward rather than stored.
 *
 * Pinned against PyTorch (scripts/make_hf_fixtures.py lora) in test/model/lora.test.ts.
 */
import { UserError } from "../errors.js";
import type { Backend, F32 } from "../kernels/backend.js";
import { mulberry32 } from "../util/rng.js";
import type { Linear, LinearAdapter, Model } from "./model.js";
import { Arena, type ParamSpec, type ParamTable } from "./params.js";

export type LoraTarget = "q" | "k" | "v" | "o" | "gate" | "up" | "down";

/** Our short names → the HF module names PEFT's target_modules use. */
export const LORA_MODULES: Record<LoraTarget, string> = {
  q: "q_proj", k: "k_proj", v: "v_proj", o: "o_proj", gate: "gate_proj", up: "up_proj", down: "down_proj",
};
export const ALL_TARGETS = Object.keys(LORA_MODULES) as LoraTarget[];

export interface LoraConfig {
  /** r: the adapter's inner width. */
  rank: number;
  /** lora_alpha: scale = alpha / rank (PEFT's convention; alpha = 2·rank is common). */
  alpha: number;
  /** Dropout probability on the adapter input while training (PEFT's lora_dropout). */
  dropout: number;
  targets: LoraTarget[];
  /** rsLoRA scaling alpha / √rank (PEFT's use_rslora). Default false. */
  useRslora?: boolean;
}

export const PEFT_PREFIX = "base_model.model.";

/** PEFT's tensor names for the adapter on a linear (HF module name, e.g. model.layers.0.self_attn.q_proj). */
export function peftNames(moduleName: string): { a: string; b: string } {
  return { a: `${PEFT_PREFIX}${moduleName}.lora_A.weight`, b: `${PEFT_PREFIX}${moduleName}.lora_B.weight` };
}

function targetOf(lin: Linear): LoraTarget | null {
  const leaf = lin.name.split(".").pop() ?? "";
  for (const t of ALL_TARGETS) if (LORA_MODULES[t] === leaf) return t;
  return null;
}

/** A 32-bit hash of (key, i) → uniform [0, 1): the dropout mask without storing it. */
function hashUniform(key: number, i: number): number {
  let h = Math.imul(key ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(i + 0x632be5ab, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

class LoraLinear implements LinearAdapter {
  private scratchU: F32 = new Float32Array(0);
  private scratchX: F32 = new Float32Array(0);
  /** Whether the last forward dropped, and its key (backward regenerates the same mask). */
  private lastDrop = false;
  private lastKey = -1;

  constructor(
    private readonly set: LoraSet,
    readonly lin: Linear,
    readonly index: number,
    readonly a: F32, // (r, in)
    readonly b: F32, // (out, r)
  ) {}

  private grow(rows: number, drop: boolean): void {
    const r = this.set.cfg.rank;
    if (this.scratchU.length < rows * r) this.scratchU = new Float32Array(rows * r);
    if (drop && this.scratchX.length < rows * this.lin.inFeatures) this.scratchX = new Float32Array(rows * this.lin.inFeatures);
  }

  /** x with dropout applied (a scratch copy), or x itself when dropout is off. */
  private dropped(x: F32, rows: number, drop: boolean, key: number): F32 {
    if (!drop) return x;
    const n = rows * this.lin.inFeatures, p = this.set.cfg.dropout, keep = 1 / (1 - p);
    const xd = this.scratchX.subarray(0, n);
    for (let i = 0; i < n; i++) xd[i] = hashUniform(key, i) < p ? 0 : x[i]! * keep;
    return xd;
  }

  forward(out: F32, x: F32, rows: number, training: boolean): void {
    if (!this.set.enabled) return;
    const r = this.set.cfg.rank, be = this.set.be, inF = this.lin.inFeatures, outF = this.lin.outFeatures;
    const drop = training && this.set.dropoutActive;
    this.grow(rows, drop);
    const key = drop ? this.set.nextKey(this.index) : -1;
    this.lastDrop = drop;
    this.lastKey = key;
    const xd = this.dropped(x.subarray(0, rows * inF), rows, drop, key);
    const u = this.scratchU.subarray(0, rows * r);
    be.matmul(u, xd, this.a, rows, r, inF, { transB: true }); // u (rows, r) = xd · Aᵀ
    be.scale(u, this.set.scale);
    be.matmul(out, u, this.b, rows, outF, r, { transB: true, accumulate: true }); // out += u · Bᵀ
  }

  backward(dx: F32, dout: F32, x: F32, rows: number): void {
    if (!this.set.enabled) return;
    const r = this.set.cfg.rank, be = this.set.be, inF = this.lin.inFeatures, outF = this.lin.outFeatures;
    const s = this.set.scale, drop = this.lastDrop;
    const g = this.set.gradViews(this.index);
    this.grow(rows, drop);
    const xd = this.dropped(x.subarray(0, rows * inF), rows, drop, this.lastKey);
    const u = this.scratchU.subarray(0, rows * r);
    be.matmul(u, xd, this.a, rows, r, inF, { transB: true }); // recompute u = xd · Aᵀ (unscaled)
    be.scale(u, s);
    be.matmul(g.b, dout, u, outF, r, rows, { transA: true, accumulate: true }); // dB += doutᵀ · (s·u)
    be.matmul(u, dout, this.b, rows, r, outF); // du (rows, r) = dout · B
    be.scale(u, s);
    be.matmul(g.a, u, xd, r, inF, rows, { transA: true, accumulate: true }); // dA += (s·du)ᵀ · xd
    if (!drop) {
      be.matmul(dx, u, this.a, rows, inF, r, { accumulate: true }); // dx += s·du · A
      return;
    }
    const dxd = this.scratchX.subarray(0, rows * inF); // reuse: d(xd), then through the mask
    be.matmul(dxd, u, this.a, rows, inF, r);
    const p = this.set.cfg.dropout, keep = 1 / (1 - p);
    for (let i = 0; i < rows * inF; i++) if (hashUniform(this.lastKey, i) >= p) dx[i]! += dxd[i]! * keep;
  }
}

/** The adapters of one model: config, parameter arena (PEFT names), gradients, attach/detach, merge. */
export class LoraSet {
  readonly cfg: Required<LoraConfig>;
  readonly table: ParamTable;
  readonly params: Arena;
  readonly scale: number;
  readonly be: Backend;
  /** Adapters add their term only while enabled (disable = the base model, e.g. the KL reference). */
  enabled = true;
  /**
   * Dropout applies only while this is true AND the model runs a training forward (Model.forward; never
   * lastLogits / prefill / decode). Default false, so that scoring through Model.forward never drops:
   * a trainer sets it.
   */
  training = false;
  private gradArena: Arena | null = null;
  private readonly adapters: LoraLinear[] = [];
  /**
   * Training forwards run so far: the dropout masks are a function of (seed, dropoutStep). Saved in
   * checkpoints with the other RNG state; setting it back replays the same masks.
   */
  dropoutStep = 0;
  private readonly seed: number;

  constructor(readonly model: Model, cfg: LoraConfig, opts: { seed?: number } = {}) {
    if (!Number.isInteger(cfg.rank) || cfg.rank <= 0) throw new UserError(`LoRA rank must be a positive integer, got ${cfg.rank}`);
    if (!(cfg.alpha > 0)) throw new UserError(`LoRA alpha must be positive, got ${cfg.alpha}`);
    if (!(cfg.dropout >= 0 && cfg.dropout < 1)) throw new UserError(`LoRA dropout must be in [0, 1), got ${cfg.dropout}`);
    if (cfg.targets.length === 0) throw new UserError("LoRA needs at least one target module");
    for (const t of cfg.targets) {
      if (!ALL_TARGETS.includes(t)) throw new UserError(`unknown LoRA target "${t}"; targets: ${ALL_TARGETS.join(", ")}`);
    }
    // targets in the canonical order (q, k, v, o, gate, up, down), whatever order the config listed them in
    this.cfg = { useRslora: false, ...cfg, targets: ALL_TARGETS.filter((t) => cfg.targets.includes(t)) };
    this.scale = this.cfg.useRslora ? cfg.alpha / Math.sqrt(cfg.rank) : cfg.alpha / cfg.rank;
    this.be = model.be;
    this.seed = (opts.seed ?? 0) >>> 0;
    const lins = model.allLinears().filter((l) => {
      const t = targetOf(l);
      return t !== null && this.cfg.targets.includes(t);
    });
    const specs: ParamSpec[] = [];
    let offset = 0;
    const add = (name: string, shape: number[]): void => {
      const size = shape[0]! * shape[1]!;
      specs.push({ name, shape, kind: "matrix", offset, size, decay: true });
      offset += Math.ceil(size / 16) * 16;
    };
    for (const l of lins) {
      const n = peftNames(l.name);
      add(n.a, [cfg.rank, l.inFeatures]);
      add(n.b, [l.outFeatures, cfg.rank]);
    }
    this.table = { specs, byName: new Map(specs.map((s) => [s.name, s])), size: offset };
    this.params = new Arena(this.table);
    lins.forEach((l, i) => {
      const n = peftNames(l.name);
      this.adapters.push(new LoraLinear(this, l, i, this.params.view(n.a), this.params.view(n.b)));
    });
  }

  get dropoutActive(): boolean {
    return this.training && this.cfg.dropout > 0;
  }

  /** A fresh dropout key per (training forward, adapter). */
  nextKey(index: number): number {
    if (index === 0) this.dropoutStep++;
    return (Math.imul(this.seed ^ 0x5bd1e995, 2654435761) + Math.imul(this.dropoutStep, 40503) + index * 97) | 0;
  }

  get grads(): Arena {
    this.gradArena ??= new Arena(this.table);
    return this.gradArena;
  }

  gradViews(i: number): { a: F32; b: F32 } {
    const n = peftNames(this.adapters[i]!.lin.name);
    return { a: this.grads.view(n.a), b: this.grads.view(n.b) };
  }

  zeroGrad(): void {
    this.grads.zero();
  }

  /** Module names carrying an adapter. */
  modules(): string[] {
    return this.adapters.map((a) => a.lin.name);
  }

  /** PEFT's init: A ~ kaiming_uniform(a=√5) = U(−1/√in, 1/√in), B = 0 (the adapter starts as a no-op). */
  init(seed: number): void {
    const u = mulberry32(seed);
    for (const ad of this.adapters) {
      const bound = 1 / Math.sqrt(ad.lin.inFeatures);
      for (let i = 0; i < ad.a.length; i++) ad.a[i] = (2 * u() - 1) * bound;
      ad.b.fill(0);
    }
  }

  /** Hooks the adapters into the model's linears (and makes backward skip the frozen base). */
  attach(opts: { freezeBase?: boolean } = {}): void {
    for (const ad of this.adapters) {
      if (ad.lin.adapter !== null && ad.lin.adapter !== ad) throw new Error(`${ad.lin.name} already has an adapter`);
      this.model.linear(ad.lin.name).adapter = ad;
    }
    if (opts.freezeBase ?? true) this.model.trainBase = false;
  }

  detach(): void {
    for (const ad of this.adapters) {
      const lin = this.model.linear(ad.lin.name);
      if (lin.adapter === ad) lin.adapter = null;
    }
    this.model.trainBase = true;
  }

  /** W += scale · B · A in the base weights, then detach: the merged model needs no adapter. */
  merge(): void {
    this.model.params.pull();
    for (const ad of this.adapters) {
      const lin = this.model.linear(ad.lin.name);
      const delta = new Float32Array(lin.outFeatures * lin.inFeatures);
      this.be.matmul(delta, ad.b, ad.a, lin.outFeatures, lin.inFeatures, this.cfg.rank); // (out, r)·(r, in)
      for (let i = 0; i < delta.length; i++) lin.w[i]! += this.scale * delta[i]!;
    }
    this.model.params.markChanged();
    this.detach();
  }
}
