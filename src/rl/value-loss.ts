/**
 * PPO's clipped value loss (REFERENCE.md "PPO with a critic"; verl `compute_value_loss`, OpenRLHF /
 * Open-Reasoner-Zero `ValueLoss`). Per token t with the value head's prediction V, the rollout's value
 * V_old and the GAE return R:
 *   V_clip = clip(V, V_old − ε_v, V_old + ε_v)
 *   ℓ_t    = ½·max((V − R)², (V_clip − R)²)        (ε_v = none: ½(V − R)²)
 *   loss   = Σ_t a_t·ℓ_t, a_t the objective's aggregation weight (objective.ts: token-mean 1/ΣT,
 *            seq-mean-token-mean 1/(S·|o_i|), seq-mean-token-sum 1/S, seq-mean-token-sum-norm 1/(S·L_max);
 *            0 for masked-out tokens). verl aggregates the critic with the actor's mode (token-mean).
 * ∂loss/∂V_t = a_t·(V − R) where the unclipped term is the larger (or V is inside the clip range, where
 * the two are equal), a_t·(V_clip − R) where the clipped term is larger and V is inside the range (never:
 * then they are equal), and 0 where the clipped term is larger with V outside the range — the clip cuts
 * the gradient, as in PPO. Clip fraction: tokens where the clipped term is strictly larger (verl's
 * vf_clipfrac). The mask is the loss mask: pass GaeOutput.valid (times any other mask) so unscorable
 * responses stay out. `denominators` as in the objective, so micro-batches add up to the mini-batch.
 */
import { AGGREGATIONS, type LossAggregation } from "./objective.js";
import { explainedVariance, maskedSummary } from "./gae.js";

export interface ValueLossSettings {
  /** ε_v, the clip range of the new values around the old ones; null = no clipping. */
  clip: number | null;
  aggregation: LossAggregation;
  /** L_max for seq-mean-token-sum-norm. */
  maxLength: number;
}

export interface ValueLossInput {
  values: ArrayLike<number>; // (T) V from the value head being trained
  valuesOld: ArrayLike<number>; // (T) V_old, the values of the rollout (GAE's input)
  returns: ArrayLike<number>; // (T) R, GAE's returns
  mask: ArrayLike<number>; // (T) 1 = token in the loss
  offsets: ArrayLike<number>; // (S+1) response i is tokens [offsets[i], offsets[i+1])
  denominators?: { tokens: number; sequences: number };
}

export interface ValueLossStats {
  tokens: number; // masked tokens in this input
  loss: number; // the aggregated loss (= output.loss)
  clipFrac: number; // share of masked tokens where the clipped term is the larger
  explainedVariance: number; // 1 − Var(R − V)/Var(R) over masked tokens, V the head's values; NaN if Var(R) = 0
  valueMean: number; // mean V over masked tokens (NaN when none)
  returnMean: number; // mean R over masked tokens (NaN when none)
}

export interface ValueLossOutput {
  loss: number;
  /** (T) ∂loss/∂V, for the backward pass through the value head. */
  dValues: Float64Array;
  stats: ValueLossStats;
}

function validate(s: ValueLossSettings, input: ValueLossInput): void {
  const T = input.values.length;
  for (const [name, a] of [["valuesOld", input.valuesOld], ["returns", input.returns], ["mask", input.mask]] as const) {
    if (a.length !== T) throw new RangeError(`value loss: ${name}.length (${a.length}) != values.length (${T})`);
  }
  if (s.clip !== null && !(s.clip >= 0)) throw new RangeError(`value loss: clip must be ≥ 0 or null, got ${s.clip}`);
  const o = input.offsets;
  if (o.length < 1 || o[0] !== 0 || o[o.length - 1] !== T) throw new RangeError(`value loss: offsets must run from 0 to ${T}`);
  for (let i = 1; i < o.length; i++) if (o[i]! < o[i - 1]!) throw new RangeError("value loss: offsets must be non-decreasing");
}

/** ½·max((V − R)², (clip(V, V_old ± ε_v) − R)²) aggregated, its gradient per token and the stats. */
export function valueLoss(s: ValueLossSettings, input: ValueLossInput): ValueLossOutput {
  validate(s, input);
  const { values, valuesOld, returns, mask, offsets } = input;
  const T = values.length;
  const S = offsets.length - 1;

  // Aggregation weights (as the objective: a response counts when it has ≥ 1 masked token).
  const perSeq = new Array<number>(S).fill(0);
  const local = { tokens: 0, sequences: 0 };
  for (let i = 0; i < S; i++) {
    for (let t = offsets[i]!; t < offsets[i + 1]!; t++) if (mask[t]) perSeq[i]!++;
    local.tokens += perSeq[i]!;
    if (perSeq[i]! > 0) local.sequences++;
  }
  const counts = input.denominators ?? local;

  const dValues = new Float64Array(T);
  let loss = 0;
  let clipped = 0;
  for (let i = 0; i < S; i++) {
    const n = perSeq[i]!;
    if (n === 0) continue;
    const a = AGGREGATIONS[s.aggregation](n, counts, s.maxLength);
    for (let t = offsets[i]!; t < offsets[i + 1]!; t++) {
      if (!mask[t]) continue;
      const v = values[t]!;
      const r = returns[t]!;
      const d1 = v - r;
      let l = 0.5 * d1 * d1;
      let g = d1;
      if (s.clip !== null) {
        const lo = valuesOld[t]! - s.clip;
        const hi = valuesOld[t]! + s.clip;
        const vc = Math.min(Math.max(v, lo), hi);
        const d2 = vc - r;
        if (d2 * d2 > d1 * d1) {
          l = 0.5 * d2 * d2;
          g = v > lo && v < hi ? d2 : 0; // V outside the range: the clip cuts the gradient
          clipped++;
        }
      }
      loss += a * l;
      dValues[t] = a * g;
    }
  }

  const n = local.tokens;
  return {
    loss,
    dValues,
    stats: {
      tokens: n,
      loss,
      clipFrac: n > 0 ? clipped / n : 0,
      explainedVariance: explainedVariance(values, returns, mask),
      valueMean: maskedSummary(values, mask).mean,
      returnMean: maskedSummary(returns, mask).mean,
    },
  };
}
