/**
 * Advantage estimators (REFERENCE.md "GRPO", "Dr. GRPO", "Other advantage estimators").
 *
 * Layout: a batch is `numGroups · G` responses, the G responses of one prompt contiguous. Rewards are
 * `number | null`; null means unscorable (TRL's reward contract): it is left out of the group's mean
 * and std and its advantage is 0 (for every token).
 *
 * Every estimator returns one advantage per token (`perToken`, the responses' tokens concatenated in
 * order, `lengths[i]` tokens for response i) and, where the advantage is the same for the whole
 * response, one per response (`perSequence`). Pure functions, fp64.
 *
 * std: the sample standard deviation (Bessel's n−1), as TRL (`nanstd`) and verl (`torch.std`) use for
 * group statistics; a set of fewer than two values has std 0. REINFORCE++'s whitening over all tokens
 * uses the population variance clamped at 1e-8, as OpenRLHF's `masked_normalize` does.
 */

export type AdvantageEstimator = "group-mean" | "rloo" | "reinforce++" | "reinforce++-baseline";
export const ADVANTAGE_ESTIMATORS: readonly AdvantageEstimator[] = ["group-mean", "rloo", "reinforce++", "reinforce++-baseline"];

/** How the centred group rewards are scaled (TRL's `scale_rewards`). */
export type StdScale = "group" | "batch" | "none";
export const STD_SCALES: readonly StdScale[] = ["group", "batch", "none"];

export interface AdvantageInput {
  /** R_i per response, null = unscorable. Length numGroups·G. */
  rewards: readonly (number | null)[];
  /** G, responses per prompt (contiguous). */
  groupSize: number;
  /** Tokens per response (the masked/trained tokens). */
  lengths: readonly number[];
  /** Per-token KL(π‖π_ref) estimate, concatenated like the tokens; used when KL is in the reward. */
  klPerToken?: ArrayLike<number>;
  /** β for KL in the reward (REINFORCE++: per-token reward −β·KL_t). 0 or absent: no KL in the reward. */
  klCoef?: number;
}

export interface AdvantageOptions {
  /** Scaling of the centred rewards for the group estimators (ignored by the REINFORCE++ ones, which whiten). */
  scale: StdScale;
  /** Added to the std before dividing (TRL 1e-4; DeepSeekMath writes "+ eps"). */
  eps: number;
}

export interface Advantages {
  perToken: Float64Array;
  /** One value per response when the estimator gives the same advantage to every token; else null. */
  perSequence: Float64Array | null;
}

// ***** statistics over the scorable values *****

function validValues(xs: readonly (number | null)[]): number[] {
  return xs.filter((x): x is number => x !== null && Number.isFinite(x));
}

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample standard deviation (n−1); 0 for fewer than two values. */
export function sampleStd(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) * (x - m);
  return Math.sqrt(s / (xs.length - 1));
}

function checkShape(input: AdvantageInput): number {
  const { rewards, groupSize, lengths } = input;
  if (!Number.isInteger(groupSize) || groupSize < 1) throw new RangeError(`groupSize must be a positive integer, got ${groupSize}`);
  if (rewards.length % groupSize !== 0) throw new RangeError(`rewards.length (${rewards.length}) is not a multiple of groupSize (${groupSize})`);
  if (lengths.length !== rewards.length) throw new RangeError(`lengths.length (${lengths.length}) != rewards.length (${rewards.length})`);
  let total = 0;
  for (const n of lengths) total += n;
  if (input.klPerToken && input.klPerToken.length !== total) throw new RangeError(`klPerToken.length (${input.klPerToken.length}) != total tokens (${total})`);
  return total;
}

function isScorable(r: number | null): r is number {
  return r !== null && Number.isFinite(r);
}

// ***** group estimators: one advantage per response, broadcast over its tokens *****

/** Baseline-subtracted rewards, one per response; unscorable → NaN (filled with 0 later). */
type Centre = (group: readonly (number | null)[]) => number[];

const CENTRES: Record<"group-mean" | "rloo", Centre> = {
  // Â_i = R_i − mean(R) over the scorable members.
  "group-mean": (group) => {
    const m = mean(validValues(group));
    return group.map((r) => (isScorable(r) ? r - m : Number.NaN));
  },
  // Â_i = R_i − mean_{j≠i} R_j = n/(n−1)·(R_i − mean(R)); needs n ≥ 2 scorable members, else 0.
  rloo: (group) => {
    const v = validValues(group);
    const n = v.length;
    const m = mean(v);
    return group.map((r) => (isScorable(r) ? (n < 2 ? 0 : (n / (n - 1)) * (r - m)) : Number.NaN));
  },
};

function groupAdvantages(centre: Centre, input: AdvantageInput, opts: AdvantageOptions): Float64Array {
  const { rewards, groupSize: G } = input;
  const out = new Float64Array(rewards.length);
  const batchStd = sampleStd(validValues(rewards));
  for (let g = 0; g < rewards.length / G; g++) {
    const group = rewards.slice(g * G, (g + 1) * G);
    const centred = centre(group);
    const denom = SCALES[opts.scale](group, batchStd) + (opts.scale === "none" ? 0 : opts.eps);
    for (let i = 0; i < G; i++) {
      const c = centred[i]!;
      out[g * G + i] = Number.isNaN(c) ? 0 : c / denom;
    }
  }
  return out;
}

