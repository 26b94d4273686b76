/**
 * One RL step as named stages (DESIGN.md "One GRPO step"), each a function of its inputs:
 *
 *   collect     prompts → G completions each (the rollout engine; the task's stop strings)
 *   score       completions → rewards (the composed reward, groups scored concurrently; overlong shaping)
 *   [select]    dynamic sampling: keep groups whose rewards differ, collect more while rounds remain
 *   batch       the kept samples as one packed batch (token offsets, loss mask)
 *   reference   old log-probs (π_θ_old) and reference log-probs (π_ref) on the trainer's forward pass
 *   advantages  rewards (and KL in the reward) → per-token advantages
 *   update      epochs × mini-batches × micro-batches of objective → backward → clip → AdamW
 *
 * src/rl/trainer.ts's `train()` is the loop over them. A stage can be replaced through
 * TrainerOptions.stages (e.g. multi-turn episodes in collect, a critic's advantages, a weight push
 * after update): each takes the step's context and returns plain data.
 */
import { AhaError } from "../errors.js";
import { clipGradNorm } from "../model/optim.js";
import type { GroupScorer } from "../rewards/compose.js";
import type { EpisodeRecord } from "../env/types.js";
import type { Completion, RolloutEngine, RolloutRequest } from "../rollout/engine.js";
import type { EpisodeSetup } from "../rollout/episode.js";
import { renderPrompt, type ChatRenderer, type TemplateName } from "../tasks/templates.js";
import type { Problem, Scored, Task } from "../tasks/types.js";
import { computeAdvantages } from "./advantages.js";
import { microBatches, packSequences, type Sequence } from "./batch.js";
import type { RlConfig, TrainConfig } from "./config.js";
import { criticValues, gaeAdvantages, type Critic } from "./critic.js";
import type { GaeOutput } from "./gae.js";
import { klPerToken, policyObjective, tisOn, type ObjectiveSettings } from "./objective.js";
import type { Policy } from "./policy.js";
import { overlongPenalty, zeroVarianceGroups } from "./shaping.js";

export interface TrainerTokenizer {
  /** Prompt text → ids (with a BOS token when the model wants one). */
  encode(text: string): number[];
  decode(ids: ArrayLike<number>): string;
  /** Tokens that end a response (EOS, end of turn). */
  stopTokenIds: readonly number[];
  /** Text inside a sequence → ids (no BOS, no post-processor): tool results. Default `encode`. */
  encodeText?(text: string): number[];
}

/** Everything the stages of a step read. */
export interface StepContext {
  rl: RlConfig;
  train: TrainConfig;
  task: Task<unknown>;
  template: TemplateName;
  chat?: ChatRenderer;
  tokenizer: TrainerTokenizer;
  engine: Pick<RolloutEngine, "logprobKind" | "generate" | "endpoints" | "holdEndpoint">;
  policy: Policy;
  /** The composed reward (src/rewards/compose.ts). */
  scorer: GroupScorer<unknown>;
  settings: ObjectiveSettings;
  /** Always run the separate old-log-prob pass (tests compare it with the fused one). */
  separateOldPass?: boolean;
  /** PPO's value model (critic = value; src/rl/critic.ts), else absent. */
  critic?: Critic | null;
  /** Multi-turn episodes with an environment (tools), else absent: single-turn responses. */
  episodes?: EpisodeSetup | null;
}

/** One sampled response with everything the step needs. */
export interface Sample {
  group: number;
  problem: Problem<unknown>;
  promptText: string;
  /** Text of the prompt that belongs to the response (the r1-zero template's "<think>"). */
  responsePrefix: string;
  prompt: number[];
  /** The response's token ids as generated (the stop token included). */
  response: Int32Array;
  /** Decoded response without its stop token. */
  text: string;
  truncated: boolean;
  /** The engine's per-token log-probs (for truncated importance sampling). */
  engineLogp: Float32Array | null;
  /** Per-token loss mask (1 = the model's own token); absent = all 1 (environment tokens get 0). */
  lossMask?: Float64Array;
  /** Multi-turn: the episode's spans, calls and finish reason (the response holds the tool results too). */
  episode?: EpisodeRecord;
  /** Filled by `score`. */
  scored?: Scored;
  /** The reward the advantages use (score + shaping); null = unscorable. */
  reward?: number | null;
  /** The step whose weights sampled it (the trainer's weight version). */
  weightVersion?: number;
}

