/**
 * `aha train`: RL on a Hugging Face model folder (full fine-tuning or LoRA) with the GRPO family, into a
 * run directory (docs/run-directory.md). With no --model it runs the built-in demo (DEMO below): the
 * shipped models/demo-adder learns to add by reasoning, evaluated before and after on 200 held-out
 * problems × 8 samples at T = 1.0, with summary.json at the end.
 *
 * Config: one schema (src/util/config.ts) of the task, rl, train, rollout, model and lora sections;
 * precedence defaults < preset (--algorithm) < the demo's settings (only without --model) < --config
 * file < flags. --resume RUN_DIR takes the run's config.json, flags on top (e.g. more --steps).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { UserError } from "../errors.js";
import { evaluate, type EvalResult } from "../eval/evaluate.js";
import { ChatTemplate } from "../formats/chat-template.js";
import { LoraSet, type LoraTarget } from "../model/lora.js";
import { rlSection, trainSection } from "../rl/config.js";
import { adamConfig, fullPolicy, loraPolicy } from "../rl/policy.js";
import { train, type MetricsRow, type Policy, type TrainerTokenizer } from "../rl/trainer.js";
import { rolloutEngineFromConfig, rolloutSection } from "../rollout/config.js";
import { encodePrompt, loadFolder, type LoadedFolder } from "../rollout/folder.js";
import { installInterrupt } from "../runs/interrupt.js";
import { Progress } from "../runs/progress.js";
import { defaultRunName, RunDir } from "../runs/run-dir.js";
import { rechecks } from "../rl/shaping.js";
import { makeTask, renderPrompt, resolveTemplate, taskSection, type ChatRenderer, type Task, type TemplateName } from "../tasks/index.js";
import { defineConfig, field, type Resolved } from "../util/config.js";
import { precisionField } from "./flags.js";

export const summary = "reinforcement learning (GRPO, DAPO, …) on a model folder; no arguments: the built-in demo";

const LORA_TARGETS = ["q", "k", "v", "o", "gate", "up", "down"] as const;

const runSchema = z.strictObject({
  model: field(z.string().min(1).nullable(), null, { description: "Hugging Face model folder to train (Qwen2/Qwen3/Llama: config.json, *.safetensors, tokenizer.json). none = the built-in demo (models/demo-adder with the demo's settings)." }),
  precision: precisionField,
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

export const trainSpec = defineConfig({
  model: { title: "Model and run", prefix: "", schema: runSchema },
  task: taskSection,
  rl: rlSection,
  train: trainSection,
  rollout: rolloutSection,
  lora: { title: "LoRA", prefix: "lora-", schema: loraSchema },
});
export type TrainCliConfig = Resolved<typeof trainSpec.sections>;

/** The shipped demo model (models/demo-adder at the package root; the same from src/cli and dist/cli). */
export const DEMO_MODEL = fileURLToPath(new URL("../../models/demo-adder", import.meta.url));

