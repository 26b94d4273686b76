/**
 * The RL layer: advantage estimators, GAE and the value loss (PPO with a critic), the one objective
 * with its switches, presets, batch shaping, the step's stages, the loop every run shares, the RL
 * trainer and SFT.
 */
export { computeAdvantages, ADVANTAGE_ESTIMATORS, STD_SCALES, type AdvantageEstimator, type StdScale, type Advantages } from "./advantages.js";
export { policyObjective, klPerToken, type ObjectiveSettings, type ObjectiveInput, type ObjectiveOutput, type LossAggregation, type KlEstimator, type RatioLevel } from "./objective.js";
export { gae, decoupledGae, vapoLambda, maskedWhiten, maskedSummary, explainedVariance, WHITEN_EPS, type GaeInput, type GaeOptions, type GaeOutput, type GaeStats, type DecoupledGaeOptions, type Lambda } from "./gae.js";
export { criticValues, gaeAdvantages, updateCritic, type Critic, type CriticStats } from "./critic.js";
export { valueLoss, type ValueLossSettings, type ValueLossInput, type ValueLossOutput, type ValueLossStats } from "./value-loss.js";
export { PRESETS, PRESET_NAMES, CRITIC_SETTINGS, type PresetName, type AdvantageSetting, type CriticSetting } from "./presets.js";
export { rlSection, trainSection, ADVANTAGE_SETTINGS, type RlConfig, type TrainConfig } from "./config.js";
export { overlongPenalty, zeroVarianceGroups, recheckShare } from "./shaping.js";
export { train, objectiveSettings, isTimingKey, DEFAULT_STAGES, type Stages, type TrainerOptions, type TrainerResult } from "./trainer.js";
export { collect, score, selectGroups, makeBatch, reference, advantages, update, meanKl, canFuseOld, type StepContext, type Sample, type Batch, type LogProbs, type AdvantageOut, type UpdateStats, type Phases, type TrainerTokenizer } from "./stages.js";
export { runLoop, hooksOf, restoreCheckpoint, scheduleOf, type LoopOptions, type LoopResult, type RunHooks, type StepReport, type CheckpointComponent, type ResumeFrom, type RunSink, type ProgressSink, type MetricsRow, type SampleRow, type CheckpointState } from "./loop.js";
export { fullPolicy, loraPolicy, valueCritic, adamConfig, policyComponent, criticComponent, saveOptimizerStates, loadOptimizerStates, type Policy } from "./policy.js";
export { sft, sftSection, readSftRows, type SftConfig, type SftExample, type SftOptions } from "./sft.js";
export { weightSyncStage, type WeightSyncOptions, type WeightSync } from "./sync.js";