const SCALES: Record<StdScale, (group: readonly (number | null)[], batchStd: number) => number> = {
  group: (group) => sampleStd(validValues(group)),
  batch: (_group, batchStd) => batchStd,
  none: () => 1,
};

function broadcast(perSeq: Float64Array, lengths: readonly number[], total: number): Float64Array {
  const out = new Float64Array(total);
  let o = 0;
  for (let i = 0; i < lengths.length; i++) {
    out.fill(perSeq[i]!, o, o + lengths[i]!);
    o += lengths[i]!;
  }
  return out;
}

// ***** REINFORCE++: per-token rewards, return-to-go, whitening over the batch's tokens *****

/**
 * Per-token reward −β·KL_t, plus R_i (after the optional baseline) on the last token; return-to-go
 * (γ = 1) per response; then (x − mean)/sqrt(max(var, 1e-8)) over all tokens of scorable responses.
 * Unscorable responses get 0 on every token and do not enter the statistics.
 */
export function reinforcePlusPlus(input: AdvantageInput, baseline: "none" | "group-mean"): Float64Array {
  const total = checkShape(input);
  const { rewards, lengths, groupSize: G } = input;
  const beta = input.klCoef ?? 0;
  const kl = input.klPerToken;
  if (beta !== 0 && !kl) throw new RangeError("reinforce++ with klCoef ≠ 0 needs klPerToken");
  // Sequence-level reward after the baseline.
  const seqR = new Float64Array(rewards.length);
  for (let g = 0; g < rewards.length / G; g++) {
    const group = rewards.slice(g * G, (g + 1) * G);
    const m = baseline === "group-mean" ? mean(validValues(group)) : 0;
    for (let i = 0; i < G; i++) {
      const r = group[i]!;
      seqR[g * G + i] = isScorable(r) ? r - m : 0;
    }
  }
  const ret = new Float64Array(total);
  const used = new Uint8Array(total);
  let o = 0;
  for (let i = 0; i < rewards.length; i++) {
    const n = lengths[i]!;
    if (isScorable(rewards[i]!)) {
      let acc = 0;
      for (let t = n - 1; t >= 0; t--) {
        const klT = beta !== 0 ? kl![o + t]! : 0;
        acc += -beta * klT + (t === n - 1 ? seqR[i]! : 0);
        ret[o + t] = acc;
        used[o + t] = 1;
      }
    }
    o += n;
  }
  // Whiten over the tokens of scorable responses.
  let count = 0;
  let sum = 0;
  for (let t = 0; t < total; t++) if (used[t]) { count++; sum += ret[t]!; }
  if (count === 0) return ret;
  const m = sum / count;
  let v = 0;
  for (let t = 0; t < total; t++) if (used[t]) v += (ret[t]! - m) ** 2;
  const inv = 1 / Math.sqrt(Math.max(v / count, 1e-8));
  for (let t = 0; t < total; t++) ret[t] = used[t] ? (ret[t]! - m) * inv : 0;
  return ret;
}

// ***** the table *****

const ESTIMATORS: Record<AdvantageEstimator, (input: AdvantageInput, opts: AdvantageOptions, total: number) => Advantages> = {
  "group-mean": (input, opts, total) => {
    const perSequence = groupAdvantages(CENTRES["group-mean"], input, opts);
    return { perSequence, perToken: broadcast(perSequence, input.lengths, total) };
  },
  rloo: (input, opts, total) => {
    const perSequence = groupAdvantages(CENTRES.rloo, input, opts);
    return { perSequence, perToken: broadcast(perSequence, input.lengths, total) };
  },
  "reinforce++": (input) => ({ perSequence: null, perToken: reinforcePlusPlus(input, "none") }),
  "reinforce++-baseline": (input) => ({ perSequence: null, perToken: reinforcePlusPlus(input, "group-mean") }),
};

/**
 * Advantages for one batch. For the group estimators, KL in the reward (klCoef·Σ_t KL_t subtracted
 * from R_i before the baseline) is applied here too, so `kl_in: reward` works with every estimator.
 */
export function computeAdvantages(estimator: AdvantageEstimator, input: AdvantageInput, opts: AdvantageOptions): Advantages {
  const total = checkShape(input);
  if (estimator === "group-mean" || estimator === "rloo") {
    const beta = input.klCoef ?? 0;
    if (beta !== 0) {
      if (!input.klPerToken) throw new RangeError(`${estimator} with klCoef ≠ 0 needs klPerToken`);
      input = { ...input, rewards: klPenalisedRewards(input.rewards, input.lengths, input.klPerToken, beta) };
    }
  }
  return ESTIMATORS[estimator](input, opts, total);
}

/** R_i − β·Σ_t KL_{i,t} (null stays null). */
export function klPenalisedRewards(rewards: readonly (number | null)[], lengths: readonly number[], kl: ArrayLike<number>, beta: number): (number | null)[] {
  const out: (number | null)[] = [];
  let o = 0;
  for (let i = 0; i < rewards.length; i++) {
    let s = 0;
    for (let t = 0; t < lengths[i]!; t++) s += kl[o + t]!;
    o += lengths[i]!;
    const r = rewards[i]!;
    out.push(isScorable(r) ? r - beta * s : null);
  }
  return out;
}
