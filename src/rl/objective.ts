/**
 * The one policy objective (REFERENCE.md), with its switches. Every "algorithm" of the GRPO family is
 * a setting of these switches (src/rl/presets.ts).
 *
 * Per token t of response i (all tokens concatenated; `offsets` marks the responses):
 *   ρ        = exp(logp − logp_old)                     (ratio "token")
 *            = exp(mean_{t∈i, masked}(logp − logp_old))  (ratio "sequence", GSPO: one ratio per response)
 *   s_t      = min(ρ·Â_t, clip(ρ, 1−ε_low, 1+ε_high)·Â_t), and for Â_t < 0 with dual clip c: max(s_t, c·Â_t)
 *   k        = exp(logp_old − logp_engine)                (π_train/π_infer at the rollout's weights; log clamped to ±20)
 *   w_is     = min(k, C)                                  (truncated importance sampling, `tisCap`)
 *            = k if α ≤ k ≤ β else 0                      (IcePop's mask M(k), `icepop`: Ring-1T, "Every Step Evolves", 2025)
 *            = 1                                          (both off)
 *   ℓ_t      = −w_is·s_t + β·KL_t [KL in the loss] − c_ent·H_t
 *   loss     = Σ_t a_t·ℓ_t, a_t the aggregation weight (0 for masked-out tokens):
 *     token-mean 1/ΣT · seq-mean-token-mean 1/(S·|o_i|) · seq-mean-token-sum 1/S · seq-mean-token-sum-norm 1/(S·L_max)
 * w_is is a constant (no gradient flows through it). An IcePop-masked token keeps its place in the
 * aggregation's denominators (IcePop's 1/|y_i| counts every token) but adds 0 to the loss and gradient.
 * The loss is minimised (it is −J). The log-ratio and KL's x are clamped to ±20 (verl); where a clamp
 * is active the gradient through it is 0. Derivatives are exact for this definition (checked against
 * finite differences in test/rl/objective.test.ts); in sequence mode with a per-response constant
 * advantage they equal GSPO's token-level form.
 *
 * Micro-batches: pass `denominators` (tokens and responses of the whole mini-batch) so that the
 * micro-batches' losses and gradients add up to the mini-batch's.
 */

export type RatioLevel = "token" | "sequence";
export type LossAggregation = "token-mean" | "seq-mean-token-mean" | "seq-mean-token-sum" | "seq-mean-token-sum-norm";
export type KlEstimator = "k1" | "k2" | "k3";
export type KlPlacement = "loss" | "reward";

export const RATIO_LEVELS: readonly RatioLevel[] = ["token", "sequence"];
export const LOSS_AGGREGATIONS: readonly LossAggregation[] = ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm"];
export const KL_ESTIMATORS: readonly KlEstimator[] = ["k1", "k2", "k3"];
export const KL_PLACEMENTS: readonly KlPlacement[] = ["loss", "reward"];
export type TisMode = "truncate" | "icepop";
export const TIS_MODES: readonly TisMode[] = ["truncate", "icepop"];

export interface ObjectiveSettings {
  ratioLevel: RatioLevel;
  clipLow: number;
  clipHigh: number;
  /** Dual clip c (> 1) or null for none. */
  dualClip: number | null;
  aggregation: LossAggregation;
  /** L_max, the constant divisor of seq-mean-token-sum-norm. */
  maxLength: number;
  klEstimator: KlEstimator;
  /** β; 0 = no KL (no reference model needed). */
  klCoef: number;
  klPlacement: KlPlacement;
  /** Entropy bonus coefficient; 0 = none. */
  entropyCoef: number;
  /** Truncated importance-sampling cap C, or null when the sampler's log-probs are the trainer's. */
  tisCap: number | null;
  /** IcePop's bounds [α, β] (instead of tisCap, which must then be null); null or absent = off. */
  icepop?: { low: number; high: number } | null;
}

export interface ObjectiveInput {
  logp: ArrayLike<number>; // (T) log π_θ of each sampled token
  logpOld: ArrayLike<number>; // (T) log π_old, recomputed on the trainer's forward pass
  logpRef?: ArrayLike<number>; // (T) log π_ref; needed when klCoef ≠ 0 with KL in the loss
  logpEngine?: ArrayLike<number>; // (T) the sampler's log-probs; needed when tisCap or icepop is set
  entropy?: ArrayLike<number>; // (T) H of the policy at each position; needed when entropyCoef ≠ 0
  advantages: ArrayLike<number>; // (T)
  mask: ArrayLike<number>; // (T) 1 = token trained, 0 = ignored
  offsets: ArrayLike<number>; // (S+1) response i is tokens [offsets[i], offsets[i+1])
  denominators?: { tokens: number; sequences: number };
}

