/**
 * `aha eval`: pass@1 over k samples, unbiased pass@k and maj@k (the R1 protocol) for a model folder or an
 * OpenAI-compatible endpoint, on a built-in task's held-out problems or a dataset file. Writes
 * results.jsonl, summary.json and eval.json to --out (docs/run-directory.md, "aha eval output");
 * running the same command again resumes an interrupted evaluation.
 *
 * Flags, --config FILE.yaml and --help come from one schema (evalSpec; src/util/config.ts). The endpoint
 * keys reuse aha train's rollout-* fields (without the prefix), the dataset fields and --template its
 * task fields, --model/--adapter/--precision the fields of every command that loads a model folder.
 */
import * as path from "node:path";
import { z } from "zod";
import { UserError } from "../errors.js";
import { readDataset, scoreMath } from "../eval/dataset.js";
import { R1_SAMPLING, idsPrompter, runEval, type Prepared } from "../eval/evaluate.js";
import { passKs } from "../eval/summary.js";
import { episodic, toolsSection } from "../env/config.js";
import { ChatTemplate } from "../formats/chat-template.js";
import { HfTokenizer } from "../formats/tokenizer.js";
import { rolloutSchema } from "../rollout/config.js";
import type { RolloutEngine } from "../rollout/engine.js";
import type { EpisodeSetup } from "../rollout/episode.js";
import { episodeSetup } from "../rollout/episode-setup.js";
import { encodePrompt, engineFor, loadFolder } from "../rollout/folder.js";
import { RemoteRolloutEngine } from "../rollout/remote.js";
import { Progress } from "../runs/progress.js";
import { taskSchema } from "../tasks/config.js";
import { makeTask, resolveTemplate, taskSection } from "../tasks/index.js";
import { renderPrompt, type TemplateName } from "../tasks/templates.js";
import type { Problem, Task } from "../tasks/types.js";
import { defineConfig, setting } from "../util/config.js";
import { modelFolderFields, resolveCommand } from "./flags.js";

export const summary = "evaluate a model folder or an OpenAI-compatible endpoint: pass@1 over k samples, pass@k, maj@k";

/** --extra-body JSON → the object, or a message. */
function extraBodyOf(text: string): Record<string, unknown> | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return `--extra-body is not valid JSON: ${(e as Error).message}`;
  }
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : "--extra-body must be a JSON object";
}

/** A local model folder or an endpoint (the endpoint keys are aha train's rollout-* keys without the prefix). */
const modelSchema = z.strictObject({
  ...modelFolderFields,
  endpoint: rolloutSchema.shape.endpoint,
  modelName: rolloutSchema.shape.modelName,
  apiKey: rolloutSchema.shape.apiKey,
  concurrency: rolloutSchema.shape.concurrency.meta({ description: "Endpoint requests in flight (one request per sample)." }),
  retries: rolloutSchema.shape.retries,
  extraBody: setting(z.string().min(1).nullable(), null, `Extra fields (a JSON object) for every endpoint request, e.g. '{"skip_special_tokens":false}' (vLLM, aha serve: keep format tags that are special tokens) or '{"chat_template_kwargs":{...}}'.`),
  slots: setting(z.int().min(1), 64, "Local model: sequences decoded together (KV-cache slots)."),
  tokenizer: setting(z.string().min(1).nullable(), null, "Endpoint with tools: the model's tokenizer folder (tokenizer.json): episodes go to the endpoint as token ids."),
});

function checkModel(c: z.output<typeof modelSchema>): string[] {
  const out: string[] = [];
  if ((c.model === null) === (c.endpoint === null)) out.push("give exactly one of --model DIR or --endpoint URL");
  if (c.endpoint !== null && c.modelName === null) out.push("--endpoint needs --model-name NAME (the model's name at the endpoint)");
  if (c.adapter !== null && c.model === null) out.push("--adapter goes with --model");
  const extra = c.extraBody === null ? {} : extraBodyOf(c.extraBody);
  if (typeof extra === "string") out.push(extra);
  return out;
}

/** A built-in task's held-out problems or a dataset file (the field and template keys are aha train's). */
const problemSchema = z.strictObject({
  task: setting(z.enum(["arithmetic", "countdown", "kk", "codeio", "multiply"]).nullable(), null, "A built-in task whose held-out problems are evaluated (or --dataset FILE); codeio asks both modes of the built-in programs and needs the code sandbox; multiply is the tools demo's (with --tools calculator)."),
  dataset: setting(z.string().min(1).nullable(), null, "JSONL or Parquet rows scored by the math verifier (or --task NAME)."),
  questions: setting(z.int().min(1).nullable(), null, "How many problems; none = 200 for a task, every row of a dataset."),
  questionField: taskSchema.shape.questionField,
  answerField: taskSchema.shape.answerField,
  categoryField: setting(z.string().min(1), "category", "Field of a dataset row holding its category (optional in the file; gives the per-category breakdown)."),
  template: taskSchema.shape.template,
});

