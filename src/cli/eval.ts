/**
 * `aha eval`: pass@1 over k samples, unbiased pass@k and maj@k (the R1 protocol) for a model folder or an
 * OpenAI-compatible endpoint, on a built-in task's held-out problems or a dataset file. Writes
 * results.jsonl, summary.json and eval.json to --out (docs/run-directory.md, "aha eval output");
 * running the same command again resumes an interrupted evaluation.
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { UserError } from "../errors.js";
import { readDataset, scoreMath } from "../eval/dataset.js";
import { R1_SAMPLING, idsPrompter, runEval, type Prepared } from "../eval/evaluate.js";
import { passKs } from "../eval/summary.js";
import { ChatTemplate } from "../formats/chat-template.js";
import type { RolloutEngine } from "../rollout/engine.js";
import { encodePrompt, engineFor, loadFolder } from "../rollout/folder.js";
import { RemoteRolloutEngine } from "../rollout/remote.js";
import { Progress } from "../runs/progress.js";
import { makeTask, resolveTemplate, taskSection } from "../tasks/index.js";
import type { TaskName } from "../tasks/config.js";
import { TEMPLATE_NAMES, renderPrompt, type TemplateName } from "../tasks/templates.js";
import type { Problem, Task } from "../tasks/types.js";
import { parsePrecision } from "./flags.js";

export const summary = "evaluate a model folder or an OpenAI-compatible endpoint: pass@1 over k samples, pass@k, maj@k";

const HELP = `Usage: aha eval (--model DIR [--adapter DIR] | --endpoint URL --model-name NAME [--api-key KEY])
                (--task NAME | --dataset FILE) [options]

Model:
  --model DIR            Hugging Face model folder
  --adapter DIR          PEFT LoRA adapter folder (with --model)
  --endpoint URL         OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (vLLM, llama.cpp, Ollama, aha serve)
  --model-name NAME      the model's name at the endpoint
  --api-key KEY          bearer key for the endpoint (default: $OPENAI_API_KEY if set)
  --concurrency N        endpoint requests in flight (default 16)
  --retries N            retries on 429 / 5xx / network errors, exponential backoff (default 5)
  --extra-body JSON      extra fields for every endpoint request, e.g. '{"skip_special_tokens":false}' (vLLM, aha
                         serve: keep format tags that are special tokens) or '{"chat_template_kwargs":{...}}'
  --slots N              local: sequences decoded together (default 64)
  --precision P          local: fp32 (default) or bf16
Problems:
  --task NAME            arithmetic, countdown or kk: the task's held-out problems
  --questions N          how many (default 200 for a task; every row of a dataset)
  --dataset FILE         JSONL or Parquet rows scored by the math verifier
  --question-field F     default question
  --answer-field F       default answer
  --category-field F     default category (optional in the file; gives the per-category breakdown)
  --template T           auto (default: the task's own; r1-zero for datasets), r1-zero, chat, none
Sampling (R1 protocol defaults):
  --samples K            samples per question (default 4)
  --temperature T        default 0.6
  --top-p P              default 0.95
  --top-k K              default 0 (off)
  --max-tokens N         most tokens per response (default 1024)
  --seed N               default 0 (each question's seed comes from it and the question's id)
Output:
  --out DIR              default runs/eval-<model>__<task> (aha dashboard lists it); the same settings resume it
  -h, --help             this help
`;

function num(v: string | undefined, flag: string, def: number, ok: (x: number) => boolean, what: string): number {
  if (v === undefined) return def;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x) || !ok(x)) throw new UserError(`--${flag} must be ${what}, got "${v}"`);
  return x;
}
const posInt = (x: number): boolean => Number.isInteger(x) && x >= 1;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: "string" }, adapter: { type: "string" }, endpoint: { type: "string" }, "model-name": { type: "string" },
      "api-key": { type: "string" }, "extra-body": { type: "string" }, concurrency: { type: "string" }, retries: { type: "string" }, slots: { type: "string" },
      precision: { type: "string", default: "fp32" }, task: { type: "string" }, questions: { type: "string" }, dataset: { type: "string" },
      "question-field": { type: "string", default: "question" }, "answer-field": { type: "string", default: "answer" },
      "category-field": { type: "string", default: "category" }, template: { type: "string", default: "auto" },
      samples: { type: "string" }, temperature: { type: "string" }, "top-p": { type: "string" }, "top-k": { type: "string" },
      "max-tokens": { type: "string" }, seed: { type: "string" }, out: { type: "string" }, help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const hint = "aha eval --help";
  if ((values.model === undefined) === (values.endpoint === undefined)) throw new UserError("give exactly one of --model DIR or --endpoint URL", hint);
  if (values.endpoint !== undefined && !values["model-name"]) throw new UserError("--endpoint needs --model-name NAME (the model's name at the endpoint)", hint);
  if (values.adapter !== undefined && values.model === undefined) throw new UserError("--adapter goes with --model", hint);
  if ((values.task === undefined) === (values.dataset === undefined)) throw new UserError("give exactly one of --task NAME or --dataset FILE", hint);
  const template = values.template;
  if (template !== "auto" && !(TEMPLATE_NAMES as readonly string[]).includes(template)) throw new UserError(`--template must be auto, ${TEMPLATE_NAMES.join(", ")}; got ${template}`);
  const precision = parsePrecision(values.precision);
  const sampling = {
    samples: num(values.samples, "samples", R1_SAMPLING.samples, posInt, "a positive integer"),
    temperature: num(values.temperature, "temperature", R1_SAMPLING.temperature, (x) => x >= 0, "a number ≥ 0"),
    topP: num(values["top-p"], "top-p", R1_SAMPLING.topP, (x) => x > 0 && x <= 1, "in (0, 1]"),
    topK: num(values["top-k"], "top-k", 0, (x) => Number.isInteger(x) && x >= 0, "an integer ≥ 0"),
    maxTokens: num(values["max-tokens"], "max-tokens", 1024, posInt, "a positive integer"),
    seed: num(values.seed, "seed", R1_SAMPLING.seed, (x) => Number.isSafeInteger(x) && x >= 0, "a non-negative integer"),
  };
  const questions = values.questions === undefined ? undefined : num(values.questions, "questions", 0, posInt, "a positive integer");

  // ---- problems
  let task: Pick<Task<unknown>, "score" | "stop"> & { name: string };
  let problems: Problem<unknown>[];
  let tpl: TemplateName;
  if (values.task !== undefined) {
    const names = ["arithmetic", "countdown", "kk"];
    if (!names.includes(values.task)) throw new UserError(`--task must be one of ${names.join(", ")} (use --dataset FILE for a file), got ${values.task}`);
    const cfg = taskSection.schema.parse({ task: values.task as TaskName });
    const t = await makeTask(cfg, 0);
    task = t;
    problems = t.heldOut(questions ?? 200);
    tpl = template === "auto" ? resolveTemplate(cfg, t) : (template as TemplateName);
  } else {
    const rows = await readDataset(values.dataset!, { question: values["question-field"], answer: values["answer-field"], category: values["category-field"] });
    problems = questions === undefined ? rows : rows.slice(0, questions);
    task = { name: path.basename(values.dataset!), score: (r, p, ctx) => scoreMath(r, p, ctx.responsePrefix) };
    tpl = template === "auto" ? "r1-zero" : (template as TemplateName);
  }

  // ---- engine
  let engine: RolloutEngine;
  let prepare: (p: Problem<unknown>) => Prepared;
  let modelName: string;
  let stopTokenIds: number[] = [];
  let decode: ((ids: Int32Array) => string) | undefined;
  if (values.model !== undefined) {
    modelName = path.basename(path.resolve(values.model));
    const lf = loadFolder(values.model, { precision, ...(values.adapter ? { adapter: values.adapter } : {}) });
    for (const w of lf.loaded.warnings) process.stderr.write(`aha eval: warning: ${w}\n`);
    const tok = lf.tokenizer;
    const chat = tpl === "chat" ? ChatTemplate.fromTokenizer(tok) : null;
    prepare = idsPrompter(tpl, (t) => encodePrompt(tok, t, chat === null), chat ? (m) => chat.render(m, { addGenerationPrompt: true }) : undefined);
    stopTokenIds = lf.stopTokenIds;
    decode = (ids) => tok.decode([...ids]); // special tokens kept: they may be the format tags the verifier reads
    // the KV cache holds the longest prompt + --max-tokens, no more
    const longest = Math.max(...problems.map((p) => prepare(p).request.promptIds.length));
    const context = lf.loaded.config.maxPositionEmbeddings;
    if (longest + sampling.maxTokens > context) throw new UserError(`the longest prompt (${longest} tokens) + --max-tokens ${sampling.maxTokens} exceed the model's context (${context})`);
    engine = engineFor(lf, { slots: num(values.slots, "slots", 64, posInt, "a positive integer"), maxLen: longest + sampling.maxTokens }).engine;
  } else {
    modelName = values["model-name"]!;
    const apiKey = values["api-key"] ?? process.env.OPENAI_API_KEY;
    let extraBody: Record<string, unknown> | undefined;
    if (values["extra-body"] !== undefined) {
      try {
        extraBody = JSON.parse(values["extra-body"]) as Record<string, unknown>;
      } catch (e) {
        throw new UserError(`--extra-body is not valid JSON: ${(e as Error).message}`);
      }
      if (typeof extraBody !== "object" || extraBody === null || Array.isArray(extraBody)) throw new UserError("--extra-body must be a JSON object");
    }
    engine = new RemoteRolloutEngine({
      baseUrl: values.endpoint!, model: modelName, promptFormat: "text", logprobs: false, splitN: true,
      concurrency: num(values.concurrency, "concurrency", 16, posInt, "a positive integer"),
      retries: num(values.retries, "retries", 5, (x) => Number.isInteger(x) && x >= 0, "an integer ≥ 0"),
      ...(apiKey ? { apiKey } : {}),
      ...(extraBody ? { extraBody } : {}),
    });
    prepare = (p) => {
      if (tpl === "chat") return { request: { promptIds: [], messages: [{ role: "user", content: p.question }] }, responsePrefix: "" };
      const r = renderPrompt(tpl, p.question);
      return { request: { promptIds: [], promptText: r.prompt }, responsePrefix: r.responsePrefix };
    };
  }

  const out = values.out ?? path.join("runs", `eval-${modelName}__${task.name}`.replace(/[^A-Za-z0-9._-]+/g, "_"));
  const progress = new Progress({ total: problems.length, label: "question", stream: process.stderr });
  let correct = 0;
  let seen = 0;
  try {
    const res = await runEval({
      engine, problems, prepare, score: task.score, sampling, stopTokenIds, ...(task.stop ? { stopStrings: task.stop } : {}),
      ...(decode ? { decode } : {}), outDir: out, model: modelName, task: task.name, settings: { template: tpl },
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
        `written: ${path.join(out, "summary.json")}, ${path.join(out, "results.jsonl")}\n`,
    );
  } finally {
    progress.finish();
    await engine.close();
  }
  return 0;
}
