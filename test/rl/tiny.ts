// A tiny random model on the arithmetic prompts with a toy reward (the share of 7s, so a random model's
// groups have reward variance): shared by the trainer tests and the kill -9 child (train-child.ts).
import type { ModelConfig } from "../../src/model/config.js";
import { LoraSet } from "../../src/model/lora.js";
import { Model } from "../../src/model/model.js";
import { initParams } from "../../src/model/params.js";
import { defineConfig } from "../../src/util/config.js";
import { rlSection, trainSection } from "../../src/rl/config.js";
import { ValueModel } from "../../src/model/value.js";
import { adamConfig, fullPolicy, loraPolicy, valueCritic } from "../../src/rl/policy.js";
import type { TrainerOptions } from "../../src/rl/trainer.js";
import { LocalRolloutEngine } from "../../src/rollout/local.js";
import { ARITH_SPECIAL, ARITH_VOCAB, arithDecode, arithEncode, arithmeticTask } from "../../src/tasks/arithmetic.js";
import type { Task } from "../../src/tasks/types.js";

export const cfg: ModelConfig = {
  architecture: "LlamaForCausalLM", vocabSize: ARITH_VOCAB.length, hiddenSize: 32, intermediateSize: 64, numLayers: 2,
  numHeads: 2, numKvHeads: 2, headDim: 16, ropeTheta: 10000, ropeScaling: null, rmsNormEps: 1e-5, tieWordEmbeddings: true,
  qkvBias: false, oBias: false, mlpBias: false, qkNorm: false, maxPositionEmbeddings: 128, initializerRange: 0.3,
};
export const spec = defineConfig({ rl: rlSection, train: trainSection });
export const tokenizer = {
  encode: (t: string) => [ARITH_SPECIAL.bos, ...arithEncode(t)],
  decode: (ids: ArrayLike<number>) => arithDecode(Array.from(ids).filter((i) => i > ARITH_SPECIAL.eos)),
  stopTokenIds: [ARITH_SPECIAL.eos],
};

export function setup(argv: string[], o: { lora?: boolean; critic?: boolean | "lora" } = {}) {
  const c = spec.fromArgv(["--group-size", "4", "--prompts-per-step", "4", "--max-new-tokens", "12", "--lr", "0.01", "--seed", "3", ...argv], () => "").config;
  const model = new Model(cfg);
  initParams(model.params, cfg, 11);
  let policy;
  if (o.lora) {
    const lora = new LoraSet(model, { rank: 2, alpha: 4, dropout: 0, targets: ["q", "v"] });
    lora.init(5);
    lora.attach();
    policy = loraPolicy(lora, adamConfig(c.train), { reference: c.rl.klCoef !== 0 });
  } else policy = fullPolicy(model, adamConfig(c.train), { reference: c.rl.klCoef !== 0 });
  const engine = new LocalRolloutEngine(model, { slots: 16, maxLen: 32, decode: tokenizer.decode });
  // A random model never adds correctly: score the share of 7s instead, so groups have reward variance.
  const arith = arithmeticTask({ seed: c.train.seed, heldOutPermille: 50 });
  const task: Task<unknown> = {
    ...arith,
    score: (text) => {
      const r = (text.match(/7/g)?.length ?? 0) / Math.max(text.length, 1);
      return { reward: r, parts: { sevens: r, format: text.includes("<think>") ? 1 : 0 }, correct: r > 0.2, extracted: null, reason: "" };
    },
  } as Task<unknown>;
  // PPO's critic: a value model whose body starts as a copy of the policy's (critic = value presets)
  const vm = o.critic ? ValueModel.fromBase(model, { seed: 2 }) : null;
  let criticLora: LoraSet | null = null;
  if (vm && o.critic === "lora") {
    criticLora = new LoraSet(vm.model, { rank: 2, alpha: 4, dropout: 0, targets: ["q", "v"] });
    criticLora.init(6);
    criticLora.attach();
  }
  const critic = vm ? valueCritic(vm, adamConfig(c.train), criticLora ? { lora: criticLora } : {}) : null;
  const opts: TrainerOptions = { rl: c.rl, train: c.train, task, template: "none", tokenizer, engine, policy, run: null, ...(critic ? { critic } : {}) };
  return { c, opts, model, vm, criticLora };
}

