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
 * on a frozen base and writes an adapter folder (the LoRA keys are aha train's). `--resume RUN_DIR` continues a run exactly from its
 * latest checkpoint (its config.json; flags given with --resume override it, e.g. a larger --steps).
 * Ctrl-C finishes the step, saves a checkpoint and marks the run stopped.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { UserError } from "../errors.js";
import { ChatTemplate } from "../formats/chat-template.js";
import { LoraSet, type LoraTarget } from "../model/lora.js";
import { trainSection } from "../rl/config.js";
import { adamConfig, fullPolicy, loraPolicy } from "../rl/policy.js";
import { readSftRows, sft, sftSection, type SftExample } from "../rl/sft.js";
import type { Policy } from "../rl/trainer.js";
import { encodePrompt, loadFolder } from "../rollout/folder.js";
import { installInterrupt } from "../runs/interrupt.js";
import { Progress } from "../runs/progress.js";
import { RunDir, defaultRunName } from "../runs/run-dir.js";
import { TEMPLATE_NAMES, renderPrompt } from "../tasks/templates.js";
import { defineConfig, field } from "../util/config.js";
import { precisionField } from "./flags.js";
import { trainSpec } from "./train.js";

export const summary = "supervised fine-tuning on JSONL prompt/response pairs (loss on the response), full or LoRA";

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
  check: (c: { model: string | null }) => (c.model === null ? ["sft needs --model DIR (a Hugging Face model folder)"] : []),
};

/** The same LoRA keys as aha train (lora-rank 0 = full fine-tuning). */
const loraSection = trainSpec.sections.lora;

const spec = defineConfig({ model: sftModelSection, sft: sftSection, lora: loraSection, train: trainSection });
type Config = ReturnType<typeof spec.resolve>;

const USAGE = `Usage: aha sft --model DIR --data FILE.jsonl [--config FILE.yaml] [--run-dir DIR] [options]
       aha sft --resume RUN_DIR [options that override the run's config, e.g. --steps]

Supervised fine-tuning: cross-entropy on the response tokens of {prompt, response} JSONL rows.
Writes a run directory (default runs/<date>-sft-<model>): config.json, status.json, metrics.jsonl
(loss, grad_norm, lr, tokens_per_s/train, seconds/step) and checkpoints/step-N/ (model/ as a Hugging
Face folder, or a PEFT adapter folder with --lora-rank; optimizer.safetensors; state.json).
Ctrl-C saves a checkpoint and stops; --resume RUN_DIR continues exactly.`;

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

/** argv → the resolved config: defaults < a resumed run's config.json < --config file < flags. */
export function resolveSftConfig(argv: readonly string[], readFile: (p: string) => string = (p) => fs.readFileSync(p, "utf8")): Config | null {
  const args = spec.parseArgs(argv);
  if (args.help) return null;
  if (args.positionals.length > 0) throw new UserError(`unexpected argument '${args.positionals[0]}'`, "aha sft --help lists the options");
  const given = new Map<string, { value: unknown; origin: string }>();
  const resume = args.flags.get("resume");
  if (typeof resume === "string" && !/^(none|null)$/i.test(resume)) {
    const file = path.join(resume, "config.json");
    let flat: Record<string, unknown>;
    try {
      flat = JSON.parse(readFile(file)) as Record<string, unknown>;
    } catch (e) {
      throw new UserError(`--resume ${resume}: cannot read ${file} (${(e as Error).message})`, "give the folder of a run started by aha sft");
    }
    for (const [k, v] of Object.entries(flat)) if (v !== null && spec.fields.has(k)) given.set(k, { value: v, origin: file });
  }
  if (args.configFile !== null) {
    let text: string;
    try {
      text = readFile(args.configFile);
    } catch (e) {
      throw new UserError(`--config ${args.configFile}: cannot read the file (${(e as Error).message})`);
    }
    for (const [k, v] of spec.parseYaml(text, args.configFile)) given.set(k, v);
  }
  return spec.resolve({ yaml: given, flags: args.flags });
}

export async function run(argv: string[]): Promise<number> {
  const config = resolveSftConfig(argv);
  if (config === null) {
    process.stdout.write(spec.help(USAGE));
    return 0;
  }

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
  if (config.lora.rank > 0) {
    const lora = new LoraSet(model, { rank: config.lora.rank, alpha: config.lora.alpha ?? 2 * config.lora.rank, dropout: config.lora.dropout, targets: config.lora.targets as LoraTarget[] }, { seed: config.train.seed });
    lora.init(config.train.seed);
    lora.attach();
    policy = loraPolicy(lora, adam, { reference: false, baseModel: path.resolve(modelDir) });
  } else {
    policy = fullPolicy(model, adam, { reference: false, saveOptions: { rawConfig: lf.loaded.rawConfig, copyFrom: modelDir, generation: lf.loaded.generation } });
  }

  // ---- run directory
  let runDir: RunDir;
  let resume: { dir: string; state: { step: number; [k: string]: unknown } } | null = null;
  const flat = spec.toFlat(config);
  for (const k of ["run-dir", "name", "resume"]) flat[k] = null; // where a run lives is not part of what it is
  if (config.model.resume !== null) {
    try {
      const r = RunDir.resume(config.model.resume);
      runDir = r.run;
      resume = r.checkpoint;
    } catch (e) {
      throw new UserError(`--resume ${config.model.resume}: ${(e as Error).message}`);
    }
  } else {
    const out = config.model.runDir ?? path.join("runs", config.model.name ?? defaultRunName(`sft-${path.basename(path.resolve(modelDir))}`));
    if (fs.existsSync(path.join(out, "status.json"))) throw new UserError(`${out} already holds a run`, `continue it with --resume ${out}, or choose another --run-dir / --name`);
    runDir = RunDir.create(out, flat, { total_steps: config.train.steps, kind: "sft", task: path.basename(config.sft.data!), model: modelDir });
  }

  const ctl = new AbortController();
  const uninstall = installInterrupt(ctl);
  const progress = new Progress({ total: config.train.steps, label: "sft step", stream: process.stderr }, resume?.state.step ?? 0);
  process.stderr.write(`aha sft: ${examples.length} examples, ${config.train.steps} steps of ${config.sft.batchSize}, ${config.lora.rank === 0 ? "full fine-tuning" : `LoRA r=${config.lora.rank}`}; run directory ${runDir.dir}\n`);
  try {
    const res = await sft({
      sft: config.sft, train: config.train, examples, policy, run: runDir, resume, signal: ctl.signal, progress,
      warn: (m) => process.stderr.write(`aha sft: ${m}\n`),
    });
    const last = res.metrics.at(-1);
    process.stdout.write(`${res.stopped ? "stopped" : "finished"} at step ${res.steps}${last ? `, loss ${last["loss"]!.toFixed(4)}` : ""}; checkpoints in ${path.join(runDir.dir, "checkpoints")}\n`);
    if (res.stopped) {
      process.stdout.write(`continue with: aha sft --resume ${runDir.dir}\n`);
      return 130;
    }
    return 0;
  } catch (e) {
    if (runDir.getStatus().state !== "crashed") runDir.setState("crashed", (e as Error).message);
    throw e;
  } finally {
    uninstall();
  }
}