/** Seconds per phase of a step. */
export interface Phases {
  generate: number;
  reward: number;
  reference: number;
  train: number;
}

// ***** collect *****

/** Rollouts: each problem rendered, encoded and sampled G times, stopping where evaluation stops (the task's stop strings). */
export async function collect(ctx: StepContext, problems: readonly Problem<unknown>[], seed: number): Promise<Sample[][]> {
  const { rl, tokenizer, task } = ctx;
  const rendered = problems.map((p) => renderPrompt(ctx.template, p.question, ctx.chat ? { chat: ctx.chat } : {}));
  const prompts = rendered.map((r) => tokenizer.encode(r.prompt));
  const ep = ctx.episodes ?? null;
  const requests: RolloutRequest[] = prompts.map((ids, g) => ({
    promptIds: ids, n: rl.groupSize, maxNewTokens: ep ? ep.limits.maxTokens : rl.maxNewTokens, temperature: rl.temperature, topP: rl.topP,
    stopTokenIds: tokenizer.stopTokenIds, ...(task.stop && task.stop.length > 0 ? { stopStrings: task.stop } : {}),
    ...(ep ? { episode: { ...ep, problem: problems[g]!, decode: tokenizer.decode } } : {}),
  }));
  const out = await ctx.engine.generate(requests, { seed });
  const stops = new Set(tokenizer.stopTokenIds);
  return out.map((completions, g) =>
    completions.map((c: Completion): Sample => {
      const ids = c.tokenIds;
      const body = c.finishReason === "stop" && ids.length > 0 && stops.has(ids[ids.length - 1]!) ? ids.subarray(0, ids.length - 1) : ids;
      return {
        group: g, problem: problems[g]!, promptText: rendered[g]!.prompt, responsePrefix: rendered[g]!.responsePrefix, prompt: prompts[g]!,
        response: ids, text: tokenizer.decode(body), truncated: c.finishReason === "length", engineLogp: c.logprobs,
        ...(c.lossMask ? { lossMask: Float64Array.from(c.lossMask) } : {}), ...(c.episode ? { episode: c.episode } : {}),
      };
    }),
  );
}

// ***** score *****

/** Rewards for every sample (groups scored concurrently), then DAPO's overlong penalty when configured. */
export async function score(ctx: StepContext, groups: readonly Sample[][]): Promise<void> {
  const { rl } = ctx;
  await Promise.all(groups.map(async (g) => {
    if (g.length === 0) return;
    const scored = await ctx.scorer(g.map((s) => ({ text: s.text, tokens: s.response.length })), g[0]!.problem, { responsePrefix: g[0]!.responsePrefix });
    g.forEach((s, i) => {
      s.scored = scored[i]!;
      // an environment that ends its episode with a reward gives the reward itself
      const envReward = s.episode?.reward;
      if (envReward !== undefined) s.scored = { reward: envReward, parts: { env: envReward }, correct: envReward > 0, extracted: null, reason: s.episode!.detail ?? s.episode!.finish };
      let reward = s.scored.reward;
      // episodes: the budget is the episode's tokens (the model's and the tools'), as the truncation's
      if (reward !== null && rl.overlong === "penalty") reward += overlongPenalty(s.response.length, ctx.episodes?.limits.maxTokens ?? rl.maxNewTokens, rl.overlongBuffer, rl.overlongPenalty);
      s.reward = reward;
    });
  }));
}

// ***** select (dynamic sampling) *****