export interface ObjectiveStats {
  tokens: number; // masked tokens in this input
  policyLoss: number; // Σ a_t·(−w_is·s_t)
  klLoss: number; // Σ a_t·β·KL_t (0 when KL is not in the loss)
  entropyLoss: number; // Σ a_t·(−c_ent·H_t)
  klMean: number; // mean KL_t over masked tokens (NaN without logpRef)
  entropyMean: number; // mean H_t over masked tokens (NaN without entropy)
  clipLowFrac: number; // Â<0 and ρ<1−ε_low (TRL's is_low_clipped)
  clipHighFrac: number; // Â>0 and ρ>1+ε_high
  dualClipFrac: number; // Â<0 and the dual bound c·Â active
  ratioMean: number;
  ratioMin: number;
  ratioMax: number;
  tisMean: number; // mean applied weight w_is (1 when off; IcePop's masked tokens count as 0)
  tisRatioMean: number; // mean k = exp(logp_old − logp_engine) before truncation or masking (NaN when off)
  tisTruncatedFrac: number; // tokens with k > C (truncate; 0 otherwise)
  tisMaskedFrac: number; // tokens with k outside [α, β] (icepop; 0 otherwise)
}

export interface ObjectiveOutput {
  loss: number;
  dLogp: Float64Array; // (T) ∂loss/∂logp
  dEntropy: Float64Array | null; // (T) ∂loss/∂H when entropyCoef ≠ 0
  stats: ObjectiveStats;
}

const CLAMP = 20;
const clampX = (x: number): [number, boolean] => (x > CLAMP ? [CLAMP, true] : x < -CLAMP ? [-CLAMP, true] : [x, false]);

// ***** KL estimators: value and ∂/∂logp, with x = logp_ref − logp (clamped) *****

export const KL: Record<KlEstimator, (x: number) => { value: number; dLogp: number }> = {
  k1: (x) => ({ value: -x, dLogp: 1 }), // logp − logp_ref
  k2: (x) => ({ value: 0.5 * x * x, dLogp: -x }), // ½(logp − logp_ref)²
  k3: (x) => ({ value: Math.exp(x) - x - 1, dLogp: 1 - Math.exp(x) }), // exp(x) − x − 1
};

/** KL_t per token (for KL in the reward and for the stats). */
export function klPerToken(estimator: KlEstimator, logp: ArrayLike<number>, logpRef: ArrayLike<number>): Float64Array {
  const out = new Float64Array(logp.length);
  for (let t = 0; t < logp.length; t++) out[t] = KL[estimator](clampX(logpRef[t]! - logp[t]!)[0]).value;
  return out;
}

// ***** the clipped surrogate for one token: s and ∂s/∂ρ *****

export interface Surrogate {
  value: number;
  dRatio: number;
  low: boolean;
  high: boolean;
  dual: boolean;
}

export function clippedSurrogate(ratio: number, adv: number, clipLow: number, clipHigh: number, dualClip: number | null): Surrogate {
  const clipped = Math.min(Math.max(ratio, 1 - clipLow), 1 + clipHigh);
  const un = ratio * adv;
  const cl = clipped * adv;
  let value = un <= cl ? un : cl;
  let dRatio = un <= cl ? adv : 0;
  let dual = false;
  if (dualClip !== null && adv < 0 && value < dualClip * adv) {
    value = dualClip * adv;
    dRatio = 0;
    dual = true;
  }
  return { value, dRatio, low: adv < 0 && ratio < 1 - clipLow, high: adv > 0 && ratio > 1 + clipHigh, dual };
}

// ***** aggregation weights a_t *****

interface Counts {
  tokens: number; // masked tokens
  sequences: number; // responses with ≥ 1 masked token
}

type Aggregate = (seqTokens: number, counts: Counts, maxLength: number) => number;

export const AGGREGATIONS: Record<LossAggregation, Aggregate> = {
  "token-mean": (_n, c) => 1 / c.tokens,
  "seq-mean-token-mean": (n, c) => 1 / (c.sequences * n),
  "seq-mean-token-sum": (_n, c) => 1 / c.sequences,
  "seq-mean-token-sum-norm": (_n, c, L) => 1 / (c.sequences * L),
};

// ***** ratios: per token, and the chain rule from ∂loss/∂ρ_t to ∂loss/∂logp *****

