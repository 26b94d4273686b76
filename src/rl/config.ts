/**
 * The RL trainer's config: one zod schema per section, each field with its default, a description
 * and (where it comes from a paper or a public trainer) its source. src/util/config.ts turns these
 * sections into YAML keys, flags, validation messages and `--help`. Keys are flat kebab-case
 * (`clipHigh` → `clip-high`); see the header of src/util/config.ts.
 *
 * This file imports only zod and the rl layer (it describes sections structurally), so the rl layer
 * does not depend on the cli layer.
 */
import { z } from "zod";
import type { AdamWConfig } from "../model/optim.js";
import { setting as f } from "../util/config.js";
import { ADVANTAGE_ESTIMATORS, STD_SCALES } from "./advantages.js";
import { KL_ESTIMATORS, KL_PLACEMENTS, LOSS_AGGREGATIONS, RATIO_LEVELS, TIS_MODES } from "./objective.js";
import { CRITIC_SETTINGS, PRESETS, PRESET_NAMES, type AdvantageSetting } from "./presets.js";


const enumOf = <T extends string>(xs: readonly T[]) => z.enum(xs as [T, ...T[]]);
const g = PRESETS.grpo.values;
const ppo = PRESETS.ppo.values;
export const ADVANTAGE_SETTINGS: readonly AdvantageSetting[] = [...ADVANTAGE_ESTIMATORS, "gae"];

