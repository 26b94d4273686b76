/** The runner: a run (RL or SFT) prepared from a config and executed, without the CLI. */
export { prepareTrainRun, TrainRun, scorerFromConfig, trainerTokenizer, type PrepareTrainOptions, type TrainRunResult, type EvalFigures } from "./train.js";
export { prepareSftRun, SftRun, tokenizeRows, type PrepareSftOptions } from "./sft.js";
export { resolveTrainSettings, resolveSftSettings, trainSpec, sftSpec, DEMO, DEMO_MODEL, DEMOS, TOOLS_DEMO, TOOLS_DEMO_MODEL, type DemoName, type TrainRunConfig, type SftRunConfig, type SettingsSources } from "./config.js";
export { quietReporter, terminalReporter, consoleReporter, type Reporter } from "./reporter.js";
export { sampleFromConfig, runSample, resolveSampleSettings, sampleSpec, uniquePrompts, stepOfModelDir, SAMPLE_FILTERS, type SampleRow as SftSampleRow, type SampleSummary, type SampleOptions, type SampleRunConfig, type SampleFilter } from "./sample.js";
export { parsePipeline, runPipeline, readPipelineStatus, evalStageSpec, STAGE_KINDS, type PipelinePlan, type StagePlan, type PipelineStatus, type StageStatus, type PipelineResult, type StageKind } from "./pipeline.js";