interface RatioLevelImpl {
  /** ρ per token and whether its log-ratio clamp is active. */
  ratios(input: ObjectiveInput): { ratio: Float64Array; clamped: Uint8Array };
  /** Adds ∂loss/∂logp given g_t = ∂loss/∂ρ_t (ρ_t treated as a separate variable per token). */
  chain(g: Float64Array, ratio: Float64Array, clamped: Uint8Array, input: ObjectiveInput, dLogp: Float64Array): void;
}

export const RATIOS: Record<RatioLevel, RatioLevelImpl> = {
  token: {
    ratios(input) {
      const T = input.logp.length;
      const ratio = new Float64Array(T);
      const clamped = new Uint8Array(T);
      for (let t = 0; t < T; t++) {
        const [x, c] = clampX(input.logp[t]! - input.logpOld[t]!);
        ratio[t] = Math.exp(x);
        clamped[t] = c ? 1 : 0;
      }
      return { ratio, clamped };
    },
    chain(g, ratio, clamped, _input, dLogp) {
      for (let t = 0; t < g.length; t++) if (!clamped[t]) dLogp[t]! += g[t]! * ratio[t]!;
    },
  },
  sequence: {
    ratios(input) {
      const T = input.logp.length;
      const ratio = new Float64Array(T);
      const clamped = new Uint8Array(T);
      forEachSequence(input, (lo, hi, n) => {
        let s = 0;
        for (let t = lo; t < hi; t++) if (input.mask[t]) s += input.logp[t]! - input.logpOld[t]!;
        const [x, c] = clampX(n > 0 ? s / n : 0);
        ratio.fill(Math.exp(x), lo, hi);
        clamped.fill(c ? 1 : 0, lo, hi);
      });
      return { ratio, clamped };
    },
    chain(g, ratio, clamped, input, dLogp) {
      // ρ_i = exp(mean_t(logp − logp_old)) → ∂ρ_i/∂logp_t = ρ_i/n_i for each masked t of response i.
      forEachSequence(input, (lo, hi, n) => {
        if (n === 0 || clamped[lo]) return;
        let gs = 0;
        for (let t = lo; t < hi; t++) gs += g[t]!;
        const d = (gs * ratio[lo]!) / n;
        for (let t = lo; t < hi; t++) if (input.mask[t]) dLogp[t]! += d;
      });
    },
  },
};

function forEachSequence(input: ObjectiveInput, fn: (lo: number, hi: number, maskedTokens: number) => void): void {
  const { offsets, mask } = input;
  for (let i = 0; i + 1 < offsets.length; i++) {
    const lo = offsets[i]!;
    const hi = offsets[i + 1]!;
    let n = 0;
    for (let t = lo; t < hi; t++) if (mask[t]) n++;
    fn(lo, hi, n);
  }
}

function validate(s: ObjectiveSettings, input: ObjectiveInput): void {
  const T = input.logp.length;
  const check = (name: string, a: ArrayLike<number> | undefined, need: boolean): void => {
    if (need && !a) throw new RangeError(`objective: ${name} is required with these settings`);
    if (a && a.length !== T) throw new RangeError(`objective: ${name}.length (${a.length}) != logp.length (${T})`);
  };
  check("logpOld", input.logpOld, true);
  check("advantages", input.advantages, true);
  check("mask", input.mask, true);
  check("logpRef", input.logpRef, s.klCoef !== 0 && s.klPlacement === "loss");
  check("logpEngine", input.logpEngine, tisOn(s));
  if (s.icepop) {
    if (s.tisCap !== null) throw new RangeError("objective: tisCap and icepop are two importance-sampling modes; set one");
    if (!(s.icepop.low >= 0 && s.icepop.low <= s.icepop.high)) throw new RangeError(`objective: icepop needs 0 ≤ low ≤ high (got [${s.icepop.low}, ${s.icepop.high}])`);
  }
  check("entropy", input.entropy, s.entropyCoef !== 0);
  const o = input.offsets;
  if (o.length < 1 || o[0] !== 0 || o[o.length - 1] !== T) throw new RangeError(`objective: offsets must run from 0 to ${T}`);
  for (let i = 1; i < o.length; i++) if (o[i]! < o[i - 1]!) throw new RangeError("objective: offsets must be non-decreasing");
}

/** Whether the settings weight tokens by the sampler's log-probs (truncation or IcePop). */
export const tisOn = (s: Pick<ObjectiveSettings, "tisCap" | "icepop">): boolean => s.tisCap !== null || !!s.icepop;

/** The importance weight w_is from k, and whether k was truncated or masked. */
function importanceWeight(s: ObjectiveSettings, k: number): { w: number; truncated: boolean; masked: boolean } {
  if (s.icepop) return k >= s.icepop.low && k <= s.icepop.high ? { w: k, truncated: false, masked: false } : { w: 0, truncated: false, masked: true };
  if (s.tisCap !== null) return k > s.tisCap ? { w: s.tisCap, truncated: true, masked: false } : { w: k, truncated: false, masked: false };
  return { w: 1, truncated: false, masked: false };
}

