/** What the train and sft runs set up the same way: resuming a run directory, and the policy. */
import { UserError } from "../errors.js";
import type { saveHfModel } from "../formats/hf.js";
import { LoraSet, type LoraTarget } from "../model/lora.js";
import type { Model } from "../model/model.js";
import { ValueModel } from "../model/value.js";
import type { Critic } from "../rl/critic.js";
import { adamConfig, fullPolicy, loraPolicy, valueCritic, type Policy } from "../rl/policy.js";
import type { TrainConfig } from "../rl/config.js";
import type { CheckpointState } from "../runs/checkpoint.js";
import { RunDir } from "../runs/run-dir.js";
import type { TrainRunConfig } from "./config.js";
import type { Reporter } from "./reporter.js";

export type Checkpoint = { dir: string; state: CheckpointState };

/** Reopens a run from its newest usable checkpoint (a model folder and optimizer.safetensors); errors name the setting. */
export function resumeRunDir(dir: string, reporter: Reporter, extra: readonly string[] = []): { runDir: RunDir; checkpoint: Checkpoint | null } {
  try {
    const r = RunDir.resume(dir, { warn: (m) => reporter.warn(`warning: ${m}`), required: ["model", "optimizer.safetensors", ...extra] });
    return { runDir: r.run, checkpoint: r.checkpoint };
  } catch (e) {
    throw new UserError(`resume ${dir}: ${(e as Error).message}`);
  }
}

/** Full fine-tuning, or LoRA adapters on a frozen base (lora-rank > 0), with AdamW from the train config. */
export function buildPolicy(
  model: Model,
  lora: TrainRunConfig["lora"],
  train: TrainConfig,
  o: { reference: boolean; baseModel?: string; saveOptions?: Parameters<typeof saveHfModel>[3] },
): Policy {
  const adam = adamConfig(train);
  if (lora.rank > 0) {
    const set = new LoraSet(model, { rank: lora.rank, alpha: lora.alpha ?? 2 * lora.rank, dropout: lora.dropout, targets: lora.targets as LoraTarget[] }, { seed: train.seed });
    set.init(train.seed);
    set.attach();
    return loraPolicy(set, adam, { reference: o.reference, ...(o.baseModel !== undefined ? { baseModel: o.baseModel } : {}) });
  }
  return fullPolicy(model, adam, { reference: o.reference, ...(o.saveOptions ? { saveOptions: o.saveOptions } : {}) });
}

/**
 * The model's memory settings for training, applied after the policy and the critic exist (the critic
 * copies the base's fp32 weights): gradient checkpointing (`grad-checkpointing`), and with LoRA on a
 * bf16 model the frozen base stored in bf16 only (Model.freezeBaseBf16: half the weights' memory).
 */
export function applyMemorySettings(model: Model, lora: TrainRunConfig["lora"], train: TrainConfig): void {
  model.gradCheckpointing = train.gradCheckpointing;
  // the webgpu backend keeps the fp32 base (a bf16-only base is a host-side path there: docs/webgpu.md)
  if (lora.rank > 0 && model.precision === "bf16" && model.be.name !== "webgpu") model.freezeBaseBf16();
}

/**
 * PPO's critic: a value model whose body starts as a copy of the base (Open-Reasoner-Zero), its head
 * drawn from the seed; with lora-rank > 0 it gets adapters of the same rank and targets (body frozen).
 */
export function buildCritic(model: Model, c: Pick<TrainRunConfig, "lora" | "train">, o: { rawConfig?: Record<string, unknown>; baseModel?: string }): Critic {
  const vm = ValueModel.fromBase(model, { seed: c.train.seed });
  const adam = adamConfig(c.train);
  if (c.lora.rank === 0) return valueCritic(vm, adam, o.rawConfig ? { saveOptions: { rawConfig: o.rawConfig } } : {});
  const lora = new LoraSet(vm.model, { rank: c.lora.rank, alpha: c.lora.alpha ?? 2 * c.lora.rank, dropout: c.lora.dropout, targets: c.lora.targets as LoraTarget[] }, { seed: c.train.seed + 1 });
  lora.init(c.train.seed + 1);
  lora.attach();
  return valueCritic(vm, adam, { lora, ...(o.baseModel !== undefined ? { baseModel: o.baseModel } : {}) });
}
