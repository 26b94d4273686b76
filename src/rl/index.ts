/**
 * The RL layer: advantage estimators, the one objective with its switches, presets, batch shaping,
 * the trainer loop and SFT.
 */
export { computeAdvantages, ADVANTAGE_ESTIMATORS, STD_SCALES, type AdvantageEstimator, type StdScale, type Advantages } from "./advantages.js";
export { policyObjective, klPerToken, type ObjectiveSettings, type ObjectiveInput, type ObjectiveOutput, type LossAggregation, type KlEstimator, type RatioLevel } from "./objective.js";
export { PRESETS, PRESET_NAMES, type PresetName } from "./presets.js";
export { rlSection, trainSection, type RlConfig, type TrainConfig } from "./config.js";
export { overlongPenalty, zeroVarianceGroups, recheckShare } from "./shaping.js";
export { train, objectiveSettings, isTimingKey, type TrainerOptions, type TrainerResult, type Policy, type TrainerTokenizer, type RolloutLike, type RunSink, type ProgressSink, type MetricsRow, type SampleRow } from "./trainer.js";
export { fullPolicy, loraPolicy, adamConfig } from "./policy.js";
export { sft, sftSection, readSftRows, type SftConfig, type SftExample, type SftOptions } from "./sft.js";
