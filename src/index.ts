/**
 * aha's public entry. Export groups, by layer (docs/layers.md; this file may import any layer but cli):
 * - kernels:  the compute backend interface and the backend in use
 * - model:    the Llama/Qwen2/Qwen3 transformer, its value model (PPO critic), optimizer, KV-cache sampling, LoRA
 * - formats:  safetensors, Hugging Face model folders, tokenizers, chat templates, PEFT adapter folders
 * - rewards:  verifiers (math, Countdown, Knights & Knaves, format, language, code in a sandbox)
 * - tasks:    prompt sources (the Countdown and K&K generators among them), templates, held-out splits
 * - env:      environments and tools for multi-turn episodes (calculator, python, search; docs/tools.md)
 * - rollout:  sampling engines behind one interface (local, remote OpenAI-compatible)
 * - runs:     the run directory
 * - rl:       advantages, the one objective with its switches, presets, the trainer, SFT
 * - eval:     pass@k, maj@k, evaluation of a model or an endpoint
 * - serve:    the OpenAI-compatible server
 * - runner:   a run from a config, without the CLI: prepareTrainRun, prepareSftRun (docs/library.md),
 *             sampleFromConfig / runSample (aha sample), parsePipeline + runPipeline (aha pipeline; docs/pipeline.md)
 * - errors:   AhaError / UserError
 */
export type { Backend, MatmulOptions, F32, BF16 } from "./kernels/backend.js";
export { getBackend, tsBackend } from "./kernels/index.js";

export { Model, type KVCache, type Precision, type ModelOptions } from "./model/model.js";
export { parseHfConfig, parseHfHead, type ModelConfig, type ModelHead } from "./model/config.js";
export { ValueModel, type ValueModelOptions, type ValueHeadInit } from "./model/value.js";
export { AdamW, clipGradNorm, lrAt } from "./model/optim.js";
export { generate, generateStream, generateFullRecompute, BatchSampler, type SampleRequest, type SampleOutput } from "./model/sample.js";
export { LoraSet, type LoraConfig, type LoraTarget } from "./model/lora.js";

export { SafetensorsFile, SafetensorsCheckpoint, writeSafetensors, writeShardedSafetensors, readSafetensors } from "./formats/safetensors.js";
export { loadHfModel, loadHfValueModel, saveHfModel, readHfConfig, readGenerationConfig, type LoadedHfModel, type LoadedHfValueModel } from "./formats/hf.js";
export { HfTokenizer, StreamDecoder } from "./formats/tokenizer.js";
export { ChatTemplate, type ChatMessage } from "./formats/chat-template.js";
export { loadPeftAdapter, readPeftConfig, savePeftAdapter } from "./formats/peft.js";

export * from "./rewards/index.js";
export { codeReward } from "./rewards/code/index.js";

export * from "./tasks/index.js";
export * from "./rl/index.js";

export * from "./env/index.js";

export type { RolloutEngine, RolloutRequest, Completion } from "./rollout/engine.js";
export { EpisodeRunner, toolMetrics, turnEndIds, type EpisodeSetup, type EpisodeSpec } from "./rollout/episode.js";
export { episodeSetup } from "./rollout/episode-setup.js";
export { LocalRolloutEngine } from "./rollout/local.js";
export { createRolloutEngine } from "./rollout/factory.js";
export { pushWeights, updateRequest, type PushOptions, type PushResult, type SyncProtocol } from "./rollout/sync.js";

export { passAtK, majorityCorrect, meanPassAt1, meanPassAtK } from "./eval/metrics.js";
export { evaluate, runEval, type EvalResult } from "./eval/evaluate.js";

export { RunDir } from "./runs/run-dir.js";
export { startServer, OpenAIServer } from "./serve/server.js";

export * from "./runner/index.js";

export { AhaError, UserError } from "./errors.js";
