// The fixed-sample scenario of fixtures/rl/grpo-step/ (scripts/make_grpo_step_fixture.py): the tiny
// model, a tokenizer over space-separated ids, a task serving the fixture's prompt order and looking up
// its rewards, and a rollout engine that returns the fixture's token ids instead of sampling.
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { readSafetensors } from "../../src/formats/safetensors.js";
import { parseHfConfig } from "../../src/model/config.js";
import { Model } from "../../src/model/model.js";
import { adamConfig, fullPolicy } from "../../src/rl/policy.js";
import type { TrainerOptions } from "../../src/rl/trainer.js";
import type { Completion, RolloutEngine, RolloutRequest } from "../../src/rollout/engine.js";
import type { Problem, Task } from "../../src/tasks/types.js";
import { spec } from "./tiny.js";

export const GRPO_STEP_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "fixtures", "rl", "grpo-step");

export interface ScenarioResponse {
  ids: number[];
  finish: "stop" | "length";
  reward: number;
}

export interface ScenarioStep {
  metrics: Record<string, number>;
  prompts: number[];
  advantages: number[];
}

export interface ScenarioPreset {
  flags: string[];
  stream: number[];
  settings: Record<string, unknown>;
  steps: ScenarioStep[];
}

export interface Scenario {
  eos: number;
  group_size: number;
  max_new_tokens: number;
  prompts: { ids: number[]; responses: ScenarioResponse[] }[];
  presets: Record<string, ScenarioPreset>;
}

export function loadScenario(): Scenario {
  return JSON.parse(fs.readFileSync(path.join(GRPO_STEP_DIR, "scenario.json"), "utf8")) as Scenario;
}

/** The fixture model with its starting weights. */
export function scenarioModel(): Model {
  const file = path.join(GRPO_STEP_DIR, "config.json");
  const model = new Model(parseHfConfig(JSON.parse(fs.readFileSync(file, "utf8")), file));
  const w = readSafetensors(path.join(GRPO_STEP_DIR, "model.safetensors")).tensors;
  for (const s of model.table.specs) {
    const t = w.get(s.name);
    if (!t || t.data.length !== s.size) throw new Error(`fixture weights: '${s.name}' missing or mis-sized`);
    model.params.view(s.name).set(t.data);
  }
  model.params.markChanged();
  return model;
}

/** Expected weights by "step<k>.<tensor name>". */
export function expectedWeights(preset: string): Map<string, Float32Array> {
  const t = readSafetensors(path.join(GRPO_STEP_DIR, `${preset}.safetensors`)).tensors;
  return new Map([...t].map(([k, v]) => [k, v.data]));
}

/** A rollout engine that answers each prompt with the fixture's responses; counts its calls. */
export class FixedEngine implements Pick<RolloutEngine, "logprobKind" | "generate"> {
  readonly logprobKind = "none" as const;
  calls = 0;
  private readonly byPrompt = new Map<string, ScenarioResponse[]>();
  constructor(private readonly sc: Scenario) {
    for (const p of sc.prompts) this.byPrompt.set(p.ids.join(" "), p.responses);
  }
  async generate(requests: readonly RolloutRequest[]): Promise<Completion[][]> {
    this.calls++;
    return requests.map((r) => {
      const key = Array.from(r.promptIds).join(" ");
      const resps = this.byPrompt.get(key);
      if (!resps) throw new Error(`FixedEngine: unknown prompt ${key}`);
      if (r.n !== this.sc.group_size) throw new Error(`FixedEngine: n = ${r.n}, the fixture has G = ${this.sc.group_size}`);
      if (r.maxNewTokens !== this.sc.max_new_tokens) throw new Error(`FixedEngine: maxNewTokens ${r.maxNewTokens} != ${this.sc.max_new_tokens}`);
      if (!r.stopTokenIds?.includes(this.sc.eos)) throw new Error("FixedEngine: EOS is not a stop token");
      return resps.map((c, j) => ({ requestIndex: 0, sampleIndex: j, tokenIds: Int32Array.from(c.ids), logprobs: null, finishReason: c.finish }));
    });
  }
}

/**
 * Trainer options for one preset of the fixture: the config from its flags (plus `extra`), the fixture
 * model as a full fine-tuning policy, the fixed engine, and a task whose stream serves the preset's
 * prompt order and whose score is the fixture's task reward of that response.
 */
export function scenarioOptions(sc: Scenario, preset: string, extra: string[] = []) {
  const p = sc.presets[preset];
  if (!p) throw new Error(`fixture has no preset ${preset}`);
  const c = spec.fromArgv([...p.flags, ...extra], () => "").config;
  const model = scenarioModel();
  const policy = fullPolicy(model, adamConfig(c.train), { reference: c.rl.klCoef !== 0 });
  const engine = new FixedEngine(sc);
  const rewards = new Map<string, number>();
  sc.prompts.forEach((pr, i) =>
    pr.responses.forEach((r) => {
      const body = r.finish === "stop" ? r.ids.slice(0, -1) : r.ids;
      rewards.set(`${i}|${body.join(" ")}`, r.reward);
    }),
  );
  const problem = (k: number): Problem<number> => {
    const i = p.stream[k];
    if (i === undefined) throw new Error(`the task stream has only ${p.stream.length} prompts; the trainer asked for #${k}`);
    return { id: `p${i}`, question: sc.prompts[i]!.ids.join(" "), answer: "", reference: i };
  };
  const task: Task<number> = {
    name: "fixed",
    train: { size: null, get: problem },
    heldOut: () => [],
    score: (text, pr) => {
      const r = rewards.get(`${pr.reference}|${text}`);
      if (r === undefined) throw new Error(`no fixture reward for prompt ${pr.reference} response '${text}'`);
      return { reward: r, parts: {}, correct: r > 0.5, extracted: null, reason: "" };
    },
    defaultTemplate: "none",
  };
  const tokenizer = {
    encode: (t: string) => t.split(" ").map(Number),
    decode: (ids: ArrayLike<number>) => Array.from(ids).join(" "),
    stopTokenIds: [sc.eos],
  };
  const opts: TrainerOptions = { rl: c.rl, train: c.train, task: task as Task<unknown>, template: "none", tokenizer, engine, policy, run: null };
  return { c, opts, model, engine };
}
