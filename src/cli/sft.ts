/**
 * `aha sft --model DIR --data FILE.jsonl [--config FILE.yaml] [flags]`: supervised fine-tuning on
 * prompt/response pairs (R1's cold start, distillation). The loss is the cross-entropy of the response
 * tokens only (src/rl/sft.ts); the model, optimizer, run directory, checkpoints, metrics and resume are
 * the RL trainer's (docs/run-directory.md, kind "sft").
 *
 * Each row's prompt goes through the template (none: as is; r1-zero: the R1-Zero text, whose "<think>"
 * tail starts the response; chat: the model's chat template with the generation prompt) and is encoded
 * with the tokenizer's special tokens; the response is encoded plainly and ends with the EOS token (the
 * chat template's end of turn for Qwen-style tokenizers), so the model learns to stop.
 *
 * Full fine-tuning writes a Hugging Face folder per checkpoint; `--lora-rank R` trains PEFT adapters
 * on a frozen base and writes an adapter folder. `--resume RUN_DIR` continues a run exactly from its
 * latest checkpoint (its config.json; flags given with --resume override it, e.g. a larger --steps).
 * Ctrl-C finishes the step, saves a checkpoint and marks the run stopped.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { UserError } from "../errors.js";
import { ChatTemplate } from "../formats/chat-template.js";
import { LORA_MODULES, LoraSet, type LoraTarget } from "../model/lora.js";
import { trainSection } from "../rl/config.js";
import { adamConfig, fullPolicy, loraPolicy } from "../rl/policy.js";
import { readSftRows, sft, sftSection, type SftExample } from "../rl/sft.js";
import type { Policy } from "../rl/trainer.js";
import { encodePrompt, loadFolder } from "../rollout/folder.js";
import { installInterrupt } from "../runs/interrupt.js";
import { Progress } from "../runs/progress.js";
import { RunDir, defaultRunName } from "../runs/run-dir.js";
import { TEMPLATE_NAMES, renderPrompt } from "../tasks/templates.js";
import { defineConfig, field } from "./config.js";

export const summary = "supervised fine-tuning on JSONL prompt/response pairs (loss on the response), full or LoRA";

export const sftModelSection = {
  title: "Model and prompts",
  prefix: "",
  schema: z.strictObject({
    model: field(z.string().min(1).nullable(), null, { description: "Hugging Face model folder to fine-tune (required)." }),
    template: field(z.enum(TEMPLATE_NAMES as ["r1-zero", "chat", "none"]), "none", {
      description: "How a row's prompt is rendered: none (as is), r1-zero (the R1-Zero text; the response continues after its '<think>'), chat (the model's chat template with the generation prompt).",
      source: "DeepSeek-R1 (cold start on chat-formatted long CoT)",
    }),
    precision: field(z.enum(["fp32", "bf16"]), "fp32", { description: "Matmul precision: fp32, or bf16 products with fp32 master weights." }),
  }),
  check: (c: { model: string | null }) => (c.model === null ? ["sft needs --model DIR (a Hugging Face model folder)"] : []),
};

const TARGETS = Object.keys(LORA_MODULES) as [LoraTarget, ...LoraTarget[]];

export const loraSection = {
  title: "LoRA (PEFT adapters on a frozen base)",
  prefix: "lora-",
  schema: z.strictObject({
    rank: field(z.int().min(1).nullable(), null, { description: "Adapter rank r; none = full fine-tuning.", source: "LoRA (Hu et al. 2021)" }),
    alpha: field(z.number().gt(0).nullable(), null, { description: "lora_alpha: the update is scaled by alpha / r; none = 2 × rank.", source: "common PEFT recipes: alpha = 2r" }),
    dropout: field(z.number().min(0).lt(1), 0, { description: "Dropout on the adapter input while training (PEFT lora_dropout)." }),
    targets: field(z.array(z.enum(TARGETS)).min(1), [...TARGETS], { description: "Linears that get adapters (q, k, v, o, gate, up, down).", source: "QLoRA: all linear layers" }),
  }),
};

const spec = defineConfig({ model: sftModelSection, sft: sftSection, lora: loraSection, train: trainSection });
type Config = ReturnType<typeof spec.resolve>;

const USAGE = `Usage: aha sft --model DIR --data FILE.jsonl [--config FILE.yaml] [--out RUN_DIR] [options]
       aha sft --resume RUN_DIR [options that override the run's config, e.g. --steps]

Supervised fine-tuning: cross-entropy on the response tokens of {prompt, response} JSONL rows.
Writes a run directory (default runs/<date>-sft-<model>): config.json, status.json, metrics.jsonl
(loss, grad_norm, lr, tokens_per_s/train, seconds/step) and checkpoints/step-N/ (model/ as a Hugging
Face folder, or a PEFT adapter folder with --lora-rank; optimizer.safetensors; state.json).
Ctrl-C saves a checkpoint and stops; --resume RUN_DIR continues exactly.

  --out DIR        the run directory (must not hold a run yet)
  --resume DIR     continue the run in DIR from its latest checkpoint`;

/** Pulls `--name VALUE` / `--name=VALUE` out of argv (run-control flags that are not config keys). */
function takeFlag(argv: string[], name: string): string | null {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === `--${name}`) {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith("--")) throw new UserError(`--${name} needs a folder name`);
      argv.splice(i, 2);
      return v;
    }
    if (a.startsWith(`--${name}=`)) {
      argv.splice(i, 1);
      return a.slice(name.length + 3);
    }
  }
  return null;
}

