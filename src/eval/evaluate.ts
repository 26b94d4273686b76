/**
 * Evaluation by the R1 protocol: k samples per question from any rollout engine, each scored by the
 * task's verifier; per-question rows (results.jsonl) and a summary (summary.json, ./summary.ts).
 *
 * - `runEval`: the general form (an engine, problems, a prompt builder, a scorer). Every question is
 *   submitted at once: the local engine decodes them all in one continuous batch, a remote engine sends
 *   them concurrently (its client bounds the requests in flight). Each question's row is appended to
 *   results.jsonl as soon as its k samples are scored; with `out`, questions already in results.jsonl
 *   (same settings, checked against eval.json) are skipped — an interrupted evaluation resumes.
 *   Sampling seeds come from (seed, question id), so a resumed evaluation gives what an uninterrupted
 *   one would.
 * - `evaluate`: the trainer's form: a model already in memory, a task's held-out problems, no files.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../errors.js";
import type { InferenceModel } from "../model/sample.js";
import type { EpisodeSetup } from "../rollout/episode.js";
import { LocalRolloutEngine } from "../rollout/local.js";
import { readJson, writeJsonAtomic } from "../util/atomic.js";
import { appendJsonl, readJsonl } from "../util/jsonl.js";
import type { Problem, Task } from "../tasks/types.js";
import type { ChatRenderer, TemplateName } from "../tasks/templates.js";
import { evalQuestion, idsPrompter, type QuestionOptions, type Sampling } from "./question.js";
import { summarize, type EvalSummary, type ResultRow } from "./summary.js";

export { evalQuestion, idsPrompter, R1_SAMPLING, type Prepared, type Sampling } from "./question.js";

/** One question's options (./question.ts: engine, prompt builder, scorer, sampling, stops, decode, signal) and the run's. */
export interface EvalOptions extends QuestionOptions {
  problems: readonly Problem<unknown>[];
  /** Write results.jsonl / summary.json / eval.json here, resuming what is there. */
  outDir?: string;
  /** Names in the summary. */
  model: string;
  task: string;
  /** Settings recorded in eval.json; a resume with other settings is refused. */
  settings?: Record<string, unknown>;
  onProgress?: (done: number, total: number, row: ResultRow | null) => void;
}

export interface EvalResult {
  rows: ResultRow[];
  summary: EvalSummary;
  /** Questions taken from an earlier, interrupted run. */
  resumed: number;
}

export async function runEval(o: EvalOptions): Promise<EvalResult> {
  const k = o.sampling.samples;
  if (!Number.isInteger(k) || k < 1) throw new UserError(`samples must be a positive integer, got ${k}`);
  const ids = new Set<string>();
  for (const p of o.problems) {
    if (ids.has(p.id)) throw new UserError(`two questions have the id '${p.id}'`);
    ids.add(p.id);
  }
  const ep = o.episodes ?? null;
  const decode = o.decode;
  if (ep && !decode) throw new UserError("episodes with tools need the engine's token ids and a tokenizer to decode them");
  const settings = { model: o.model, task: o.task, ...(ep ? { env: ep.env.name, limits: ep.limits } : {}), samples: k, temperature: o.sampling.temperature, top_p: o.sampling.topP, top_k: o.sampling.topK ?? 0, max_tokens: o.sampling.maxTokens, seed: o.sampling.seed, ...o.settings };
  const done = new Map<string, ResultRow>();
  let results: string | null = null;
  if (o.outDir) {
    fs.mkdirSync(o.outDir, { recursive: true });
    results = path.join(o.outDir, "results.jsonl");
    const cfgFile = path.join(o.outDir, "eval.json");
    const prev = readJson<Record<string, unknown>>(cfgFile);
    if (prev) {
      const diff = Object.keys(settings).filter((key) => JSON.stringify(prev[key]) !== JSON.stringify((settings as Record<string, unknown>)[key]));
      if (diff.length > 0) {
        throw new UserError(`${o.outDir} holds an evaluation with other settings (${diff.map((d) => `${d}: ${JSON.stringify(prev[d])} there, ${JSON.stringify((settings as Record<string, unknown>)[d])} now`).join("; ")})`, "use another --out, or delete that folder to start over");
      }
    } else writeJsonAtomic(cfgFile, settings);
    for (const r of readJsonl<ResultRow>(results).rows) {
      if (r && typeof r.id === "string" && ids.has(r.id) && Array.isArray(r.samples) && r.samples.length === k && !done.has(r.id)) done.set(r.id, r);
    }
  }
  const resumed = done.size;
  const todo = o.problems.filter((p) => !done.has(p.id));
  let finished = resumed;
  o.onProgress?.(finished, o.problems.length, null);
  await Promise.all(
    todo.map(async (p) => {
      const row = await evalQuestion(o, p);
      done.set(p.id, row);
      if (results) appendJsonl(results, row);
      finished++;
      o.onProgress?.(finished, o.problems.length, row);
    }),
  );
  const rows = o.problems.map((p) => done.get(p.id)!);
  const summary = summarize(rows, {
    model: o.model, task: o.task, samples: k,
    extra: { temperature: o.sampling.temperature, top_p: o.sampling.topP, max_tokens: o.sampling.maxTokens, seed: o.sampling.seed },
  });
  if (o.outDir) writeJsonAtomic(path.join(o.outDir, "summary.json"), summary);
  return { rows, summary, resumed };
}

