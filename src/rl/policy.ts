/**
 * The two ways to train a policy, as the trainer's Policy:
 *   full fine-tuning — the optimizer over all weights; the reference (when β > 0) is a frozen copy of
 *                      the starting weights in a second model;
 *   LoRA             — the optimizer over the adapters only; the reference is the same model with the
 *                      adapters switched off (no second copy).
 * Weights are saved as an HF folder (full) or a PEFT adapter folder (LoRA), exactly (fp32).
 *
 * This is the Node side of checkpoints: the policy's and the critic's checkpoint components (weights +
 * optimizer state files) live here, and reach the trainer as `Policy.checkpoint` / `Critic.checkpoint`,
 * so that the trainer, the loop and the stages import no file I/O (they run in a browser: src/play/).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { loadHfWeights, saveHfModel } from "../formats/hf.js";
import { savePeftAdapter } from "../formats/peft.js";
import { readSafetensors, writeSafetensors } from "../formats/safetensors.js";
import type { LoraSet } from "../model/lora.js";
import { Model } from "../model/model.js";
import type { ValueModel } from "../model/value.js";
import type { Critic } from "./critic.js";
import type { CheckpointComponent } from "./loop.js";
import { AdamW, type AdamWConfig } from "../model/optim.js";

export { adamConfig } from "./config.js";

/** The model being trained, its optimizer, its reference and how its weights are saved. */
export interface Policy {
  /** forward/backward of the policy (adapters attached for LoRA). */
  model: Model;
  /** The optimizer over the trainable tensors (the model's arenas, or the LoRA adapters'). */
  optimizer: AdamW;
  /** log π_ref of the targets (tokens, cuSeqlens, targets → (T)); null when there is no reference (β = 0). */
  referenceLogp: ((tokens: Int32Array, cuSeqlens: Int32Array, targets: Int32Array) => Float32Array) | null;
  /** Writes / reads the trainable weights (an HF folder or a PEFT adapter folder). */
  saveWeights(dir: string): void;
  loadWeights(dir: string): void;
  /** What a checkpoint holds of the policy: model/ (saveWeights) and optimizer.safetensors (policyComponent). */
  readonly checkpoint: CheckpointComponent;
}

/** AdamW states (moments under torch's names, distinct across the optimizers) as one safetensors file. */
export function saveOptimizerStates(file: string, optimizers: readonly AdamW[]): void {
  const tensors = optimizers.flatMap((o) => [...o.exportState().tensors]);
  writeSafetensors(file, tensors.map(([name, data]) => ({ name, shape: [data.length], data })));
}

/** Reads the file of saveOptimizerStates back into the optimizers, each at `step`. Errors name the file or tensor. */
export function loadOptimizerStates(file: string, optimizers: readonly AdamW[], step: number): void {
  const tensors = new Map([...readSafetensors(file).tensors].map(([k, v]) => [k, v.data]));
  for (const o of optimizers) o.importState({ step, tensors });
}

/** The policy as a checkpoint component: `model/` (an HF or PEFT adapter folder) and optimizer.safetensors. */
export function policyComponent(policy: Pick<Policy, "optimizer" | "saveWeights" | "loadWeights">): CheckpointComponent {
  return {
    state: () => ({ optimizerStep: policy.optimizer.step }),
    save(dir) {
      policy.saveWeights(path.join(dir, "model"));
      saveOptimizerStates(path.join(dir, "optimizer.safetensors"), [policy.optimizer]);
    },
    load(dir, state) {
      policy.loadWeights(path.join(dir, "model"));
      loadOptimizerStates(path.join(dir, "optimizer.safetensors"), [policy.optimizer], Number(state["optimizerStep"] ?? 0));
    },
  };
}

/** The critic as a checkpoint component: critic/model (its weights), critic/optimizer.safetensors. */
export function criticComponent(critic: Pick<Critic, "optimizers" | "saveWeights" | "loadWeights">): CheckpointComponent {
  return {
    state: () => ({ criticOptimizerStep: critic.optimizers[0]!.step }),
    save(dir) {
      critic.saveWeights(path.join(dir, "critic", "model"));
      saveOptimizerStates(path.join(dir, "critic", "optimizer.safetensors"), critic.optimizers);
    },
    load(dir, state) {
      critic.loadWeights(path.join(dir, "critic", "model"));
      loadOptimizerStates(path.join(dir, "critic", "optimizer.safetensors"), critic.optimizers, Number(state["criticOptimizerStep"] ?? 0));
    },
  };
}