/**
 * The built-in demo: GRPO as in MEASUREMENTS.md's trial (16 prompts × 8 samples, std-normalised
 * advantages, clip 0.2, no KL so no reference model, token-mean, zero-variance groups dropped without
 * extra rounds, lr 1e-4). Applied under --config and flags when no --model is given.
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

const USAGE = [
  "Usage: aha train [--config FILE.yaml] [--model DIR] [--task NAME] [--algorithm PRESET] [options]",
  "       aha train                      the built-in demo (~10 minutes on 2 cores)",
  "       aha train --resume RUN_DIR     continue a run from its latest checkpoint",
  "",
  "Without --model, the demo's settings apply under --config and flags:",
  "  " + Object.entries(DEMO).map(([k, v]) => `${k}=${String(v)}`).join(" "),
  "  and the model is models/demo-adder (shipped; made by scripts/make_demo_model.py).",
  "At the end the base and the trained model are evaluated on held-out problems with the same code;",
  "results go to the run directory (summary.json, metrics.jsonl, samples.jsonl, checkpoints/). Watch a",
  "run with `aha dashboard`. Ctrl-C saves a checkpoint and stops; --resume continues exactly.",
].join("\n");

type Given = Map<string, { value: unknown; origin: string }>;

/** argv → the resolved config (the demo's settings under the file and flags when there is no model). */
export function resolveTrainConfig(argv: readonly string[], readFile: (p: string) => string = (p) => fs.readFileSync(p, "utf8")): { config: TrainCliConfig; demo: boolean; help: boolean } {
  const args = trainSpec.parseArgs(argv);
  if (args.help) return { config: undefined as unknown as TrainCliConfig, demo: false, help: true };
  if (args.positionals.length > 0) throw new UserError(`unexpected argument '${args.positionals[0]}' (options are --key value; aha train --help lists them)`);
  const given: Given = new Map();
  const resumeFlag = args.flags.get("resume");
  if (typeof resumeFlag === "string") {
    const file = path.join(resumeFlag, "config.json");
    let flat: Record<string, unknown>;
    try {
      flat = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
    } catch (e) {
      throw new UserError(`--resume ${resumeFlag}: cannot read ${file} (${(e as Error).message})`, "give the folder of a run started by aha train");
    }
    for (const [k, v] of Object.entries(flat)) if (v !== null && trainSpec.fields.has(k)) given.set(k, { value: v, origin: file });
  }
  const yaml = args.configFile !== null ? trainSpec.parseYaml(readConfig(args.configFile, readFile), args.configFile) : new Map();
  for (const [k, v] of yaml) given.set(k, v);
  const hasModel = given.get("model")?.value != null || (args.flags.has("model") && !/^(none|null)$/i.test(String(args.flags.get("model"))));
  const demo = !hasModel || given.get("model")?.value === DEMO_MODEL;
  if (demo) for (const [k, v] of Object.entries(DEMO)) if (!given.has(k)) given.set(k, { value: v, origin: "the demo's settings" });
  const config = trainSpec.resolve({ yaml: given, flags: args.flags });
  if (demo) config.model.model = DEMO_MODEL;
  return { config, demo, help: false };
}

function readConfig(file: string, readFile: (p: string) => string): string {
  try {
    return readFile(file);
  } catch (e) {
    throw new UserError(`--config ${file}: cannot read the file (${(e as Error).message})`);
  }
}

/** The tokenizer as the trainer and the evaluation use it: BOS as the model wants it, special tokens kept in text. */
function tokenizerOf(f: LoadedFolder, template: TemplateName): TrainerTokenizer {
  const tok = f.tokenizer;
  return {
    encode: (text) => encodePrompt(tok, text, template !== "chat"),
    decode: (ids) => tok.decode(Array.from(ids)),
    stopTokenIds: f.stopTokenIds,
  };
}

/** The longest prompt among the held-out problems and the first training problems (sizes the KV cache). */
function longestPrompt(task: Task<unknown>, template: TemplateName, chat: ChatRenderer | undefined, encode: (t: string) => number[], heldOut: number): number {
  const problems = [...task.heldOut(Math.max(heldOut, 50))];
  const n = task.train.size === null ? 512 : Math.min(task.train.size, 512);
  for (let i = 0; i < n; i++) problems.push(task.train.get(i));
  let longest = 1;
  for (const p of problems) longest = Math.max(longest, encode(renderPrompt(template, p.question, chat ? { chat } : {}).prompt).length);
  return longest;
}

interface EvalFigures {
  "pass@1": number;
  [k: string]: number;
}

