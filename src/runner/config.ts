/**
 * What a run is configured by: the sections of `aha train` and `aha sft` (one schema each, src/util/
 * config.ts), the built-in demo's settings, and the resolution every entry point shares —
 *   schema defaults < preset (--algorithm) < a resumed run's config.json < the demo's settings (only
 *   without a model) < a YAML file / a settings object < command-line flags.
 * The CLI turns argv into flags and a file; a library call passes a settings object
 * (`{ model: "…", "group-size": 8 }` or `{ groupSize: 8 }`).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { UserError } from "../errors.js";
import { toolsSection } from "../env/config.js";
import { rewardSection } from "../rewards/config.js";
import { rlSection, trainSection } from "../rl/config.js";
import { sftSection } from "../rl/sft.js";
import { rolloutSection } from "../rollout/config.js";
import { taskSection } from "../tasks/config.js";
import { TEMPLATE_NAMES } from "../tasks/templates.js";
import { defineConfig, field, setting, type ConfigSpec, type Given, type ParsedArgs, type Resolved, type Sections } from "../util/config.js";

/** `precision`: one field for every command that loads a model (the CLI's flags reuse it). */
export const precisionField = setting(z.enum(["fp32", "bf16"]), "fp32", "Matrix products in fp32, or bf16 products with fp32 master weights (train/sft with lora-rank > 0: the frozen base is stored in bf16 only, half the memory).");

/** `sample-precision`: the sampler's matrix products (prefill / decode), apart from training's. */
export const samplePrecisionField = setting(z.enum(["fp32", "bf16"]).nullable(), null,
  "Matrix products of sampling (prefill and decoding): bf16 streams weights packed as bf16 (half the bytes of fp32 per decoding step); none = precision. Training and the trainer's log-probs keep precision.");
/** `kv-cache`: the sampler's KV cache element type. */
export const kvCacheField = setting(z.enum(["fp32", "bf16"]), "fp32",
  "Element type of the sampler's KV cache: bf16 rounds cached keys and values to bf16 (half the bytes each decoding step reads).");

const LORA_TARGETS = ["q", "k", "v", "o", "gate", "up", "down"] as const;

const runSchema = z.strictObject({
  model: field(z.string().min(1).nullable(), null, { description: "Hugging Face model folder to train (Qwen2/Qwen3/Llama: config.json, *.safetensors, tokenizer.json). none = the built-in demo (models/demo-adder with the demo's settings)." }),
  demo: field(z.enum(["adder", "tools"]).nullable(), null, { description: "A built-in demo with its shipped model and settings (instead of --model): adder (3-digit addition: RL finds reasoning and self-checks; what no arguments run) or tools (4-digit × 3-digit products: RL finds the calculator tool)." }),
  precision: precisionField,
  samplePrecision: samplePrecisionField,
  kvCache: kvCacheField,
  runDir: field(z.string().min(1).nullable(), null, { description: "The run directory (none = runs/<name>)." }),
  name: field(z.string().min(1).nullable(), null, { description: "Run name under runs/ (none = <date>-<task>, or <date>-demo)." }),
  resume: field(z.string().min(1).nullable(), null, { description: "Continue the run in this directory from its latest checkpoint (its config.json; flags on top)." }),
  evalSamples: field(z.int().min(0), 8, { description: "Samples per held-out problem in the base and final evaluations (0 = no evaluation). held-out sets the number of problems.", source: "issue 5: 200 held-out problems × 8 samples, T = 1.0" }),
  evalTemperature: field(z.number().min(0), 1, { description: "Sampling temperature of the base and final evaluations." }),
  evalMaxTokens: field(z.int().min(1).nullable(), null, { description: "Longest evaluation response (none = max-new-tokens)." }),
});

const loraSchema = z.strictObject({
  rank: field(z.int().min(0), 0, { description: "LoRA rank r; 0 = full fine-tuning. With LoRA the KL reference is the base (adapters off).", source: "LoRA (Hu et al. 2021)" }),
  alpha: field(z.number().gt(0).nullable(), null, { description: "lora_alpha (scale alpha / r); none = 2 × rank." }),
  dropout: field(z.number().min(0).lt(1), 0, { description: "Dropout on the adapter input while training." }),
  targets: field(z.array(z.enum(LORA_TARGETS)).min(1), [...LORA_TARGETS], { description: "Linear layers that get adapters.", source: "PEFT target_modules; all linears as in QLoRA" }),
});

export const loraSection = { title: "LoRA", prefix: "lora-", schema: loraSchema };