export function fullPolicy(model: Model, adam: AdamWConfig, o: { reference: boolean; saveOptions?: Parameters<typeof saveHfModel>[3] }): Policy {
  let ref: Model | null = null;
  if (o.reference) {
    ref = new Model(model.cfg, { precision: model.precision, backend: model.be });
    model.params.pull();
    ref.params.data.set(model.params.data);
    ref.params.markChanged();
  }
  return withCheckpoint({
    model,
    optimizer: new AdamW(model.params, model.grads, adam, model.be),
    referenceLogp: ref
      ? (tokens, cu, targets) => ref.forward(tokens, cu, targets, { onlyTargets: true }).logp.slice()
      : null,
    saveWeights: (dir) => {
      saveHfModel(dir, model.cfg, model.params, o.saveOptions ?? {});
    },
    loadWeights: (dir) => {
      loadHfWeights(dir, model.params);
      model.params.markChanged();
    },
  });
}

function withCheckpoint(p: Omit<Policy, "checkpoint">): Policy {
  return { ...p, checkpoint: policyComponent(p) };
}

export function loraPolicy(lora: LoraSet, adam: AdamWConfig, o: { reference: boolean; baseModel?: string }): Policy {
  const model = lora.model;
  lora.training = true;
  return withCheckpoint({
    model,
    optimizer: new AdamW(lora.params, lora.grads, adam, model.be),
    referenceLogp: o.reference
      ? (tokens, cu, targets) => {
          lora.enabled = false;
          try {
            return model.forward(tokens, cu, targets, { onlyTargets: true }).logp.slice();
          } finally {
            lora.enabled = true;
          }
        }
      : null,
    saveWeights: (dir) => saveLora(lora, dir, o.baseModel),
    loadWeights: (dir) => loadLora(lora, dir),
  });
}

/** A LoRA set's weights as a PEFT adapter folder, plus its dropout RNG position (exact resume). */
function saveLora(lora: LoraSet, dir: string, baseModel: string | undefined): void {
  savePeftAdapter(lora, dir, baseModel !== undefined ? { baseModel } : {});
  fs.writeFileSync(path.join(dir, "dropout_step.json"), JSON.stringify({ dropoutStep: lora.dropoutStep }));
}

function loadLora(lora: LoraSet, dir: string): void {
  const t = readSafetensors(path.join(dir, "adapter_model.safetensors")).tensors;
  for (const s of lora.table.specs) {
    const x = t.get(s.name);
    if (!x) throw new Error(`${dir}: adapter tensor ${s.name} missing`);
    lora.params.view(s.name).set(x.data);
  }
  const ds = path.join(dir, "dropout_step.json");
  if (fs.existsSync(ds)) lora.dropoutStep = (JSON.parse(fs.readFileSync(ds, "utf8")) as { dropoutStep: number }).dropoutStep;
}

/**
 * PPO's critic (src/rl/critic.ts) over a value model. Full: AdamW over its one arena (body and score
 * head), saved as a Hugging Face token-classification folder (score.weight). LoRA (`lora` given, the
 * adapters attached to vm.model): the body is frozen; AdamW over the adapters and another over the
 * score head (one gradient norm), saved as a PEFT adapter folder plus score.safetensors (the head,
 * which PEFT's token-classification task keeps fully trainable as a module to save). Exact (fp32).
 */
export function valueCritic(vm: ValueModel, adam: AdamWConfig, o: { saveOptions?: Parameters<typeof saveHfModel>[3]; lora?: LoraSet; baseModel?: string } = {}): Critic {
  const base = {
    forward: (tokens: Int32Array, cu: Int32Array) => vm.forward(tokens, cu),
    backward: (dv: Float32Array) => vm.backward(dv),
  };
  const lora = o.lora;
  if (!lora) {
    return withCriticCheckpoint({
      ...base,
      optimizers: [new AdamW(vm.params, vm.grads, adam, vm.model.be)],
      saveWeights: (dir) => {
        saveHfModel(dir, vm.cfg, vm.params, o.saveOptions ?? {});
      },
      loadWeights: (dir) => {
        loadHfWeights(dir, vm.params);
        vm.params.markChanged();
      },
    });
  }
  if (lora.model !== vm.model) throw new Error("valueCritic: the LoRA set must be attached to the value model's body");
  lora.training = true;
  const head = vm.scoreArenas();
  return withCriticCheckpoint({
    ...base,
    optimizers: [new AdamW(lora.params, lora.grads, adam, vm.model.be), new AdamW(head.params, head.grads, adam, vm.model.be)],
    saveWeights: (dir) => {
      saveLora(lora, dir, o.baseModel);
      head.params.pull();
      writeSafetensors(path.join(dir, "score.safetensors"), head.params.table.specs.map((s) => ({ name: s.name, shape: s.shape, data: head.params.view(s.name) })));
    },
    loadWeights: (dir) => {
      loadLora(lora, dir);
      const h = readSafetensors(path.join(dir, "score.safetensors")).tensors;
      for (const s of head.params.table.specs) {
        const x = h.get(s.name);
        if (!x) throw new Error(`${path.join(dir, "score.safetensors")}: tensor ${s.name} missing`);
        head.params.view(s.name).set(x.data);
      }
      vm.params.markChanged();
    },
  });
}

function withCriticCheckpoint(c: Omit<Critic, "checkpoint">): Critic {
  return { ...c, checkpoint: criticComponent(c) };
}
