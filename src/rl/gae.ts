/**
 * Generalised advantage estimation (GAE(γ, λ)) for PPO with a critic (REFERENCE.md "PPO with a critic").
 *
 * Layout as in advantages.ts: responses packed, `lengths[i]` tokens for response i, per-token arrays
 * concatenated in order. Per response i with values V_t (t = 0 … n−1) and per-token rewards
 *   r_t = −β·KL_t  (+ R_i on the last token)          (KL in the reward, as PPO / verl put it; β = 0: none)
 *   δ_t = r_t + γ·V_{t+1} − V_t,   V_n = 0              (the response ends: terminal)
 *   Â_t = δ_t + γλ·Â_{t+1} = Σ_l (γλ)^l δ_{t+l},        Â_n = 0
 *   R_t = Â_t + V_t                                      (the critic's target, the "return")
 * λ may differ per response: a number, or a function of the response's length (VAPO's length-adaptive
 * λ_actor = 1 − 1/(α·l), `vapoLambda`). Whitening (optional, verl's `masked_whiten`, applied by verl to
 * every GAE advantage): Â ← (Â − mean)/sqrt(var + 1e-8) over the valid tokens of the batch, var the
 * sample (n−1) variance; the returns are taken before whitening. verl divides its masked mean by
 * (count + 1e-8); the mean here is exact.
 *
 * Unscorable responses (reward null or not finite, TRL's contract): advantages 0, returns = V (so the
 * TD target is the value itself), `valid` 0 on every token — they are left out of the whitening, the
 * stats and (through `valid` as the loss mask) the value loss.
 *
 * Decoupled GAE (VAPO): the critic's targets come from λ_critic (1.0, unbiased), the policy's
 * advantages from λ_actor; `decoupledGae` runs both. Pure functions, fp64.
 */

export type Lambda = number | ((length: number) => number);

export interface GaeInput {
  /** V_t per token from the value model at rollout time (T_total, packed like the tokens). */
  values: ArrayLike<number>;
  /** Outcome reward R_i per response (placed on its last token); null = unscorable. */
  rewards: readonly (number | null)[];
  /** Tokens per response. */
  lengths: readonly number[];
  /** Per-token KL(π‖π_ref) estimate (T_total); subtracted from the reward as β·KL_t when klCoef ≠ 0. */
  klPerToken?: ArrayLike<number>;
  /** β of KL in the reward. 0 or absent: no KL. */
  klCoef?: number;
}

export interface GaeOptions {
  /** γ, the discount. */
  gamma: number;
  /** λ: one number for every response, or a function of the response length (e.g. `vapoLambda(α)`). */
  lambda: Lambda;
  /** Whiten the advantages over the batch's valid tokens (verl: always for GAE). Default false. */
  whiten?: boolean;
}

export interface GaeStats {
  /** Valid tokens (of scorable responses). */
  tokens: number;
  /** Over valid tokens, after whitening when it is on; NaN with no valid token. std: sample (n−1). */
  advantageMean: number;
  advantageStd: number;
  advantageMin: number;
  advantageMax: number;
  returnMean: number;
  valueMean: number;
  /** 1 − Var(R − V)/Var(R) of the rollout values (verl's critic/vf_explained_var); NaN if Var(R) = 0. */
  explainedVariance: number;
}

export interface GaeOutput {
  /** Â_t per token (0 on unscorable responses). */
  advantages: Float64Array;
  /** R_t = Â_t + V_t per token, before any whitening (= V_t on unscorable responses). */
  returns: Float64Array;
  /** 1 for tokens of scorable responses: the value loss's mask. */
  valid: Uint8Array;
  stats: GaeStats;
}

/** Whitening ε under the square root (verl's masked_whiten). */
export const WHITEN_EPS = 1e-8;

const isScorable = (r: number | null): r is number => r !== null && Number.isFinite(r);