export const trainSpec = defineConfig({
  model: { title: "Model and run", prefix: "", schema: runSchema },
  task: taskSection,
  reward: rewardSection,
  rl: rlSection,
  train: trainSection,
  rollout: rolloutSection,
  lora: loraSection,
  tools: toolsSection,
});
export type TrainRunConfig = Resolved<typeof trainSpec.sections>;

export const sftModelSection = {
  title: "Model, prompts and run",
  prefix: "",
  schema: z.strictObject({
    model: field(z.string().min(1).nullable(), null, { description: "Hugging Face model folder to fine-tune (required)." }),
    template: field(z.enum(TEMPLATE_NAMES as ["r1-zero", "chat", "none"]), "none", {
      description: "How a row's prompt is rendered: none (as is), r1-zero (the R1-Zero text; the response continues after its '<think>'), chat (the model's chat template with the generation prompt).",
      source: "DeepSeek-R1 (cold start on chat-formatted long CoT)",
    }),
    precision: precisionField,
    runDir: field(z.string().min(1).nullable(), null, { description: "The run directory (none = runs/<name>); it must not hold a run yet." }),
    name: field(z.string().min(1).nullable(), null, { description: "Run name under runs/ (none = <date>-sft-<model>)." }),
    resume: field(z.string().min(1).nullable(), null, { description: "Continue the run in this directory from its latest checkpoint (its config.json; flags on top, e.g. more --steps)." }),
  }),
  check: (c: { model: string | null; resume: string | null }) => (c.model === null ? ["sft needs --model DIR (a Hugging Face model folder)"] : []),
};

export const sftSpec = defineConfig({ model: sftModelSection, sft: sftSection, lora: loraSection, train: trainSection });
export type SftRunConfig = Resolved<typeof sftSpec.sections>;

/** The shipped demo model (models/demo-adder at the package root; the same from src/ and dist/). */
export const DEMO_MODEL = fileURLToPath(new URL("../../models/demo-adder", import.meta.url));

/**
 * The built-in demo: GRPO as in MEASUREMENTS.md's trial (16 prompts × 8 samples, std-normalised
 * advantages, clip 0.2, no KL so no reference model, token-mean, zero-variance groups dropped without
 * extra rounds, lr 1e-4). Applied under a config file, a settings object and flags when no model is given.
 */
export const DEMO: Record<string, unknown> = {
  task: "arithmetic",
  template: "none",
  algorithm: "grpo",
  "kl-coef": 0,
  "loss-agg": "token-mean",
  "dynamic-sampling": true,
  "dynamic-sampling-rounds": 0,
  lr: 1e-4,
  // the critic's lr when an algorithm trains one (ppo, orz, vapo): 10× the actor's, as verl's 1e-5 vs 1e-6
  "critic-lr": 1e-3,
  "max-new-tokens": 120,
  "group-size": 8,
  "prompts-per-step": 16,
  steps: 120,
  seed: 0,
  "held-out": 200,
  "eval-samples": 8,
  "eval-temperature": 1,
  "save-every": 20,
};

/** The tools demo's model (models/demo-calculator: made by scripts/make_tools_demo_model.py). */
export const TOOLS_DEMO_MODEL = fileURLToPath(new URL("../../models/demo-calculator", import.meta.url));

/**
 * The tools demo (`aha train --demo tools`): the first demo's GRPO settings on the multiply task with
 * the calculator (plain tags). The base model calls it rarely; RL finds that calling it pays.
 */
export const TOOLS_DEMO: Record<string, unknown> = {
  ...DEMO,
  task: "multiply",
  tools: ["calculator"],
  "tool-format": "tags",
  // a call, its result and the answer take ~30 tokens; a calculator error message ~55 more (one
  // character a token), so an episode with a broken call still has room to answer
  "max-turns": 3,
  "max-new-tokens": 96,
  steps: 60,
};

export type DemoName = "adder" | "tools";
/** The built-in demos: their shipped model, settings and what the start line says they learn. */
export const DEMOS: Record<DemoName, { model: string; settings: Record<string, unknown>; learns: string }> = {
  adder: { model: DEMO_MODEL, settings: DEMO, learns: "learns 3-digit addition" },
  tools: { model: TOOLS_DEMO_MODEL, settings: TOOLS_DEMO, learns: "learns to use a calculator for 4-digit × 3-digit products" },
};

