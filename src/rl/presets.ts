/**
 * The named algorithms are settings of the same switches (REFERENCE.md). Each preset sets every
 * switch of the objective and the advantage, so switching presets never leaves a setting behind.
 */
import type { AdvantageEstimator, StdScale } from "./advantages.js";
import type { KlEstimator, KlPlacement, LossAggregation, RatioLevel } from "./objective.js";

export type PresetName = "grpo" | "dr-grpo" | "dapo" | "rloo" | "reinforce++" | "gspo";
export const PRESET_NAMES: readonly PresetName[] = ["grpo", "dr-grpo", "dapo", "rloo", "reinforce++", "gspo"];

/** The switches a preset sets (field names of the rl config section). */
// A type alias (not an interface) so it is assignable to the config machinery's Partial<Record<…>>.
export type PresetValues = {
  advantage: AdvantageEstimator;
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
    values: { advantage: "group-mean", scaleRewards: "group", ratio: "token", clipLow: 0.2, clipHigh: 0.2, dualClip: null, lossAgg: "seq-mean-token-mean", klCoef: 0.04, klEstimator: "k3", klIn: "loss", entropyCoef: 0, dynamicSampling: false, overlong: "none" },
  },
  "dr-grpo": {
    description: "Dr. GRPO: no std division, token sum divided by the constant L_max, no KL.",
    source: "Understanding R1-Zero-Like Training (Liu et al. 2025)",
    values: { advantage: "group-mean", scaleRewards: "none", ratio: "token", clipLow: 0.2, clipHigh: 0.2, dualClip: null, lossAgg: "seq-mean-token-sum-norm", klCoef: 0, klEstimator: "k3", klIn: "loss", entropyCoef: 0, dynamicSampling: false, overlong: "none" },
  },
  dapo: {
    description: "DAPO: clip-higher, dynamic sampling, token-level loss, overlong reward shaping, no KL.",
    source: "DAPO (Yu et al. 2025): ε_low 0.2, ε_high 0.28",
    values: { advantage: "group-mean", scaleRewards: "group", ratio: "token", clipLow: 0.2, clipHigh: 0.28, dualClip: null, lossAgg: "token-mean", klCoef: 0, klEstimator: "k3", klIn: "loss", entropyCoef: 0, dynamicSampling: true, overlong: "penalty" },
  },
  rloo: {
    description: "RLOO: leave-one-out baseline, KL (k1) in the reward, sequence-level (token-sum) loss.",
    source: "Back to Basics: REINFORCE for RLHF (Ahmadian et al. 2024); β 0.05 and clip 0.2 as TRL's RLOO trainer",
    values: { advantage: "rloo", scaleRewards: "none", ratio: "token", clipLow: 0.2, clipHigh: 0.2, dualClip: null, lossAgg: "seq-mean-token-sum", klCoef: 0.05, klEstimator: "k1", klIn: "reward", entropyCoef: 0, dynamicSampling: false, overlong: "none" },
  },
  "reinforce++": {
    description: "REINFORCE++: per-token −β·KL reward, return-to-go, advantages whitened over the batch.",
    source: "REINFORCE++ (Hu 2025); β 0.01 and k1 as OpenRLHF's defaults",
    values: { advantage: "reinforce++", scaleRewards: "none", ratio: "token", clipLow: 0.2, clipHigh: 0.2, dualClip: null, lossAgg: "token-mean", klCoef: 0.01, klEstimator: "k1", klIn: "reward", entropyCoef: 0, dynamicSampling: false, overlong: "none" },
  },
  gspo: {
    description: "GSPO: one length-normalised ratio per response, clipped with a very small ε.",
    source: "Group Sequence Policy Optimization (Zheng et al. 2025): ε_low 3e-4, ε_high 4e-4",
    values: { advantage: "group-mean", scaleRewards: "group", ratio: "sequence", clipLow: 3e-4, clipHigh: 4e-4, dualClip: null, lossAgg: "seq-mean-token-mean", klCoef: 0, klEstimator: "k3", klIn: "loss", entropyCoef: 0, dynamicSampling: false, overlong: "none" },
  },
};