export const rlSchema = z.strictObject({
  algorithm: f(enumOf(PRESET_NAMES), "grpo", "Preset that sets the objective and advantage switches below (see Presets)."),
  // advantages
  advantage: f(enumOf(ADVANTAGE_SETTINGS), g.advantage, "Advantage estimator: group-mean baseline (GRPO, Dr. GRPO), rloo (leave-one-out), reinforce++ (batch-whitened return-to-go), reinforce++-baseline (group mean, then batch whitening), gae (per-token GAE(γ, λ) from a value model; needs critic = value).", "DeepSeekMath; RLOO; REINFORCE++; GAE: Schulman et al. 2016, PPO"),
  scaleRewards: f(enumOf(STD_SCALES), g.scaleRewards, "Divide centred group rewards by the group's std, the batch's std, or nothing (Dr. GRPO).", "TRL scale_rewards; Dr. GRPO: none"),
  advantageEps: f(z.number().min(0), 1e-4, "Added to the std before dividing.", "TRL: 1e-4"),
  // objective
  ratio: f(enumOf(RATIO_LEVELS), g.ratio, "Importance ratio per token (PPO/GRPO) or one length-normalised ratio per response (GSPO).", "GSPO"),
  clipLow: f(z.number().min(0).lt(1), g.clipLow, "ε_low: the ratio is clipped below at 1 − ε_low.", "PPO/DeepSeekMath: 0.2; GSPO: 3e-4"),
  clipHigh: f(z.number().min(0), g.clipHigh, "ε_high: the ratio is clipped above at 1 + ε_high (clip-higher).", "DAPO: 0.28; GSPO: 4e-4"),
  dualClip: f(z.number().gt(1).nullable(), g.dualClip, "Dual clip c: for negative advantages the term is bounded below by c·Â.", "verl clip_ratio_c: 3"),
  lossAgg: f(enumOf(LOSS_AGGREGATIONS), g.lossAgg, "Loss aggregation over tokens and responses.", "GRPO: seq-mean-token-mean; DAPO: token-mean; Dr. GRPO: seq-mean-token-sum-norm"),
  klCoef: f(z.number().min(0), g.klCoef, "β, the KL coefficient; 0 loads no reference model.", "DeepSeekMath: 0.04; R1-Zero: 0.001; Dr. GRPO, DAPO: 0"),
  klEstimator: f(enumOf(KL_ESTIMATORS), g.klEstimator, "KL estimator: k1 = logp − logp_ref, k2 = ½(logp − logp_ref)², k3 = e^x − x − 1 with x = logp_ref − logp (clamped to ±20).", "Schulman's estimators; GRPO uses k3"),
  klIn: f(enumOf(KL_PLACEMENTS), g.klIn, "Put the KL penalty in the loss (GRPO) or subtract it from the reward (PPO, RLOO, REINFORCE++).", "DeepSeekMath; REINFORCE++"),
  entropyCoef: f(z.number().min(0), g.entropyCoef, "Entropy bonus coefficient (loss −= coef·entropy)."),
  tisCap: f(z.number().min(1).nullable(), null, "Truncated importance sampling cap C when the sampler's log-probs come from another engine: weight min(exp(logp_old − logp_engine), C). none = off. Used by tis-mode = truncate.", "REFERENCE.md: C = 2..3"),
  tisMode: f(enumOf(TIS_MODES), "truncate", "How tokens are weighted by k = exp(logp_old − logp_engine) (π_train/π_infer at the rollout's weights): truncate = min(k, tis-cap), on when tis-cap is set; icepop = k inside [icepop-low, icepop-high] and 0 outside (the token is dropped from the loss and gradient but still counts in the aggregation's denominators), on by itself (tis-cap stays none).", "truncate: REFERENCE.md (TIS); icepop: Ring-1T, 'Every Step Evolves' (Ling team, 2025)"),
  icepopLow: f(z.number().min(0), 0.5, "α, IcePop's lower bound on k: tokens with k < α are masked.", "IcePop / Ring-1T: α 0.5"),
  icepopHigh: f(z.number().gt(0), 5, "β, IcePop's upper bound on k: tokens with k > β are masked.", "IcePop / Ring-1T: β 5"),
  // critic (PPO with a value model: ppo, orz, vapo)
  critic: f(enumOf(CRITIC_SETTINGS), g.critic, "Train a value model (value) whose per-token values give GAE advantages, or none (the critic-free estimators). value needs advantage = gae.", "PPO; Open-Reasoner-Zero; VAPO"),
  gamma: f(z.number().min(0).max(1), ppo.gamma!, "γ, GAE's discount per token.", "verl/TinyZero algorithm.gamma 1.0; Open-Reasoner-Zero 1.0; VAPO 1.0"),
  gaeLambda: f(z.number().min(0).max(1), ppo.gaeLambda!, "λ of GAE for the critic's targets (returns R_t = Â_t + V_t), and for the policy's advantages unless actor-lambda or vapo-alpha is set.", "verl/TinyZero algorithm.lam 1.0; Open-Reasoner-Zero lambd 1.0; VAPO λ_critic 1.0"),
  actorLambda: f(z.number().min(0).max(1).nullable(), null, "λ of GAE for the policy's advantages (decoupled GAE); none = gae-lambda.", "VAPO decoupled GAE (VC-PPO: λ_critic 1.0, λ_actor 0.95)"),
  vapoAlpha: f(z.number().gt(0).nullable(), null, "α of VAPO's length-adaptive λ_actor = 1 − 1/(α·l), l the response length (clamped to [0, 1]); none = off.", "VAPO: α 0.05"),
  gaeWhiten: f(z.boolean(), ppo.gaeWhiten!, "Whiten GAE advantages over the batch's tokens: (Â − mean)/sqrt(var + 1e-8).", "verl masked_whiten (always for GAE); Open-Reasoner-Zero advantage_normalize"),
  valueClip: f(z.number().gt(0).nullable(), ppo.valueClip!, "ε_v: the value loss is ½·max((V − R)², (clip(V, V_old ± ε_v) − R)²); none = ½(V − R)².", "verl critic.cliprange_value 0.5; Open-Reasoner-Zero value_clip 0.2"),
  criticLr: f(z.number().gt(0), ppo.criticLr!, "The critic's peak learning rate (its own AdamW; the actor's is --lr).", "verl/TinyZero critic.optim.lr 1e-5 (actor 1e-6); Open-Reasoner-Zero 5e-6; VAPO 2e-6"),
  valueWarmupSteps: f(z.int().min(0), ppo.valueWarmupSteps!, "Steps at the start that train only the critic (on the returns of the still frozen policy) before the policy moves.", "VAPO value-pretraining: 50 steps; verl trainer.critic_warmup 0"),
  lmLossCoef: f(z.number().min(0), 0, "μ of the positive-example LM loss: loss += μ·NLL of the tokens of correctly answered responses (token mean); 0 = off.", "VAPO: μ 0.1"),
  // batch shaping
  dynamicSampling: f(z.boolean(), g.dynamicSampling, "Drop groups whose rewards are all equal and sample more prompts until the batch is full.", "DAPO"),
  dynamicSamplingRounds: f(z.int().min(0), 2, "Extra generation rounds dynamic sampling may run before training on a smaller batch.", "DAPO: generation batch up to 3× the train batch"),
  overlong: f(z.enum(["none", "penalty", "mask"]), g.overlong, "Overlong responses: no change, DAPO's soft length penalty, or mask truncated responses out of the loss.", "DAPO"),
  overlongBuffer: f(z.int().min(1), 64, "L_cache: the penalty ramps from 0 to −penalty over the last L_cache tokens before max-new-tokens.", "DAPO: 4096 of 20480"),
  overlongPenalty: f(z.number().min(0), 1, "Overlong penalty factor.", "DAPO: 1.0"),
  // rollout
  groupSize: f(z.int().min(1), 8, "G, responses sampled per prompt.", "TRL num_generations: 8; DeepSeekMath: 64"),
  promptsPerStep: f(z.int().min(1), 16, "Prompts per RL step (the train batch is prompts-per-step × group-size responses).", "the demo trial in MEASUREMENTS.md"),
  maxNewTokens: f(z.int().min(1), 256, "L_max, the longest response; also the divisor of seq-mean-token-sum-norm."),
  temperature: f(z.number().gt(0), 1, "Sampling temperature during rollouts.", "R1-Zero / DAPO: 1.0"),
  topP: f(z.number().gt(0).max(1), 1, "Nucleus sampling during rollouts (1 = off)."),
  // updates
  epochs: f(z.int().min(1), 1, "μ, optimisation passes over each rollout batch.", "DeepSeekMath: μ = 1"),
  miniBatches: f(z.int().min(1), 1, "Optimizer steps per epoch (the batch's prompts split evenly)."),
  microBatchTokens: f(z.int().min(1), 8192, "Cap on tokens per forward/backward micro-batch (gradients accumulate)."),
  // asynchronous rollouts
  async: f(z.boolean(), false, "Generate the next steps' rollouts while the current step trains (remote engines); not deterministic. Needs importance sampling (tis-cap with tis-mode = truncate, or tis-mode = icepop).", "AReaL; PipelineRL; TRL AsyncGRPO"),
  maxStaleness: f(z.int().min(0), 1, "K: rollouts are never from weights more than K versions older than the policy being trained (with async).", "AReaL rollout.max_head_offpolicyness; PipelineRL; TRL AsyncGRPO"),
  recheckWords: f(z.array(z.string().min(1)), ["wait", "let me check", "verify", "double-check", "re-check"], "Phrases that mark a response as re-checking itself (the recheck_share metric).", "R1-Zero's 'aha moment'"),
});