/** Where a run's settings come from, in rising precedence after the schema defaults and presets. */
export interface SettingsSources {
  /** A settings object (library calls): flat keys or camelCase. */
  settings?: Record<string, unknown>;
  /** A YAML file's text and name (--config). */
  file?: { text: string; name: string };
  /** Command-line flags (raw strings). */
  flags?: ParsedArgs["flags"];
}

/** A library call's argument: sources (the CLI: flags and a file), or a settings object. */
export function toSources(x: Record<string, unknown> | SettingsSources): SettingsSources {
  const keys = Object.keys(x);
  const isSources = keys.length > 0 && keys.every((k) => k === "settings" || k === "file" || k === "flags") && ((x as SettingsSources).flags instanceof Map || "settings" in x || "file" in x);
  return isSources ? (x as SettingsSources) : { settings: x as Record<string, unknown> };
}

/** The given values of a run directory's config.json (for --resume). */
function resumedSettings<T extends Sections>(spec: ConfigSpec<T>, dir: string, command: string): Map<string, Given> {
  const file = path.join(dir, "config.json");
  let flat: Record<string, unknown>;
  try {
    flat = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`resume ${dir}: cannot read ${file} (${(e as Error).message})`, `give the folder of a run started by aha ${command}`);
  }
  const out = new Map<string, Given>();
  for (const [k, v] of Object.entries(flat)) if (v !== null && spec.fields.has(k)) out.set(k, { value: v, origin: file });
  return out;
}

function gather<T extends Sections>(spec: ConfigSpec<T>, src: SettingsSources, command: string): { given: Map<string, Given>; flags: ParsedArgs["flags"] } {
  const given = new Map<string, Given>();
  const objGiven = src.settings ? spec.fromObject(src.settings) : new Map<string, Given>();
  const fileGiven = src.file ? spec.parseYaml(src.file.text, src.file.name) : new Map<string, Given>();
  const flags: ParsedArgs["flags"] = src.flags ?? new Map();
  const resume = flags.get("resume") ?? fileGiven.get("resume")?.value ?? objGiven.get("resume")?.value;
  if (typeof resume === "string" && !/^(none|null)$/i.test(resume)) for (const [k, v] of resumedSettings(spec, resume, command)) given.set(k, v);
  for (const [k, v] of fileGiven) given.set(k, v);
  for (const [k, v] of objGiven) given.set(k, v);
  return { given, flags };
}

/**
 * The resolved `aha train` config, and whether it is a built-in demo (no model given, or --demo NAME)
 * and which one (`demoName`; no model and no --demo: the adder).
 */
export function resolveTrainSettings(src: SettingsSources, o: { allowDemo?: boolean } = {}): { config: TrainRunConfig; demo: boolean; demoName: DemoName | null } {
  const { given, flags } = gather(trainSpec, src, "train");
  const isNone = (v: unknown): boolean => v == null || /^(none|null)$/i.test(String(v));
  const model = flags.has("model") ? flags.get("model") : given.get("model")?.value;
  const asked = flags.has("demo") ? flags.get("demo") : given.get("demo")?.value;
  const hasModel = !isNone(model);
  const named = isNone(asked) ? null : (Object.keys(DEMOS).find((d) => d === String(asked)) as DemoName | undefined);
  if (named !== undefined && named !== null && hasModel && path.resolve(String(model)) !== DEMOS[named].model) {
    throw new UserError(`--demo ${named} trains its shipped model (${path.relative(process.cwd(), DEMOS[named].model)}), not --model ${String(model)}`, "leave out one of --demo and --model");
  }
  // a settings object or a resumed run naming a demo's model runs that demo (as before --demo existed)
  const byModel = (Object.keys(DEMOS) as DemoName[]).find((d) => DEMOS[d].model === given.get("model")?.value) ?? null;
  // an unknown --demo name falls through: the schema's check names it below
  const demoName = !(o.allowDemo ?? true) ? null : named === undefined ? null : (named ?? byModel ?? (hasModel ? null : "adder"));
  if (demoName) for (const [k, v] of Object.entries(DEMOS[demoName].settings)) if (!given.has(k) && !flags.has(k)) given.set(k, { value: v, origin: "the demo's settings" });
  const config = trainSpec.resolve({ yaml: given, flags });
  if (demoName) {
    config.model.model = DEMOS[demoName].model;
    config.model.demo = demoName;
  }
  return { config, demo: demoName !== null, demoName };
}

/** The resolved `aha sft` config. */
export function resolveSftSettings(src: SettingsSources): SftRunConfig {
  const { given, flags } = gather(sftSpec, src, "sft");
  return sftSpec.resolve({ yaml: given, flags });
}
