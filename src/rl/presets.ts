/**
 * The named algorithms are settings of the same switches (REFERENCE.md). Each preset sets every
 * switch of the objective and the advantage, and whether a critic is trained, so switching presets
 * never leaves a setting behind. The critic presets (ppo, orz, vapo) also set the critic's settings
 * (γ, λ, value clip, critic lr, …), which the GRPO family leaves at their defaults (unused there).
 */
import type { AdvantageEstimator, StdScale } from "./advantages.js";
import type { KlEstimator, KlPlacement, LossAggregation, RatioLevel } from "./objective.js";

export type PresetName = "grpo" | "dr-grpo" | "dapo" | "rloo" | "reinforce++" | "gspo" | "ppo" | "orz" | "vapo";
export const PRESET_NAMES: readonly PresetName[] = ["grpo", "dr-grpo", "dapo", "rloo", "reinforce++", "gspo", "ppo", "orz", "vapo"];

/** The advantage setting: the critic-free estimators of advantages.ts, or GAE with a value model (gae.ts). */
export type AdvantageSetting = AdvantageEstimator | "gae";
export type CriticSetting = "none" | "value";
export const CRITIC_SETTINGS: readonly CriticSetting[] = ["none", "value"];

/** The switches a preset sets (field names of the rl config section). */
// A type alias (not an interface) so it is assignable to the config machinery's Partial<Record<…>>.
export type PresetValues = {
  advantage: AdvantageSetting;
  scaleRewards: StdScale;
  ratio: RatioLevel;
  clipLow: number;
  clipHigh: number;
  dualClip: number | null;
  lossAgg: LossAggregation;
  klCoef: number;
  klEstimator: KlEstimator;
  klIn: KlPlacement;
  entropyCoef: number;
  dynamicSampling: boolean;
  overlong: "none" | "penalty" | "mask";
  critic: CriticSetting;
  // The critic's settings (set by the critic presets only).
  gamma?: number;
  gaeLambda?: number;
  actorLambda?: number | null;
  vapoAlpha?: number | null;
  gaeWhiten?: boolean;
  valueClip?: number | null;
  criticLr?: number;
  valueWarmupSteps?: number;
  lmLossCoef?: number;
};

export interface PresetInfo {
  description: string;
  source: string;
  values: PresetValues;
}