function figures(r: EvalResult, recheckWords: readonly string[]): EvalFigures {
  const samples = r.rows.flatMap((row) => row.samples);
  const out: EvalFigures = { "pass@1": r.summary["pass@1"] };
  for (const [k, v] of Object.entries(r.summary["pass@k"])) if (k !== "1") out[`pass@${k}`] = v;
  out["length/mean"] = r.summary["length/mean"];
  out["recheck_share"] = samples.filter((s) => rechecks(s.response, recheckWords)).length / Math.max(samples.length, 1);
  return out;
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

export async function run(argv: string[]): Promise<number> {
  const t0 = performance.now();
  const { config: c, demo, help } = resolveTrainConfig(argv);
  if (help) {
    process.stdout.write(trainSpec.help(USAGE));
    return 0;
  }
  const say = (s: string): void => void process.stdout.write(s + "\n");
  const modelDir = c.model.model!;
  if (!fs.existsSync(path.join(modelDir, "config.json"))) throw new UserError(`--model ${modelDir}: not a model folder (no config.json there)`, "give a Hugging Face model folder (config.json, *.safetensors, tokenizer.json)");
  if (!fs.existsSync(path.join(modelDir, "tokenizer.json"))) throw new UserError(`--model ${modelDir}: no tokenizer.json there`, "aha train needs the model's tokenizer.json");

  // ---- task, model, tokenizer
  const task = await makeTask(c.task, c.train.seed);
  const template = resolveTemplate(c.task, task);
  const folder = loadFolder(modelDir, { precision: c.model.precision });
  for (const w of folder.loaded.warnings) process.stderr.write(`aha train: warning: ${w}\n`);
  const chatTpl = template === "chat" ? ChatTemplate.fromTokenizer(folder.tokenizer) : null;
  const chat: ChatRenderer | undefined = chatTpl ? (m) => chatTpl.render(m, { addGenerationPrompt: true }) : undefined;
  const tokenizer = tokenizerOf(folder, template);
  const model = folder.loaded.model;
  const evalMax = c.model.evalMaxTokens ?? c.rl.maxNewTokens;
  const longest = longestPrompt(task, template, chat, tokenizer.encode, c.task.heldOut);
  const context = folder.loaded.config.maxPositionEmbeddings;
  const maxLen = Math.min(context, longest + 16 + Math.max(c.rl.maxNewTokens, evalMax));
  if (longest + c.rl.maxNewTokens > context) throw new UserError(`prompts of up to ${longest} tokens + max-new-tokens ${c.rl.maxNewTokens} exceed the model's context (${context})`);

  // ---- policy
  const reference = c.rl.klCoef !== 0;
  let policy: Policy;
  if (c.lora.rank > 0) {
    const lora = new LoraSet(model, { rank: c.lora.rank, alpha: c.lora.alpha ?? 2 * c.lora.rank, dropout: c.lora.dropout, targets: c.lora.targets as LoraTarget[] }, { seed: c.train.seed });
    lora.init(c.train.seed);
    lora.attach();
    policy = loraPolicy(lora, adamConfig(c.train), { reference, baseModel: path.resolve(modelDir) });
  } else {
    policy = fullPolicy(model, adamConfig(c.train), { reference, saveOptions: { rawConfig: folder.loaded.rawConfig, copyFrom: modelDir } });
  }
  const engine = rolloutEngineFromConfig(c.rollout, {
    model, slots: c.rl.promptsPerStep * c.rl.groupSize, maxLen, decode: (ids) => tokenizer.decode(ids), seed: c.train.seed,
  });

  // ---- run directory
  const label = demo ? "demo" : task.name;
  let runDir: RunDir;
  let checkpoint: ReturnType<typeof RunDir.resume>["checkpoint"] = null;
  let dir: string;
  const flat = trainSpec.toFlat(c);
  for (const k of ["run-dir", "name", "resume"]) flat[k] = null; // where a run lives is not part of what it is
  if (c.model.resume !== null) {
    dir = c.model.resume;
    try {
      const r = RunDir.resume(dir);
      runDir = r.run;
      checkpoint = r.checkpoint;
    } catch (e) {
      throw new UserError(`--resume ${dir}: ${(e as Error).message}`);
    }
  } else {
    dir = c.model.runDir ?? path.join("runs", c.model.name ?? defaultRunName(label));
    try {
      runDir = RunDir.create(dir, flat, { total_steps: c.train.steps, kind: "train", task: task.name, model: demo ? "demo-adder" : path.basename(path.resolve(modelDir)), algorithm: c.rl.algorithm });
    } catch (e) {
      throw new UserError(`${(e as Error).message}`, "choose another --name / --run-dir, or --resume it");
    }
  }
  const startStep = checkpoint?.state.step ?? 0;
  if (startStep >= c.train.steps) {
    runDir.setState("finished");
    throw new UserError(`${dir} has finished its ${startStep} steps`, `give more steps to train further: aha train --resume ${dir} --steps N (N > ${startStep})`);
  }
  // Seconds already spent training in earlier processes (the trainer's clock carries over on resume).
  const before = startStep > 0 ? (runDir.readMetrics().find((m) => m.step === startStep)?.time ?? 0) : 0;
  say(demo
    ? `aha train: the built-in demo — ${path.basename(modelDir)} learns 3-digit addition by GRPO (${c.train.steps} steps of ${c.rl.promptsPerStep} prompts × ${c.rl.groupSize} samples)`
    : `aha train: ${path.basename(path.resolve(modelDir))} on ${task.name} with ${c.rl.algorithm}${c.lora.rank > 0 ? ` + LoRA r=${c.lora.rank}` : ""}, ${c.train.steps} steps`);
  say(`run directory: ${dir}${startStep > 0 ? ` (resuming at step ${startStep})` : ""}`);

  const ctl = new AbortController();
  const uninstall = installInterrupt(ctl);
  const recheckWords = [...c.rl.recheckWords, ...(task.recheckMarkers ?? [])];
  const evalRun = async (name: string): Promise<EvalFigures | null> => {
    if (c.model.evalSamples === 0 || c.task.heldOut === 0) return null;
    const prog = new Progress({ total: c.task.heldOut, label: `evaluating ${name}: question`, stream: process.stderr });
    let correct = 0;
    let seen = 0;
    const r = await evaluate(model, {
      task, questions: c.task.heldOut, template, ...(chat ? { chat } : {}), tokenizer, maxLen, slots: c.rl.promptsPerStep * c.rl.groupSize,
      sampling: { maxTokens: evalMax, samples: c.model.evalSamples, temperature: c.model.evalTemperature, seed: c.train.seed },
      outDir: path.join(dir, "eval", name), model: name,
      onProgress: (done, _n, row) => {
        if (row) {
          correct += row["pass@1"];
          seen++;
        }
        prog.update(done, seen > 0 ? { "pass@1": correct / seen } : {});
      },
    });
    prog.finish();
    const fig = figures(r, recheckWords);
    say(`${name.padEnd(5)} model: pass@1 ${fig["pass@1"].toFixed(3)}  (${r.summary.questions} held-out problems × ${c.model.evalSamples} samples, T=${c.model.evalTemperature})  length ${fig["length/mean"]!.toFixed(1)} tokens  re-checks ${pct(fig["recheck_share"]!)}`);
    return fig;
  };

  try {
    const base = await evalRun("base");
    let last: MetricsRow | null = null;
    const prog = new Progress({ total: c.train.steps, label: "step", stream: process.stderr }, startStep);
    const res = await train({
      rl: c.rl, train: c.train, task, template, ...(chat ? { chat } : {}), tokenizer, engine, policy, run: runDir,
      resume: checkpoint, signal: ctl.signal,
      progress: { update: (d, e) => prog.update(d, { ...e, recheck: last?.["recheck_share"] ?? Number.NaN }), finish: () => prog.finish() },
      onStep: (m) => {
        last = m;
      },
      warn: (msg) => void process.stderr.write(`\naha train: ${msg}\n`),
    });
    if (res.stopped) {
      say(`stopped at step ${res.steps}; checkpoint saved. Continue with: aha train --resume ${dir}`);
      return 130;
    }
    const final = await evalRun("final");
    const wall = before + (performance.now() - t0) / 1000;
    const metrics = runDir.readMetrics();
    const first = metrics[0];
    const end = metrics.slice(-5);
    const avg = (k: string): number => end.reduce((a, m) => a + (m[k] ?? 0), 0) / Math.max(end.length, 1);
    runDir.writeSummary({ ...(base ? { base } : {}), ...(final ? { final } : {}), steps: res.steps, wall_seconds: Math.round(wall * 10) / 10 });
    if (first) say(`training: accuracy ${pct(first["accuracy"] ?? 0)} → ${pct(avg("accuracy"))}, length ${(first["length/mean"] ?? 0).toFixed(1)} → ${avg("length/mean").toFixed(1)} tokens, re-check share ${pct(first["recheck_share"] ?? 0)} → ${pct(avg("recheck_share"))} (step 1 → mean of the last ${end.length})`);
    if (base && final) say(`pass@1 on held-out problems: ${base["pass@1"].toFixed(3)} → ${final["pass@1"].toFixed(3)} (${final["pass@1"] >= base["pass@1"] ? "+" : ""}${(100 * (final["pass@1"] - base["pass@1"])).toFixed(1)} points)`);
    say(`done in ${(wall / 60).toFixed(1)} min. Results: ${path.join(dir, "summary.json")}, metrics.jsonl, samples.jsonl, checkpoints/`);
    const parent = path.dirname(path.resolve(dir));
    const dash = parent === path.resolve("runs") ? "aha dashboard" : `aha dashboard ${parent}`;
    say(`look at it: ${dash}   (curves, samples, base vs final; responses also in ${path.join(dir, "samples.jsonl")})`);
    return 0;
  } catch (e) {
    if (runDir.getStatus().state === "running") runDir.setState("crashed", (e as Error).message);
    throw e;
  } finally {
    uninstall();
    await engine.close();
  }
}