/** Tokenizes the rows: prompt (templated, special tokens) + response (plain) + the end token. */
export function tokenizeRows(
  rows: readonly { prompt: string; response: string }[],
  o: { template: Config["model"]["template"]; encode: (text: string, special: boolean) => number[]; chat: ((q: string) => string) | null; endId: number | null },
): SftExample[] {
  return rows.map((r) => {
    const prompt =
      o.template === "chat" ? o.encode(o.chat!(r.prompt), false) : o.encode(renderPrompt(o.template, r.prompt).prompt, true);
    const response = o.encode(r.response, false);
    if (o.endId !== null) response.push(o.endId);
    return { prompt, response };
  });
}

export async function run(argvIn: string[]): Promise<number> {
  const argv = [...argvIn];
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(spec.help(USAGE));
    return 0;
  }
  const resumeDir = takeFlag(argv, "resume");
  const outFlag = takeFlag(argv, "out");
  if (resumeDir !== null && outFlag !== null) throw new UserError("give --out or --resume, not both (--resume continues the run where it is)");

  // ---- config: a resumed run starts from its config.json; flags override
  let config: Config;
  if (resumeDir !== null) {
    const file = path.join(resumeDir, "config.json");
    if (!fs.existsSync(file)) throw new UserError(`--resume ${resumeDir}: no config.json there (not a run directory)`);
    const args = spec.parseArgs(argv);
    if (args.configFile !== null) throw new UserError("--config cannot be combined with --resume (the run's config.json is used)");
    config = spec.resolve({ yaml: spec.parseYaml(fs.readFileSync(file, "utf8"), file), flags: args.flags });
  } else {
    config = spec.fromArgv(argv, (f) => fs.readFileSync(f, "utf8")).config;
  }
  const positionals = spec.parseArgs(argv).positionals;
  if (positionals.length > 0) throw new UserError(`unexpected argument '${positionals[0]}'`, "aha sft --help");

  // ---- model, tokenizer, data
  const modelDir = config.model.model!;
  if (!fs.existsSync(path.join(modelDir, "config.json"))) throw new UserError(`--model ${modelDir}: no config.json there (a Hugging Face model folder is needed)`);
  const lf = loadFolder(modelDir, { precision: config.model.precision });
  for (const w of lf.loaded.warnings) process.stderr.write(`aha sft: warning: ${w}\n`);
  const tok = lf.tokenizer;
  const chatTpl = config.model.template === "chat" ? ChatTemplate.fromTokenizer(tok) : null;
  const rows = readSftRows(config.sft.data!, config.sft.promptField, config.sft.responseField);
  if (rows.length === 0) throw new UserError(`${config.sft.data}: no rows`);
  const endId = tok.eos?.id ?? lf.stopTokenIds[0] ?? null;
  const examples = tokenizeRows(rows, {
    template: config.model.template,
    encode: (t, special) => encodePrompt(tok, t, special),
    chat: chatTpl ? (q) => chatTpl.render([{ role: "user", content: q }], { addGenerationPrompt: true }) : null,
    endId,
  });
  const context = lf.loaded.config.maxPositionEmbeddings;
  examples.forEach((e, i) => {
    if (e.response.length === 0) throw new UserError(`${config.sft.data}: row ${i + 1} has an empty response (and the model has no EOS token)`);
    if (e.prompt.length + e.response.length > context) throw new UserError(`${config.sft.data}: row ${i + 1} is ${e.prompt.length + e.response.length} tokens, longer than the model's context (${context})`);
  });

  // ---- policy
  const model = lf.loaded.model;
  const adam = adamConfig(config.train);
  let policy: Policy;
  if (config.lora.rank !== null) {
    const lora = new LoraSet(model, { rank: config.lora.rank, alpha: config.lora.alpha ?? 2 * config.lora.rank, dropout: config.lora.dropout, targets: config.lora.targets }, { seed: config.train.seed });
    lora.init(config.train.seed);
    lora.attach();
    policy = loraPolicy(lora, adam, { reference: false, baseModel: path.resolve(modelDir) });
  } else {
    policy = fullPolicy(model, adam, { reference: false, saveOptions: { rawConfig: lf.loaded.rawConfig, copyFrom: modelDir, generation: lf.loaded.generation } });
  }

  // ---- run directory
  let runDir: RunDir;
  let resume: { dir: string; state: { step: number; [k: string]: unknown } } | null = null;
  if (resumeDir !== null) {
    const r = RunDir.resume(resumeDir);
    runDir = r.run;
    resume = r.checkpoint;
  } else {
    const out = outFlag ?? path.join("runs", defaultRunName(`sft-${path.basename(path.resolve(modelDir))}`));
    if (fs.existsSync(path.join(out, "status.json"))) throw new UserError(`${out} already holds a run`, `continue it with --resume ${out}, or pick another --out`);
    runDir = RunDir.create(out, spec.toFlat(config), { total_steps: config.train.steps, kind: "sft", task: path.basename(config.sft.data!), model: modelDir });
  }

  const ctl = new AbortController();
  const uninstall = installInterrupt(ctl);
  const progress = new Progress({ total: config.train.steps, label: "sft step", stream: process.stderr }, resume?.state.step ?? 0);
  process.stderr.write(`aha sft: ${examples.length} examples, ${config.train.steps} steps of ${config.sft.batchSize}, ${config.lora.rank === null ? "full fine-tuning" : `LoRA r=${config.lora.rank}`}; run directory ${runDir.dir}\n`);
  try {
    const res = await sft({
      sft: config.sft, train: config.train, examples, policy, run: runDir, resume, signal: ctl.signal, progress,
      warn: (m) => process.stderr.write(`aha sft: ${m}\n`),
    });
    const last = res.metrics.at(-1);
    process.stdout.write(`${res.stopped ? "stopped" : "finished"} at step ${res.steps}${last ? `, loss ${last["loss"]!.toFixed(4)}` : ""}; checkpoints in ${path.join(runDir.dir, "checkpoints")}\n`);
    return 0;
  } catch (e) {
    if (runDir.getStatus().state !== "crashed") runDir.setState("crashed", (e as Error).message);
    throw e;
  } finally {
    uninstall();
  }
}