/** Indices of the groups to keep: all of them, or (dynamic sampling) those whose rewards are not all equal. */
export function selectGroups(rl: RlConfig, groups: readonly Sample[][]): { keep: number[]; zeroVarianceFrac: number } {
  const zeroVar = zeroVarianceGroups(groups.flatMap((g) => g.map((s) => s.reward ?? null)), rl.groupSize);
  const keep = groups.map((_, i) => i).filter((i) => !rl.dynamicSampling || !zeroVar[i]);
  return { keep, zeroVarianceFrac: zeroVar.length > 0 ? zeroVar.filter(Boolean).length / zeroVar.length : Number.NaN };
}

// ***** batch *****

/** The kept samples as one batch: packed sequences, token offsets per sample, and the loss mask. */
export interface Batch {
  samples: Sample[];
  seqs: Sequence[];
  /** Sample i's response tokens are [offsets[i], offsets[i+1]) of the batch's per-token arrays. */
  offsets: number[];
  total: number;
  lengths: number[];
  /** Per token: 1 = in the loss (0: a masked overlong response, an environment token). */
  mask: Float64Array;
}

export function makeBatch(rl: RlConfig, samples: Sample[]): Batch {
  const seqs: Sequence[] = samples.map((s) => ({ prompt: s.prompt, response: s.response }));
  const lengths = samples.map((s) => s.response.length);
  const offsets = [0];
  for (const n of lengths) offsets.push(offsets[offsets.length - 1]! + n);
  const total = offsets[offsets.length - 1]!;
  const mask = new Float64Array(total);
  samples.forEach((s, i) => {
    if (rl.overlong === "mask" && s.truncated) return;
    if (s.lossMask) mask.set(s.lossMask, offsets[i]!);
    else mask.fill(1, offsets[i]!, offsets[i + 1]!);
  });
  return { samples, seqs, offsets, total, lengths, mask };
}

// ***** reference *****

export interface LogProbs {
  /** log π_θ_old per token; filled by the update's own forward when `fused`. */
  old: Float64Array;
  /** log π_ref per token (β > 0), else null. */
  ref: Float64Array | null;
  /** One update per rollout (1 epoch, 1 mini-batch): π_old = π_θ, so the update's forward gives the old log-probs. */
  fused: boolean;
  /** V_old per token from the critic (critic = value), else null. */
  values: Float64Array | null;
}

/** Whether the old log-probs can come from the update's own forward pass (saves a forward). */
export function canFuseOld(ctx: StepContext): boolean {
  const { rl } = ctx;
  const needRef = rl.klCoef !== 0;
  return rl.epochs === 1 && rl.miniBatches === 1 && !(needRef && rl.klIn === "reward") && !ctx.separateOldPass;
}

export function reference(ctx: StepContext, b: Batch): LogProbs {
  const { rl, policy } = ctx;
  const fused = canFuseOld(ctx);
  const old = new Float64Array(b.total);
  const ref = rl.klCoef !== 0 ? new Float64Array(b.total) : null;
  if (ref && !policy.referenceLogp) throw new AhaError("AHA_NO_REFERENCE", `kl-coef = ${rl.klCoef} needs a reference model`, "set --kl-coef 0 or give the policy a reference");
  if (!fused || ref) {
    const all = b.samples.map((_, i) => i);
    for (const mb of microBatches(b.seqs, all, rl.microBatchTokens)) {
      const pk = packSequences(b.seqs, mb);
      if (!fused) gather(old, policy.model.forward(pk.tokens, pk.cuSeqlens, pk.targets, { onlyTargets: true }).logp, pk.respPos, mb, b.offsets);
      if (ref) gather(ref, policy.referenceLogp!(pk.tokens, pk.cuSeqlens, pk.targets), pk.respPos, mb, b.offsets);
    }
  }
  return { old, ref, fused, values: ctx.critic ? criticValues(ctx, b) : null };
}

// ***** advantages *****