/** VAPO's length-adaptive λ_actor = 1 − 1/(α·l), clamped to [0, 1] (it is negative for l < 1/α). */
export function vapoLambda(alpha: number): (length: number) => number {
  if (!(alpha > 0) || !Number.isFinite(alpha)) throw new RangeError(`vapo alpha must be a positive number, got ${alpha}`);
  return (length) => Math.min(1, Math.max(0, 1 - 1 / (alpha * length)));
}

function checkInput(input: GaeInput, opts: GaeOptions): number {
  const { values, rewards, lengths } = input;
  if (lengths.length !== rewards.length) throw new RangeError(`gae: lengths.length (${lengths.length}) != rewards.length (${rewards.length})`);
  let total = 0;
  for (const n of lengths) {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`gae: lengths must be non-negative integers, got ${n}`);
    total += n;
  }
  if (values.length !== total) throw new RangeError(`gae: values.length (${values.length}) != total tokens (${total})`);
  const beta = input.klCoef ?? 0;
  if (beta !== 0 && !input.klPerToken) throw new RangeError("gae: klCoef ≠ 0 needs klPerToken");
  if (input.klPerToken && input.klPerToken.length !== total) throw new RangeError(`gae: klPerToken.length (${input.klPerToken.length}) != total tokens (${total})`);
  if (!(opts.gamma >= 0 && opts.gamma <= 1)) throw new RangeError(`gae: gamma must be in [0, 1], got ${opts.gamma}`);
  return total;
}

function lambdaOf(lambda: Lambda, length: number, i: number): number {
  const l = typeof lambda === "number" ? lambda : lambda(length);
  if (!(l >= 0 && l <= 1)) throw new RangeError(`gae: lambda must be in [0, 1], got ${l} for response ${i} (length ${length})`);
  return l;
}

/** Raw GAE advantages and returns (no whitening). */
function gaeRaw(input: GaeInput, opts: GaeOptions, total: number): { advantages: Float64Array; returns: Float64Array; valid: Uint8Array } {
  const { values, rewards, lengths } = input;
  const beta = input.klCoef ?? 0;
  const kl = input.klPerToken;
  const { gamma } = opts;
  const advantages = new Float64Array(total);
  const returns = new Float64Array(total);
  const valid = new Uint8Array(total);
  let o = 0;
  for (let i = 0; i < rewards.length; i++) {
    const n = lengths[i]!;
    const r = rewards[i]!;
    if (!isScorable(r) || n === 0) {
      for (let t = o; t < o + n; t++) returns[t] = values[t]!;
      o += n;
      continue;
    }
    const gl = gamma * lambdaOf(opts.lambda, n, i);
    let next = 0; // V_{t+1}; 0 after the last token
    let acc = 0; // Â_{t+1}
    for (let t = n - 1; t >= 0; t--) {
      const v = values[o + t]!;
      const reward = (beta !== 0 ? -beta * kl![o + t]! : 0) + (t === n - 1 ? r : 0);
      acc = reward + gamma * next - v + gl * acc;
      advantages[o + t] = acc;
      returns[o + t] = acc + v;
      valid[o + t] = 1;
      next = v;
    }
    o += n;
  }
  return { advantages, returns, valid };
}

/**
 * verl's masked_whiten: (x − mean)/sqrt(var + 1e-8) over the tokens with mask 1 (var: sample, n−1);
 * tokens with mask 0 become 0. Fewer than two masked tokens: var is taken as 0.
 */
export function maskedWhiten(x: ArrayLike<number>, mask: ArrayLike<number>): Float64Array {
  const out = new Float64Array(x.length);
  let n = 0;
  let sum = 0;
  for (let t = 0; t < x.length; t++) if (mask[t]) { n++; sum += x[t]!; }
  if (n === 0) return out;
  const m = sum / n;
  let ss = 0;
  for (let t = 0; t < x.length; t++) if (mask[t]) ss += (x[t]! - m) ** 2;
  const inv = 1 / Math.sqrt((n > 1 ? ss / (n - 1) : 0) + WHITEN_EPS);
  for (let t = 0; t < x.length; t++) if (mask[t]) out[t] = (x[t]! - m) * inv;
  return out;
}