export const PRESETS: Record<PresetName, PresetInfo> = {
  grpo: {
    description: "GRPO: group-normalised advantages, PPO clip, k3 KL in the loss, per-response token mean.",
    source: "DeepSeekMath (Shao et al. 2024): ε 0.2, β 0.04",
    values: { advantage: "group-mean", scaleRewards: "group", ratio: "token", clipLow: 0.2, clipHigh: 0.2, dualClip: null, lossAgg: "seq-mean-token-mean", klCoef: 0.04, klEstimator: "k3", klIn: "loss", entropyCoef: 0, dynamicSampling: false, overlong: "none", critic: "none" },
  },
  "dr-grpo": {
    description: "Dr. GRPO: no std division, token sum divided by the constant L_max, no KL.",
    source: "Understanding R1-Zero-Like Training (Liu et al. 2025)",
    values: { advantage: "group-mean", scaleRewards: "none", ratio: "token", clipLow: 0.2, clipHigh: 0.2, dualClip: null, lossAgg: "seq-mean-token-sum-norm", klCoef: 0, klEstimator: "k3", klIn: "loss", entropyCoef: 0, dynamicSampling: false, overlong: "none", critic: "none" },
  },
  dapo: {
    description: "DAPO: clip-higher, dynamic sampling, token-level loss, overlong reward shaping, no KL.",
    source: "DAPO (Yu et al. 2025): ε_low 0.2, ε_high 0.28",
    values: { advantage: "group-mean", scaleRewards: "group", ratio: "token", clipLow: 0.2, clipHigh: 0.28, dualClip: null, lossAgg: "token-mean", klCoef: 0, klEstimator: "k3", klIn: "loss", entropyCoef: 0, dynamicSampling: true, overlong: "penalty", critic: "none" },
  },
  rloo: {
    description: "RLOO: leave-one-out baseline, KL (k1) in the reward, sequence-level (token-sum) loss.",
    source: "Back to Basics: REINFORCE for RLHF (Ahmadian et al. 2024); β 0.05 and clip 0.2 as TRL's RLOO trainer",
    values: { advantage: "rloo", scaleRewards: "none", ratio: "token", clipLow: 0.2, clipHigh: 0.2, dualClip: null, lossAgg: "seq-mean-token-sum", klCoef: 0.05, klEstimator: "k1", klIn: "reward", entropyCoef: 0, dynamicSampling: false, overlong: "none", critic: "none" },
  },
  "reinforce++": {
    description: "REINFORCE++: per-token −β·KL reward, return-to-go, advantages whitened over the batch.",
    source: "REINFORCE++ (Hu 2025); β 0.01 and k1 as OpenRLHF's defaults",
    values: { advantage: "reinforce++", scaleRewards: "none", ratio: "token", clipLow: 0.2, clipHigh: 0.2, dualClip: null, lossAgg: "token-mean", klCoef: 0.01, klEstimator: "k1", klIn: "reward", entropyCoef: 0, dynamicSampling: false, overlong: "none", critic: "none" },
  },
  gspo: {
    description: "GSPO: one length-normalised ratio per response, clipped with a very small ε.",
    source: "Group Sequence Policy Optimization (Zheng et al. 2025): ε_low 3e-4, ε_high 4e-4",
    values: { advantage: "group-mean", scaleRewards: "group", ratio: "sequence", clipLow: 3e-4, clipHigh: 4e-4, dualClip: null, lossAgg: "seq-mean-token-mean", klCoef: 0, klEstimator: "k3", klIn: "loss", entropyCoef: 0, dynamicSampling: false, overlong: "none", critic: "none" },
  },
  ppo: {
    description: "PPO with a critic (verl/TinyZero): GAE(γ 1, λ 1) whitened, k1 KL 0.001 in the reward, value clip 0.5, critic lr 1e-5.",
    source: "TinyZero (scripts/train_tiny_zero.sh on its verl verl/trainer/config/ppo_trainer.yaml): algorithm gamma 1.0, lam 1.0, kl_penalty kl, kl_ctrl fixed kl_coef 0.001 (KL in the reward as use_kl_loss is False), actor clip_ratio 0.2, entropy_coeff 0.001, masked-mean (token-mean) loss, critic cliprange_value 0.5, critic optim lr 1e-5 vs actor 1e-6, critic_warmup 0, GAE advantages masked_whiten-ed. Current verl keeps these but defaults use_kl_in_reward False, entropy_coeff 0, clip_ratio_c 3",
    values: { advantage: "gae", scaleRewards: "none", ratio: "token", clipLow: 0.2, clipHigh: 0.2, dualClip: null, lossAgg: "token-mean", klCoef: 0.001, klEstimator: "k1", klIn: "reward", entropyCoef: 0.001, dynamicSampling: false, overlong: "none", critic: "value", gamma: 1, gaeLambda: 1, actorLambda: null, vapoAlpha: null, gaeWhiten: true, valueClip: 0.5, criticLr: 1e-5, valueWarmupSteps: 0, lmLossCoef: 0 },
  },
  orz: {
    description: "Open-Reasoner-Zero: PPO, GAE(γ 1, λ 1) normalised, no KL, value clip 0.2, critic (from the base model) lr 5e-6.",
    source: "Open-Reasoner-Zero (Hu et al. 2025; playground/orz_*_ppo.py, orz/exps/examples/ppo/ppo_base_exp.py): gamma 1.0, lambd 1.0, eps_clip 0.2, value_clip 0.2, init_kl_coef 0 and kl_loss_coef 0, actor_learning_rate 1e-6, critic_learning_rate 5e-6, critic_pretrain = the base model, advantage_normalize True, freezing_actor_steps -1, masked mean over packed sequences",
    values: { advantage: "gae", scaleRewards: "none", ratio: "token", clipLow: 0.2, clipHigh: 0.2, dualClip: null, lossAgg: "token-mean", klCoef: 0, klEstimator: "k3", klIn: "loss", entropyCoef: 0, dynamicSampling: false, overlong: "none", critic: "value", gamma: 1, gaeLambda: 1, actorLambda: null, vapoAlpha: null, gaeWhiten: true, valueClip: 0.2, criticLr: 5e-6, valueWarmupSteps: 0, lmLossCoef: 0 },
  },
  vapo: {
    description: "VAPO: value pretraining, decoupled length-adaptive GAE (λ_actor = 1 − 1/(0.05·l)), clip-higher, LM loss on correct samples.",
    source: "VAPO (Yue et al. 2025, arXiv 2504.05118 §4, §5.1): γ 1.0, value-pretraining 50 steps, λ_critic 1.0, length-adaptive λ_actor with α 0.05, ε_low 0.2, ε_high 0.28, token-level loss, positive-example NLL weight μ 0.1, AdamW lr actor 1e-6 / critic 2e-6, group sampling 512 prompts × 16; no KL. Not stated by VAPO: value clip and advantage whitening (verl's 0.5 and masked_whiten here)",
    values: { advantage: "gae", scaleRewards: "none", ratio: "token", clipLow: 0.2, clipHigh: 0.28, dualClip: null, lossAgg: "token-mean", klCoef: 0, klEstimator: "k3", klIn: "loss", entropyCoef: 0, dynamicSampling: false, overlong: "none", critic: "value", gamma: 1, gaeLambda: 1, actorLambda: null, vapoAlpha: 0.05, gaeWhiten: true, valueClip: 0.5, criticLr: 2e-6, valueWarmupSteps: 50, lmLossCoef: 0.1 },
  },
};