export interface AdvantageOut {
  perToken: Float64Array;
  /** KL per token when it was computed here (KL in the reward), else null. */
  kl: Float64Array | null;
  /** GAE's returns and the rollout values (advantage = gae), for the critic's update. */
  critic?: { returns: Float64Array; valuesOld: Float64Array; gae: GaeOutput };
}

export function advantages(ctx: StepContext, b: Batch, lp: LogProbs): AdvantageOut {
  const { rl } = ctx;
  if (rl.advantage === "gae") return gaeAdvantages(ctx, b, lp);
  const kl = lp.ref && !lp.fused ? modelOnly(b, klPerToken(rl.klEstimator, lp.old, lp.ref)) : null;
  const adv = computeAdvantages(
    rl.advantage,
    { rewards: b.samples.map((s) => s.reward ?? null), groupSize: rl.groupSize, lengths: b.lengths, ...(kl && rl.klIn === "reward" ? { klPerToken: kl, klCoef: rl.klCoef } : {}) },
    { scale: rl.scaleRewards, eps: rl.advantageEps },
  );
  return { perToken: adv.perToken, kl };
}

/** Zeroes the values at environment tokens (a sample's lossMask 0): they add no KL to a response's penalty. */
export function modelOnly(b: Batch, perToken: Float64Array): Float64Array {
  b.samples.forEach((s, i) => {
    if (!s.lossMask) return;
    const o = b.offsets[i]!;
    for (let j = 0; j < s.lossMask.length; j++) if (s.lossMask[j] === 0) perToken[o + j] = 0;
  });
  return perToken;
}

// ***** update *****

export interface UpdateStats {
  /** Optimizer updates made (0 when every mini-batch was fully masked). */
  updates: number;
  skipped: boolean;
  loss: number;
  policyLoss: number;
  klLoss: number;
  entropy: number;
  clipLowFrac: number;
  clipHighFrac: number;
  gradNorm: number;
  /** Tokens through forward/backward (prompt + response). */
  trainTokens: number;
  /** Importance-sampling metrics (tis/weight_mean, tis/truncated_frac or tis/masked_frac) when tis-cap or tis-mode = icepop is on. */
  tis: Record<string, number> | null;
}