const samplingSchema = z.strictObject({
  samples: setting(z.int().min(1), R1_SAMPLING.samples, "Samples per question (pass@1 is their mean; pass@k and maj@k use them all).", "DeepSeek-R1 evaluation protocol"),
  temperature: setting(z.number().min(0), R1_SAMPLING.temperature, "Sampling temperature.", "DeepSeek-R1 evaluation protocol"),
  topP: setting(z.number().gt(0).max(1), R1_SAMPLING.topP, "Nucleus sampling.", "DeepSeek-R1 evaluation protocol"),
  topK: setting(z.int().min(0), 0, "Keep the K most likely tokens; 0 = off."),
  maxTokens: setting(z.int().min(1), 1024, "Most tokens per response."),
  seed: setting(z.int().min(0), R1_SAMPLING.seed, "Each question's seed comes from it and the question's id."),
});

const outSchema = z.strictObject({
  out: setting(z.string().min(1).nullable(), null, "Output folder; none = runs/eval-<model>__<task> (aha dashboard lists it). The same settings resume it."),
});

export const evalSpec = defineConfig({
  model: { title: "Model (a folder, or an OpenAI-compatible endpoint)", prefix: "", schema: modelSchema, check: checkModel },
  problems: {
    title: "Problems", prefix: "", schema: problemSchema,
    check: (c: z.output<typeof problemSchema>) => ((c.task === null) === (c.dataset === null) ? ["give exactly one of --task NAME or --dataset FILE"] : []),
  },
  sampling: { title: "Sampling (the R1 protocol's defaults)", prefix: "", schema: samplingSchema },
  output: { title: "Output", prefix: "", schema: outSchema },
  tools: toolsSection,
});

const USAGE = `Usage: aha eval (--model DIR [--adapter DIR] | --endpoint URL --model-name NAME [--api-key KEY])
                (--task NAME | --dataset FILE) [--config FILE.yaml] [options]

Writes results.jsonl, summary.json and eval.json to --out; running the same command again resumes an
interrupted evaluation. --template auto is the task's own template (r1-zero for a dataset).`;