/** Mean, sample std, min, max over masked entries (NaN when none; std 0 for one). */
export function maskedSummary(x: ArrayLike<number>, mask: ArrayLike<number>): { n: number; mean: number; std: number; min: number; max: number } {
  let n = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let t = 0; t < x.length; t++) {
    if (!mask[t]) continue;
    n++;
    sum += x[t]!;
    min = Math.min(min, x[t]!);
    max = Math.max(max, x[t]!);
  }
  if (n === 0) return { n, mean: Number.NaN, std: Number.NaN, min: Number.NaN, max: Number.NaN };
  const mean = sum / n;
  let ss = 0;
  for (let t = 0; t < x.length; t++) if (mask[t]) ss += (x[t]! - mean) ** 2;
  return { n, mean, std: n > 1 ? Math.sqrt(ss / (n - 1)) : 0, min, max };
}

/** 1 − Var(R − V)/Var(R) over masked tokens (the n vs n−1 choice cancels); NaN if Var(R) = 0 or no token. */
export function explainedVariance(values: ArrayLike<number>, returns: ArrayLike<number>, mask: ArrayLike<number>): number {
  let n = 0;
  let sr = 0;
  let sd = 0;
  for (let t = 0; t < values.length; t++) if (mask[t]) { n++; sr += returns[t]!; sd += returns[t]! - values[t]!; }
  if (n === 0) return Number.NaN;
  const mr = sr / n;
  const md = sd / n;
  let vr = 0;
  let vd = 0;
  for (let t = 0; t < values.length; t++) {
    if (!mask[t]) continue;
    vr += (returns[t]! - mr) ** 2;
    vd += (returns[t]! - values[t]! - md) ** 2;
  }
  return vr > 0 ? 1 - vd / vr : Number.NaN;
}

function statsOf(advantages: Float64Array, returns: Float64Array, values: ArrayLike<number>, valid: Uint8Array): GaeStats {
  const a = maskedSummary(advantages, valid);
  return {
    tokens: a.n,
    advantageMean: a.mean,
    advantageStd: a.std,
    advantageMin: a.min,
    advantageMax: a.max,
    returnMean: maskedSummary(returns, valid).mean,
    valueMean: maskedSummary(values, valid).mean,
    explainedVariance: explainedVariance(values, returns, valid),
  };
}

/** GAE(γ, λ) advantages and returns per token; see the header. */
export function gae(input: GaeInput, opts: GaeOptions): GaeOutput {
  const total = checkInput(input, opts);
  const raw = gaeRaw(input, opts, total);
  const advantages = opts.whiten ? maskedWhiten(raw.advantages, raw.valid) : raw.advantages;
  return { advantages, returns: raw.returns, valid: raw.valid, stats: statsOf(advantages, raw.returns, input.values, raw.valid) };
}

export interface DecoupledGaeOptions {
  gamma: number;
  /** λ of the critic's targets (VAPO: 1.0). */
  criticLambda: number;
  /** λ of the policy's advantages; a function of the length for VAPO's length-adaptive λ. */
  actorLambda: Lambda;
  whiten?: boolean;
}

/**
 * Decoupled GAE (VAPO): `returns` from GAE with λ_critic (the value loss's targets), `advantages` from
 * GAE with λ_actor (whitened when asked). With λ_actor = λ_critic this is one `gae` call.
 */
export function decoupledGae(input: GaeInput, opts: DecoupledGaeOptions): GaeOutput {
  const critic = gae(input, { gamma: opts.gamma, lambda: opts.criticLambda, whiten: opts.whiten ?? false });
  if (opts.actorLambda === opts.criticLambda) return critic;
  const actor = gae(input, { gamma: opts.gamma, lambda: opts.actorLambda, whiten: opts.whiten ?? false });
  return { advantages: actor.advantages, returns: critic.returns, valid: critic.valid, stats: statsOf(actor.advantages, critic.returns, input.values, critic.valid) };
}
