/**
 * Supervised fine-tuning as a library call: `prepareSftRun(settings)` loads the model folder, reads and
 * tokenizes the {prompt, response} rows, builds the policy (full or LoRA) and the run directory (new or
 * resumed); `run.run()` trains (src/rl/sft.ts on the shared loop). `aha sft` is this plus argv parsing.
 *
 * Each row's prompt goes through the template (none: as is; r1-zero: the R1-Zero text, whose "<think>"
 * tail starts the response; chat: the model's chat template with the generation prompt) and is encoded
 * with the tokenizer's special tokens; the response is encoded plainly and ends with the EOS token (the
 * chat template's end of turn for Qwen-style tokenizers), so the model learns to stop.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../errors.js";
import { ChatTemplate } from "../formats/chat-template.js";
import type { LoopResult, MetricsRow } from "../rl/loop.js";
import type { Policy } from "../rl/policy.js";
import { readSftRows, sft, type SftExample } from "../rl/sft.js";
import { encodePrompt, loadFolder } from "../rollout/folder.js";
import { defaultRunName, RunDir } from "../runs/run-dir.js";
import { renderPrompt, type TemplateName } from "../tasks/templates.js";
import { resolveSftSettings, sftSpec, toSources, type SettingsSources, type SftRunConfig } from "./config.js";
import { applyMemorySettings, buildPolicy, resumeRunDir } from "./common.js";
import { quietReporter, type Reporter } from "./reporter.js";

export interface PrepareSftOptions {
  reporter?: Partial<Reporter>;
  signal?: AbortSignal;
  onStep?: (m: MetricsRow) => void;
}

/** Tokenizes the rows: prompt (templated, special tokens) + response (plain) + the end token. */
export function tokenizeRows(
  rows: readonly { prompt: string; response: string }[],
  o: { template: TemplateName; encode: (text: string, special: boolean) => number[]; chat: ((q: string) => string) | null; endId: number | null },
): SftExample[] {
  return rows.map((r) => {
    const prompt = o.template === "chat" ? o.encode(o.chat!(r.prompt), false) : o.encode(renderPrompt(o.template, r.prompt).prompt, true);
    const response = o.encode(r.response, false);
    if (o.endId !== null) response.push(o.endId);
    return { prompt, response };
  });
}

export class SftRun {
  constructor(
    readonly config: SftRunConfig,
    readonly examples: readonly SftExample[],
    readonly policy: Policy,
    readonly runDir: RunDir,
    private readonly checkpoint: { dir: string; state: { step: number; [k: string]: unknown } } | null,
    private readonly reporter: Reporter,
    private readonly o: PrepareSftOptions,
  ) {}

  get dir(): string {
    return this.runDir.dir;
  }

  async run(): Promise<LoopResult> {
    const c = this.config;
    const progress = this.reporter.progress("sft step", c.train.steps, this.checkpoint?.state.step ?? 0);
    try {
      return await sft({
        sft: c.sft, train: c.train, examples: this.examples, policy: this.policy, run: this.runDir, resume: this.checkpoint, progress,
        ...(this.o.signal ? { signal: this.o.signal } : {}), ...(this.o.onStep ? { onStep: this.o.onStep } : {}),
        warn: (m) => this.reporter.warn(m),
      });
    } catch (e) {
      if (this.runDir.getStatus().state !== "crashed") this.runDir.setState("crashed", (e as Error).message);
      throw e;
    }
  }
}

export async function prepareSftRun(settings: Record<string, unknown> | SettingsSources = {}, o: PrepareSftOptions = {}): Promise<SftRun> {
  const c = resolveSftSettings(toSources(settings));
  const reporter: Reporter = { ...quietReporter, ...(o.reporter ?? {}) };

  // ---- model, tokenizer, data
  const modelDir = c.model.model!;
  if (!fs.existsSync(path.join(modelDir, "config.json"))) throw new UserError(`model ${modelDir}: no config.json there (a Hugging Face model folder is needed)`);
  const lf = loadFolder(modelDir, { precision: c.model.precision });
  for (const w of lf.loaded.warnings) reporter.warn(`warning: ${w}`);
  const tok = lf.tokenizer;
  const chatTpl = c.model.template === "chat" ? ChatTemplate.fromTokenizer(tok) : null;
  const rows = readSftRows(c.sft.data!, c.sft.promptField, c.sft.responseField);
  if (rows.length === 0) throw new UserError(`${c.sft.data}: no rows`);
  const endId = tok.eos?.id ?? lf.stopTokenIds[0] ?? null;
  const examples = tokenizeRows(rows, {
    template: c.model.template,
    encode: (t, special) => encodePrompt(tok, t, special),
    chat: chatTpl ? (q) => chatTpl.render([{ role: "user", content: q }], { addGenerationPrompt: true }) : null,
    endId,
  });
  const context = lf.loaded.config.maxPositionEmbeddings;
  examples.forEach((e, i) => {
    if (e.response.length === 0) throw new UserError(`${c.sft.data}: row ${i + 1} has an empty response (and the model has no EOS token)`);
    if (e.prompt.length + e.response.length > context) throw new UserError(`${c.sft.data}: row ${i + 1} is ${e.prompt.length + e.response.length} tokens, longer than the model's context (${context})`);
  });

  // ---- run directory (a broken checkpoint is named before anything runs)
  let runDir: RunDir;
  let checkpoint: { dir: string; state: { step: number; [k: string]: unknown } } | null = null;
  const flat = sftSpec.toFlat(c);
  for (const k of ["run-dir", "name", "resume"]) flat[k] = null; // where a run lives is not part of what it is
  if (c.model.resume !== null) {
    ({ runDir, checkpoint } = resumeRunDir(c.model.resume, reporter));
  } else {
    const out = c.model.runDir ?? path.join("runs", c.model.name ?? defaultRunName(`sft-${path.basename(path.resolve(modelDir))}`));
    if (fs.existsSync(path.join(out, "status.json"))) throw new UserError(`${out} already holds a run`, `continue it with --resume ${out}, or choose another --run-dir / --name`);
    runDir = RunDir.create(out, flat, { total_steps: c.train.steps, kind: "sft", task: path.basename(c.sft.data!), model: modelDir });
  }

  // ---- policy
  const policy = buildPolicy(lf.loaded.model, c.lora, c.train, {
    reference: false, baseModel: path.resolve(modelDir), saveOptions: { rawConfig: lf.loaded.rawConfig, copyFrom: modelDir, generation: lf.loaded.generation },
  });
  applyMemorySettings(lf.loaded.model, c.lora, c.train);
  reporter.warn(`${examples.length} examples, ${c.train.steps} steps of ${c.sft.batchSize}, ${c.lora.rank === 0 ? "full fine-tuning" : `LoRA r=${c.lora.rank}`}; run directory ${runDir.dir}`);
  return new SftRun(c, examples, policy, runDir, checkpoint, reporter, o);
}