export async function run(argv: string[]): Promise<number> {
  const c = resolveCommand(evalSpec, "eval", argv);
  if (c === null) {
    process.stdout.write(evalSpec.help(USAGE));
    return 0;
  }
  const sampling = c.sampling;
  const questions = c.problems.questions ?? undefined;
  const template = c.problems.template;

  // ---- problems
  let task: Pick<Task<unknown>, "score" | "stop"> & { name: string };
  let problems: Problem<unknown>[];
  let tpl: TemplateName;
  if (c.problems.task !== null) {
    const cfg = taskSection.schema.parse({ task: c.problems.task });
    const t = await makeTask(cfg, 0);
    task = t;
    problems = t.heldOut(questions ?? 200);
    tpl = resolveTemplate({ ...cfg, template }, t);
  } else {
    const file = c.problems.dataset!;
    const rows = await readDataset(file, { question: c.problems.questionField, answer: c.problems.answerField, category: c.problems.categoryField });
    problems = questions === undefined ? rows : rows.slice(0, questions);
    task = { name: path.basename(file), score: (r, p, ctx) => scoreMath(r, p, ctx.responsePrefix) };
    tpl = template === "auto" ? "r1-zero" : template;
  }

  // ---- engine
  let engine: RolloutEngine;
  let prepare: (p: Problem<unknown>) => Prepared;
  let modelName: string;
  let stopTokenIds: number[] = [];
  let decode: ((ids: Int32Array) => string) | undefined;
  let episodes: EpisodeSetup | null = null;
  const m = c.model;
  const withTools = episodic(c.tools);
  if (withTools && m.model === null && m.tokenizer === null) throw new UserError("tools with --endpoint need --tokenizer DIR (the model's tokenizer folder): episodes continue by token ids");
  if (m.model !== null || withTools) {
    // a local model, or an endpoint spoken to in token ids (episodes)
    const lf = m.model !== null ? loadFolder(m.model, { precision: m.precision, samplePrecision: m.samplePrecision, kvCache: m.kvCache, ...(m.adapter !== null ? { adapter: m.adapter } : {}) }) : null;
    modelName = m.model !== null ? path.basename(path.resolve(m.model)) : m.modelName!;
    for (const w of lf?.loaded.warnings ?? []) process.stderr.write(`aha eval: warning: ${w}\n`);
    const tok = lf?.tokenizer ?? HfTokenizer.fromFolder(m.tokenizer!);
    const chat = tpl === "chat" ? ChatTemplate.fromTokenizer(tok) : null;
    episodes = await episodeSetup(c.tools, { maxNewTokens: sampling.maxTokens, encode: (t) => tok.encode(t, { addSpecialTokens: false }), chatTemplate: chat });
    const vars = episodes?.env.templateVars?.() ?? {};
    prepare = idsPrompter(tpl, (t) => encodePrompt(tok, t, chat === null), chat ? (msgs) => chat.render(msgs, { addGenerationPrompt: true, extra: vars }) : undefined);
    stopTokenIds = lf ? lf.stopTokenIds : tok.eos ? [tok.eos.id] : [];
    decode = (ids) => tok.decode([...ids]); // special tokens kept: they may be the format tags the verifier reads
    const gen = episodes ? episodes.limits.maxTokens : sampling.maxTokens;
    const longest = Math.max(...problems.map((p) => prepare(p).request.promptIds.length));
    if (lf) {
      // the KV cache holds the longest prompt + --max-tokens (or max-episode-tokens), no more
      const context = lf.loaded.config.maxPositionEmbeddings;
      if (longest + gen > context) throw new UserError(`the longest prompt (${longest} tokens) + ${episodes ? "max-episode-tokens" : "--max-tokens"} ${gen} exceed the model's context (${context})`);
      engine = engineFor(lf, { slots: m.slots, maxLen: longest + gen }).engine;
    } else {
      const apiKey = m.apiKey ?? process.env.OPENAI_API_KEY;
      const extraBody = m.extraBody === null ? null : (extraBodyOf(m.extraBody) as Record<string, unknown>);
      engine = new RemoteRolloutEngine({
        baseUrl: m.endpoint!, model: modelName, promptFormat: "ids", logprobs: false, concurrency: m.concurrency, retries: m.retries,
        ...(apiKey ? { apiKey } : {}), ...(extraBody ? { extraBody } : {}),
      });
    }
  } else {
    modelName = m.modelName!;
    const apiKey = m.apiKey ?? process.env.OPENAI_API_KEY;
    const extraBody = m.extraBody === null ? null : (extraBodyOf(m.extraBody) as Record<string, unknown>); // checked by checkModel
    engine = new RemoteRolloutEngine({
      baseUrl: m.endpoint!, model: modelName, promptFormat: "text", logprobs: false, splitN: true, concurrency: m.concurrency, retries: m.retries,
      ...(apiKey ? { apiKey } : {}),
      ...(extraBody ? { extraBody } : {}),
    });
    prepare = (p) => {
      if (tpl === "chat") return { request: { promptIds: [], messages: [{ role: "user", content: p.question }] }, responsePrefix: "" };
      const r = renderPrompt(tpl, p.question);
      return { request: { promptIds: [], promptText: r.prompt }, responsePrefix: r.responsePrefix };
    };
  }

  const out = c.output.out ?? path.join("runs", `eval-${modelName}__${task.name}`.replace(/[^A-Za-z0-9._-]+/g, "_"));
  const progress = new Progress({ total: problems.length, label: "question", stream: process.stderr });
  let correct = 0;
  let seen = 0;
  try {
    const res = await runEval({
      engine, problems, prepare, score: task.score, sampling, stopTokenIds, ...(task.stop ? { stopStrings: task.stop } : {}),
      ...(decode ? { decode } : {}), outDir: out, model: modelName, task: task.name, settings: { template: tpl }, episodes,
      onProgress: (done, _total, row) => {
        if (row) {
          correct += row["pass@1"];
          seen++;
        }
        progress.update(done, seen > 0 ? { "pass@1": correct / seen } : {});
      },
    });
    progress.finish();
    const s = res.summary;
    const ks = passKs(sampling.samples).filter((k) => k > 1).map((k) => `pass@${k} ${s["pass@k"][String(k)]!.toFixed(4)}`).join("  ");
    process.stdout.write(
      `${modelName} on ${task.name}: ${s.questions} questions × ${sampling.samples} samples${res.resumed > 0 ? ` (${res.resumed} resumed)` : ""}\n` +
        `pass@1 ${s["pass@1"].toFixed(4)}  ${ks}  maj@${sampling.samples} ${s["maj@k"].toFixed(4)}  length/mean ${s["length/mean"].toFixed(1)}  truncated ${(100 * s.truncated_frac).toFixed(1)}%\n` +
        (typeof s["tools/calls_per_episode"] === "number"
          ? `tools: ${(s["tools/calls_per_episode"]).toFixed(2)} calls and ${(s["tools/turns_per_episode"] as number).toFixed(2)} turns per episode, ${(s["tools/errors"] as number).toFixed(2)} failed calls, ${(100 * (s["tools/masked_share"] as number)).toFixed(1)}% tool tokens\n`
          : "") +
        `written: ${path.join(out, "summary.json")}, ${path.join(out, "results.jsonl")}\n`,
    );
  } finally {
    progress.finish();
    await engine.close();
  }
  return 0;
}