export type RlConfig = z.output<typeof rlSchema>;

/** Cross-field invariants; every message names the keys (TRL's __post_init__ habit). */
export function checkRl(c: RlConfig): string[] {
  const out: string[] = [];
  const groupBased = c.advantage === "group-mean" || c.advantage === "rloo" || c.advantage === "reinforce++-baseline";
  if (groupBased && c.groupSize < 2) out.push(`group-size = ${c.groupSize}: advantage '${c.advantage}' compares responses to the same prompt and needs group-size ≥ 2`);
  if (c.promptsPerStep % c.miniBatches !== 0) out.push(`prompts-per-step (${c.promptsPerStep}) must be divisible by mini-batches (${c.miniBatches})`);
  if (c.overlong === "penalty" && c.overlongBuffer >= c.maxNewTokens) out.push(`overlong-buffer (${c.overlongBuffer}) must be smaller than max-new-tokens (${c.maxNewTokens})`);
  if (c.ratio === "sequence" && (c.advantage.startsWith("reinforce++") || c.advantage === "gae")) out.push(`ratio = sequence needs one advantage per response; advantage '${c.advantage}' gives one per token`);
  // The critic: GAE needs the value model, and a value model is only trained for GAE (a critic whose
  // values nothing reads would cost a second model's forward and backward passes for nothing).
  if (c.advantage === "gae" && c.critic !== "value") out.push(`advantage = gae needs critic = value (a value model gives GAE its per-token values); critic is '${c.critic}'`);
  if (c.critic === "value" && c.advantage !== "gae") out.push(`critic = value trains a value model that only advantage = gae uses; advantage is '${c.advantage}' (set advantage = gae, or critic = none)`);
  if (c.critic !== "value") {
    if (c.valueWarmupSteps > 0) out.push(`value-warmup-steps = ${c.valueWarmupSteps} trains a value model; it needs critic = value`);
    if (c.actorLambda !== null) out.push(`actor-lambda = ${c.actorLambda} is a GAE setting; it needs advantage = gae with critic = value`);
    if (c.vapoAlpha !== null) out.push(`vapo-alpha = ${c.vapoAlpha} is a GAE setting; it needs advantage = gae with critic = value`);
  }
  // Importance sampling: tis-cap is truncation's cap; IcePop has its own bounds.
  if (c.tisMode === "icepop") {
    if (c.tisCap !== null) out.push(`tis-cap = ${c.tisCap} is the cap of tis-mode = truncate; tis-mode = icepop uses icepop-low and icepop-high (set tis-cap none)`);
    if (c.icepopLow >= c.icepopHigh) out.push(`icepop-low (${c.icepopLow}) must be smaller than icepop-high (${c.icepopHigh})`);
  } else if (c.icepopLow !== 0.5 || c.icepopHigh !== 5) out.push(`icepop-low (${c.icepopLow}) and icepop-high (${c.icepopHigh}) are IcePop's bounds; they need tis-mode = icepop (tis-mode is '${c.tisMode}')`);
  if (c.async && c.tisMode === "truncate" && c.tisCap === null) out.push("async = true trains on rollouts from older weights and needs importance sampling: set tis-cap (tis-mode = truncate) or tis-mode = icepop");
  if (c.actorLambda !== null && c.vapoAlpha !== null) out.push(`actor-lambda (${c.actorLambda}) and vapo-alpha (${c.vapoAlpha}) both set the policy's λ; set one of them to none`);
  return out;
}