export function update(ctx: StepContext, b: Batch, lp: LogProbs, adv: AdvantageOut, lr: number): UpdateStats {
  const { rl, policy, settings } = ctx;
  const engineLogp = tisOn(settings) ? concatEngineLogp(b) : null;
  const lm = rl.lmLossCoef > 0 ? positiveLm(rl.lmLossCoef, b) : null;
  const agg = { loss: 0, policy: 0, kl: 0, entropy: 0, low: 0, high: 0, tokens: 0, norm: 0, updates: 0, trainTokens: 0, k: 0, truncated: 0, maskedIs: 0 };
  let skipped = false;
  const plan = miniBatchPlan(rl, b, b.mask);
  for (let epoch = 0; epoch < rl.epochs && !skipped; epoch++) {
    for (const { members, dTokens, dSeqs } of plan) {
      if (skipped) break;
      if (dTokens === 0) continue;
      policy.optimizer.grads.zero();
      let loss = 0;
      for (const mb of microBatches(b.seqs, members, rl.microBatchTokens)) {
        const pk = packSequences(b.seqs, mb);
        const fw = policy.model.forward(pk.tokens, pk.cuSeqlens, pk.targets, { onlyTargets: true });
        const sub = subset(mb, b.offsets);
        if (lp.fused) gather(lp.old, fw.logp, pk.respPos, mb, b.offsets);
        const out = policyObjective(settings, {
          logp: pick(fw.logp, pk.respPos),
          logpOld: slice(lp.old, sub),
          ...(lp.ref && rl.klIn === "loss" ? { logpRef: slice(lp.ref, sub) } : {}),
          ...(engineLogp ? { logpEngine: slice(engineLogp, sub) } : {}),
          entropy: pick(fw.entropy, pk.respPos),
          advantages: slice(adv.perToken, sub),
          mask: slice(b.mask, sub),
          offsets: sub.offsets,
          denominators: { tokens: dTokens, sequences: dSeqs },
        });
        const dlogp = new Float32Array(pk.tokens.length);
        const dent = out.dEntropy ? new Float32Array(pk.tokens.length) : null;
        scatter(dlogp, out.dLogp, pk.respPos);
        if (lm) loss += lm.add(dlogp, pk.respPos, mb, fw.logp);
        if (dent) scatter(dent, out.dEntropy!, pk.respPos);
        policy.model.backward(dlogp, dent);
        loss += out.loss;
        agg.policy += out.stats.policyLoss;
        agg.kl += out.stats.klLoss;
        agg.entropy += out.stats.entropyMean * out.stats.tokens;
        agg.low += out.stats.clipLowFrac * out.stats.tokens;
        agg.high += out.stats.clipHighFrac * out.stats.tokens;
        agg.tokens += out.stats.tokens;
        if (engineLogp && out.stats.tokens > 0) {
          agg.k += out.stats.tisRatioMean * out.stats.tokens;
          agg.truncated += out.stats.tisTruncatedFrac * out.stats.tokens;
          agg.maskedIs += out.stats.tisMaskedFrac * out.stats.tokens;
        }
        agg.trainTokens += pk.tokens.length;
      }
      const norm = clipGradNorm(policy.optimizer.grads, ctx.train.gradClip ?? Infinity);
      if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
        skipped = true;
        break;
      }
      policy.optimizer.update(lr);
      agg.loss += loss;
      agg.norm += norm;
      agg.updates++;
    }
  }
  const u = Math.max(agg.updates, 1);
  return {
    updates: agg.updates, skipped, loss: agg.loss / u, policyLoss: agg.policy / u, klLoss: agg.kl / u,
    entropy: agg.entropy / Math.max(agg.tokens, 1), clipLowFrac: agg.low / Math.max(agg.tokens, 1), clipHighFrac: agg.high / Math.max(agg.tokens, 1),
    gradNorm: agg.norm / u, trainTokens: agg.trainTokens,
    tis: !engineLogp ? null : {
      "tis/weight_mean": agg.k / Math.max(agg.tokens, 1),
      [settings.icepop ? "tis/masked_frac" : "tis/truncated_frac"]: (settings.icepop ? agg.maskedIs : agg.truncated) / Math.max(agg.tokens, 1),
    },
  };
}

/**
 * The mini-batches of one epoch: the batch's groups split evenly into `mini-batches` parts (whole groups),
 * each with its loss denominators — tokens in the loss (`mask`) and responses with at least one.
 */
export function miniBatchPlan(rl: RlConfig, b: Batch, mask: ArrayLike<number>): { members: number[]; dTokens: number; dSeqs: number }[] {
  const G = rl.groupSize;
  const groups = Array.from({ length: b.samples.length / G }, (_, g) => g);
  const perMini = groups.length / Math.min(rl.miniBatches, groups.length);
  const out: { members: number[]; dTokens: number; dSeqs: number }[] = [];
  for (let start = 0; start < groups.length; start += perMini) {
    const members = groups.slice(Math.round(start), Math.round(start + perMini)).flatMap((g) => Array.from({ length: G }, (_, j) => g * G + j));
    let dTokens = 0;
    let dSeqs = 0;
    for (const i of members) {
      let n = 0;
      for (let t = b.offsets[i]!; t < b.offsets[i + 1]!; t++) n += mask[t]!;
      dTokens += n;
      if (n > 0) dSeqs++;
    }
    out.push({ members, dTokens, dSeqs });
  }
  return out;
}

/** Mean KL over the loss tokens (the `kl` metric). */
export function meanKl(ctx: StepContext, b: Batch, lp: LogProbs, adv: AdvantageOut): number | null {
  if (!lp.ref) return null;
  const kl = adv.kl ?? klPerToken(ctx.rl.klEstimator, lp.old, lp.ref);
  let s = 0;
  let n = 0;
  for (let t = 0; t < b.total; t++) if (b.mask[t]) { s += kl[t]!; n++; }
  return n > 0 ? s / n : 0;
}