export interface EvaluateOptions {
  task: Task<unknown>;
  /** Held-out problems (default 200) or an explicit list. */
  problems?: readonly Problem<unknown>[];
  questions?: number;
  template: TemplateName;
  chat?: ChatRenderer;
  tokenizer: { encode(text: string): number[]; decode(ids: ArrayLike<number>): string; stopTokenIds: readonly number[] };
  /** maxTokens, and the rest by default 8 samples at temperature 1.0, top-p 1 (the demo's base-vs-final protocol), seed 0. */
  sampling: Partial<Omit<Sampling, "maxTokens">> & { maxTokens: number };
  /** KV-cache slots (sequences decoded together). Default min(questions × samples, 256). */
  slots?: number;
  /** Longest prompt + maxTokens must fit; default: measured from the prompts. */
  maxLen?: number;
  /** Multi-turn episodes (tools). */
  episodes?: EpisodeSetup | null;
  outDir?: string;
  model?: string;
  onProgress?: EvalOptions["onProgress"];
}

/**
 * The trainer's evaluation: `model` as it is in memory now (e.g. before and after training), all
 * questions × samples through one local engine's continuous batch. Returns the summary and the rows.
 */
export async function evaluate<C>(model: InferenceModel<C>, o: EvaluateOptions): Promise<EvalResult> {
  const problems = o.problems ?? o.task.heldOut(o.questions ?? 200);
  const sampling: Sampling = { samples: 8, temperature: 1, topP: 1, seed: 0, ...o.sampling };
  const prepare = idsPrompter(o.template, (t) => o.tokenizer.encode(t), o.chat);
  const prepared = new Map(problems.map((p) => [p.id, prepare(p)]));
  const longest = Math.max(1, ...[...prepared.values()].map((x) => x.request.promptIds.length));
  const engine = new LocalRolloutEngine(model, {
    slots: o.slots ?? Math.max(1, Math.min(problems.length * sampling.samples, 256)),
    maxLen: o.maxLen ?? longest + Math.max(sampling.maxTokens, o.episodes?.limits.maxTokens ?? 0),
    decode: (ids) => o.tokenizer.decode(ids),
  });
  try {
    return await runEval({
      engine, problems, prepare: (p) => prepared.get(p.id)!, score: (r, p, ctx) => o.task.score(r, p, ctx), sampling,
      stopTokenIds: o.tokenizer.stopTokenIds, ...(o.task.stop ? { stopStrings: o.task.stop } : {}),
      decode: (ids) => o.tokenizer.decode(ids), model: o.model ?? "in-memory", task: o.task.name,
      ...(o.outDir ? { outDir: o.outDir } : {}), ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      ...(o.episodes ? { episodes: o.episodes } : {}),
    });
  } finally {
    await engine.close();
  }
}