export const rlSection = {
  title: "RL algorithm, rollouts and updates",
  prefix: "",
  schema: rlSchema,
  check: checkRl,
  presets: { key: "algorithm", table: PRESETS },
};

export const trainSchema = z.strictObject({
  steps: f(z.int().min(1), 100, "Optimizer steps: in RL one rollout batch each (prompts-per-step × group-size), in SFT one batch of examples each."),
  seed: f(z.int().min(0), 0, "Seed of the data, sampling and init RNGs (one stream each)."),
  lr: f(z.number().gt(0), 1e-6, "Peak learning rate (AdamW).", "TRL GRPO: 1e-6 (the built-in demo uses 1e-4, MEASUREMENTS.md)"),
  lrSchedule: f(z.enum(["constant", "cosine"]), "constant", "Learning-rate schedule after warmup."),
  warmupSteps: f(z.int().min(0), 0, "Linear warmup steps."),
  weightDecay: f(z.number().min(0), 0, "AdamW weight decay.", "TRL: 0.0"),
  adamBeta1: f(z.number().min(0).lt(1), 0.9, "AdamW β1."),
  adamBeta2: f(z.number().min(0).lt(1), 0.999, "AdamW β2.", "PyTorch / TRL default: 0.999"),
  adamEps: f(z.number().gt(0), 1e-8, "AdamW ε."),
  gradClip: f(z.number().gt(0).nullable(), 1, "Clip the global gradient norm to this (none = off).", "TRL max_grad_norm: 1.0"),
  saveEvery: f(z.int().min(0), 10, "Checkpoint every N steps (0 = only at the end and on Ctrl-C)."),
  samplesPerStep: f(z.int().min(0), 4, "Responses per step written to samples.jsonl."),
  maxBadSteps: f(z.int().min(1), 3, "Stop after this many consecutive steps skipped for NaN/Inf."),
  gradCheckpointing: f(z.boolean(), false, "Activation recomputation: keep only each layer's input in the forward and recompute the layer in backward (less memory, about one more forward of compute; identical gradients).", "Chen et al. 2016; HF gradient_checkpointing"),
});

export type TrainConfig = z.output<typeof trainSchema>;

export const trainSection = {
  title: "Training run and optimizer",
  prefix: "",
  schema: trainSchema,
};

/** AdamW's settings from the train config. */
export function adamConfig(t: { adamBeta1: number; adamBeta2: number; adamEps: number; weightDecay: number }): AdamWConfig {
  return { beta1: t.adamBeta1, beta2: t.adamBeta2, eps: t.adamEps, weightDecay: t.weightDecay };
}