/** The loss, its gradient with respect to each token's log-prob (and entropy), and the step's stats. */
export function policyObjective(s: ObjectiveSettings, input: ObjectiveInput): ObjectiveOutput {
  validate(s, input);
  const T = input.logp.length;
  const { mask, advantages } = input;

  // Aggregation weights.
  const local: Counts = { tokens: 0, sequences: 0 };
  forEachSequence(input, (_lo, _hi, n) => {
    local.tokens += n;
    if (n > 0) local.sequences++;
  });
  const counts = input.denominators ?? local;
  const weight = new Float64Array(T);
  forEachSequence(input, (lo, hi, n) => {
    if (n === 0) return;
    const a = AGGREGATIONS[s.aggregation](n, counts, s.maxLength);
    for (let t = lo; t < hi; t++) if (mask[t]) weight[t] = a;
  });

  const { ratio, clamped } = RATIOS[s.ratioLevel].ratios(input);
  const dLogp = new Float64Array(T);
  const dRatio = new Float64Array(T);
  const dEntropy = s.entropyCoef !== 0 ? new Float64Array(T) : null;
  let policyLoss = 0;
  let klLoss = 0;
  let entropyLoss = 0;
  let klSum = 0;
  let entSum = 0;
  let low = 0;
  let high = 0;
  let dual = 0;
  let rSum = 0;
  let rMin = Infinity;
  let rMax = -Infinity;
  let tisSum = 0;
  let kSum = 0;
  let truncated = 0;
  let maskedIs = 0;
  const tis = tisOn(s);
  const klInLoss = s.klCoef !== 0 && s.klPlacement === "loss";

  for (let t = 0; t < T; t++) {
    if (!mask[t]) continue;
    const a = weight[t]!;
    const r = ratio[t]!;
    let w = 1;
    if (tis) {
      const k = Math.exp(clampX(input.logpOld[t]! - input.logpEngine![t]!)[0]);
      const iw = importanceWeight(s, k);
      w = iw.w;
      kSum += k;
      if (iw.truncated) truncated++;
      if (iw.masked) maskedIs++;
    }
    const sur = clippedSurrogate(r, advantages[t]!, s.clipLow, s.clipHigh, s.dualClip);
    if (w !== 0) {
      policyLoss += -a * w * sur.value;
      dRatio[t] = -a * w * sur.dRatio;
    }
    if (input.logpRef) {
      const [x, c] = clampX(input.logpRef[t]! - input.logp[t]!);
      const k = KL[s.klEstimator](x);
      klSum += k.value;
      if (klInLoss) {
        klLoss += a * s.klCoef * k.value;
        if (!c) dLogp[t]! += a * s.klCoef * k.dLogp;
      }
    }
    if (input.entropy) {
      entSum += input.entropy[t]!;
      if (dEntropy) {
        entropyLoss += -a * s.entropyCoef * input.entropy[t]!;
        dEntropy[t] = -a * s.entropyCoef;
      }
    }
    if (sur.low) low++;
    if (sur.high) high++;
    if (sur.dual) dual++;
    rSum += r;
    rMin = Math.min(rMin, r);
    rMax = Math.max(rMax, r);
    tisSum += w;
  }
  RATIOS[s.ratioLevel].chain(dRatio, ratio, clamped, input, dLogp);

  const n = local.tokens;
  const frac = (x: number): number => (n > 0 ? x / n : 0);
  return {
    loss: policyLoss + klLoss + entropyLoss,
    dLogp,
    dEntropy,
    stats: {
      tokens: n,
      policyLoss,
      klLoss,
      entropyLoss,
      klMean: input.logpRef && n > 0 ? klSum / n : Number.NaN,
      entropyMean: input.entropy && n > 0 ? entSum / n : Number.NaN,
      clipLowFrac: frac(low),
      clipHighFrac: frac(high),
      dualClipFrac: frac(dual),
      ratioMean: n > 0 ? rSum / n : Number.NaN,
      ratioMin: n > 0 ? rMin : Number.NaN,
      ratioMax: n > 0 ? rMax : Number.NaN,
      tisMean: n > 0 ? tisSum / n : Number.NaN,
      tisRatioMean: tis && n > 0 ? kSum / n : Number.NaN,
      tisTruncatedFrac: frac(truncated),
      tisMaskedFrac: frac(maskedIs),
    },
  };
}