/**
 * VAPO's positive-example LM loss: μ · the token-mean NLL of the responses scored correct, added to the
 * objective (its dL/dlogp = −μ / N on those tokens, N their count over the whole batch).
 */
function positiveLm(coef: number, b: Batch): { add(dlogp: Float32Array, respPos: readonly Int32Array[], mb: readonly number[], logp: ArrayLike<number>): number } | null {
  const positive = b.samples.map((s) => s.scored?.correct === true && s.reward !== null);
  let n = 0;
  b.samples.forEach((_, i) => {
    if (positive[i]) for (let t = b.offsets[i]!; t < b.offsets[i + 1]!; t++) n += b.mask[t]!;
  });
  if (n === 0) return null;
  return {
    add(dlogp, respPos, mb, logp) {
      let loss = 0;
      respPos.forEach((p, s) => {
        const i = mb[s]!;
        if (!positive[i]) return;
        for (let j = 0; j < p.length; j++) {
          const m = b.mask[b.offsets[i]! + j]!;
          if (m === 0) continue;
          dlogp[p[j]!] = dlogp[p[j]!]! - (coef * m) / n;
          loss -= (coef * m * logp[p[j]!]!) / n;
        }
      });
      return loss;
    },
  };
}

// ***** helpers: per-token arrays of the batch ↔ packed micro-batches *****

interface Subset {
  /** For each sequence of the micro-batch: its token range in the batch's concatenated arrays. */
  ranges: [number, number][];
  offsets: number[];
}

function subset(mb: readonly number[], offsets: readonly number[]): Subset {
  const ranges: [number, number][] = mb.map((i) => [offsets[i]!, offsets[i + 1]!]);
  const off = [0];
  for (const [a, b] of ranges) off.push(off[off.length - 1]! + b - a);
  return { ranges, offsets: off };
}

function slice(x: ArrayLike<number>, s: Subset): Float64Array {
  const out = new Float64Array(s.offsets[s.offsets.length - 1]!);
  let o = 0;
  for (const [a, b] of s.ranges) for (let t = a; t < b; t++) out[o++] = x[t]!;
  return out;
}

/** Values at the response positions of a packed micro-batch, concatenated. */
function pick(x: ArrayLike<number>, respPos: readonly Int32Array[]): Float64Array {
  let n = 0;
  for (const p of respPos) n += p.length;
  const out = new Float64Array(n);
  let o = 0;
  for (const p of respPos) for (let j = 0; j < p.length; j++) out[o++] = x[p[j]!]!;
  return out;
}

function scatter(dst: Float32Array, src: ArrayLike<number>, respPos: readonly Int32Array[]): void {
  let o = 0;
  for (const p of respPos) for (let j = 0; j < p.length; j++) dst[p[j]!] = src[o++]!;
}

/** dst[offsets[i] + j] = x at response position j of micro-batch sequence s (= batch sequence mb[s]). */
function gather(dst: Float64Array, x: ArrayLike<number>, respPos: readonly Int32Array[], mb: readonly number[], offsets: readonly number[]): void {
  respPos.forEach((p, s) => {
    const base = offsets[mb[s]!]!;
    for (let j = 0; j < p.length; j++) dst[base + j] = x[p[j]!]!;
  });
}

function concatEngineLogp(b: Batch): Float64Array {
  const out = new Float64Array(b.total);
  b.samples.forEach((s, i) => {
    if (!s.engineLogp) throw new AhaError("AHA_NO_ENGINE_LOGPROBS", "tis-cap or tis-mode = icepop is set but the rollout engine gives no log-probs", "set --tis-cap none and --tis-mode truncate");
    out.set(s.engineLogp, b.offsets[i]!);
  });
  return out;
}
