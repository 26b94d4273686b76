/**
 * Rejection sampling (DeepSeek-R1 §2.3.3) and distillation data: K samples per prompt from a model folder
 * or an OpenAI-compatible endpoint (a teacher), each scored with the task's composed reward
 * (src/rewards/compose.ts), filtered, and written as SFT rows that `aha sft --data FILE` reads as they are:
 *
 *   {"prompt": question, "response": text, "prompt_id", "sample", "model", "step", "template",
 *    "reward", "parts": {...}, "correct", "length", "answer"}
 *
 * Filters, in this order (each a `filter-*` key; a sample is counted against the first one it fails):
 * correct (the verifier says so; on by default), format (R1's <think>…</think><answer>…</answer>),
 * language (share of the chain of thought in the task's language), truncated (ended by max-tokens),
 * max-tokens (a length cap), dedup (the same normalised text as a kept response to the same prompt),
 * per-prompt (at most M per prompt). Prompts are the task's training side (never held-out problems);
 * repeated prompts (same normalised question) are sampled once.
 *
 * Resumable: rows are appended one prompt at a time, in prompt order (results that finish early wait for
 * the ones before them), and `<out>.done.jsonl` records each finished prompt (also those that kept
 * nothing); `<out>.meta.json` holds the settings. Running the same command again skips finished prompts
 * and never rewrites or drops a row; other settings are refused. Seeds come from (seed, prompt id), so a
 * resumed run writes what an uninterrupted one would, in the same order.
 */
import { setMaxListeners } from "node:events";
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { AhaError, UserError } from "../errors.js";
import { ChatTemplate } from "../formats/chat-template.js";
import { rewardSection } from "../rewards/config.js";
import type { GroupScorer } from "../rewards/compose.js";
import { formatOk } from "../rewards/format.js";
import { scoreLanguage } from "../rewards/language.js";
import { rolloutSchema } from "../rollout/config.js";
import type { RolloutEngine, RolloutRequest } from "../rollout/engine.js";
import { encodePrompt, engineFor, loadFolder } from "../rollout/folder.js";
import { RemoteRolloutEngine, type RemoteRolloutRequest } from "../rollout/remote.js";
import { makeTask, renderPrompt, resolveTemplate, taskSection, type Problem, type Task, type TemplateName } from "../tasks/index.js";
import { normaliseQuestion } from "../tasks/split.js";
import { readJson, writeJsonAtomic } from "../util/atomic.js";
import { defineConfig, setting, type Given, type Resolved } from "../util/config.js";
import { appendJsonl, appendJsonlRows, readJsonl } from "../util/jsonl.js";
import { fnv1a32 } from "../util/rng.js";
import { precisionField, toSources, type SettingsSources } from "./config.js";
import { quietReporter, type Reporter } from "./reporter.js";
import { scorerFromConfig } from "./train.js";

// ---- the config: one schema (flags, YAML keys, --help)

const modelSchema = z.strictObject({
  model: setting(z.string().min(1).nullable(), null, "Hugging Face model folder to sample from (or --endpoint URL)."),
  adapter: setting(z.string().min(1).nullable(), null, "PEFT LoRA adapter folder applied to --model."),
  precision: precisionField,
  slots: setting(z.int().min(1), 64, "Local model: sequences decoded together (KV-cache slots)."),
  endpoint: rolloutSchema.shape.endpoint,
  modelName: rolloutSchema.shape.modelName,
  apiKey: rolloutSchema.shape.apiKey,
  concurrency: rolloutSchema.shape.concurrency.meta({ description: "Endpoint requests in flight at once, per endpoint (one request per sample)." }),
  retries: rolloutSchema.shape.retries,
  modelStep: setting(z.int().min(0).nullable(), null, "The training step of the weights sampled from, recorded in every row (none = read from a checkpoint folder's name, checkpoints/step-N/model, else unknown)."),
});

function checkModel(c: z.output<typeof modelSchema>): string[] {
  const out: string[] = [];
  if ((c.model === null) === (c.endpoint === null)) out.push("give exactly one of --model DIR or --endpoint URL");
  if (c.endpoint !== null && c.modelName === null) out.push("--endpoint needs --model-name NAME (the model's name at the endpoint)");
  if (c.adapter !== null && c.model === null) out.push("--adapter goes with --model");
  return out;
}

const samplingSchema = z.strictObject({
  prompts: setting(z.int().min(1).nullable(), null, "How many training prompts to sample (none = 256 for a generated task, every training row of a data file)."),
  samples: setting(z.int().min(1), 4, "Samples per prompt (K); the filters then choose among them.", "DeepSeek-R1 §2.3.3 (rejection sampling: several responses per prompt, only correct ones kept)"),
  temperature: setting(z.number().min(0), 0.6, "Sampling temperature.", "DeepSeek-R1 evaluation protocol"),
  topP: setting(z.number().gt(0).max(1), 0.95, "Nucleus sampling.", "DeepSeek-R1 evaluation protocol"),
  topK: setting(z.int().min(0), 0, "Keep the K most likely tokens; 0 = off."),
  maxTokens: setting(z.int().min(1), 1024, "Most tokens per response."),
  seed: setting(z.int().min(0), 0, "Each prompt's seed comes from it and the prompt's id (and so does a generated task's prompt list)."),
});

const filterSchema = z.strictObject({
  correct: setting(z.boolean(), true, "Keep only responses the task's verifier marks correct (rejection sampling). Needs a reference answer on every prompt.", "DeepSeek-R1 §2.3.3"),
  format: setting(z.boolean(), false, "Keep only responses in R1's format: <think>…</think> then <answer>…</answer> (after the template's prefix)."),
  language: setting(z.number().min(0).max(1).nullable(), null, "Keep only responses whose chain of thought is at least this share in the task's language (key 'language'); none = off.", "DeepSeek-R1 §2.3.3 (mixed-language chains of thought filtered out)"),
  truncated: setting(z.boolean(), true, "Drop responses ended by max-tokens (unfinished: SFT would teach the model not to stop)."),
  maxTokens: setting(z.int().min(1).nullable(), null, "Drop responses longer than this many tokens; none = no cap.", "DeepSeek-R1 §2.3.3 (long paragraphs filtered out)"),
  dedup: setting(z.boolean(), true, "Drop a response whose normalised text (trimmed, whitespace runs → one space) equals one already kept for the same prompt."),
  perPrompt: setting(z.int().min(1).nullable(), null, "Keep at most M responses per prompt (the first M that pass, in sample order); none = all."),
});

const outSchema = z.strictObject({
  out: setting(z.string().min(1).nullable(), null, "The output JSONL file (required). Running the same command again resumes it; <out>.meta.json and <out>.done.jsonl sit next to it."),
});

export const sampleSpec = defineConfig({
  model: { title: "Model (a folder, or an OpenAI-compatible endpoint: a teacher)", prefix: "", schema: modelSchema, check: checkModel },
  task: taskSection,
  reward: rewardSection,
  sampling: { title: "Sampling", prefix: "", schema: samplingSchema },
  filter: { title: "Filters (in this order)", prefix: "filter-", schema: filterSchema },
  output: { title: "Output", prefix: "", schema: outSchema, check: (c: z.output<typeof outSchema>) => (c.out === null ? ["aha sample needs --out FILE.jsonl"] : []) },
});
export type SampleRunConfig = Resolved<typeof sampleSpec.sections>;

/** The filters' names in the order they apply (keys filter-<name>). */
export const SAMPLE_FILTERS = ["correct", "format", "language", "truncated", "max-tokens", "dedup", "per-prompt"] as const;
export type SampleFilter = (typeof SAMPLE_FILTERS)[number];

/** The resolved `aha sample` config from sources (defaults < YAML file / settings object < flags). */
export function resolveSampleSettings(src: SettingsSources): SampleRunConfig {
  const given = new Map<string, Given>();
  if (src.file) for (const [k, v] of sampleSpec.parseYaml(src.file.text, src.file.name)) given.set(k, v);
  if (src.settings) for (const [k, v] of sampleSpec.fromObject(src.settings)) given.set(k, v);
  return sampleSpec.resolve({ yaml: given, ...(src.flags ? { flags: src.flags } : {}) });
}

// ---- the sampling loop (engine-agnostic: a library call with your own engine and scorer works the same)

/** One SFT row of the output file. */
export interface SampleRow {
  prompt: string;
  response: string;
  prompt_id: string;
  sample: number;
  model: string;
  step: number | null;
  template: TemplateName;
  reward: number | null;
  parts: Record<string, number>;
  correct: boolean;
  length: number;
  answer: string;
}

/** A finished prompt in <out>.done.jsonl. */
export interface DoneRow {
  id: string;
  samples: number;
  kept: number;
  /** Samples dropped, by the filter that dropped them. */
  dropped: Partial<Record<SampleFilter, number>>;
}

export interface SampleSummary {
  prompts: number;
  /** Prompts taken from an earlier, interrupted run. */
  resumed: number;
  samples: number;
  kept: number;
  /** Samples that reached each filter (the funnel), and how many each one dropped. */
  reached: Record<SampleFilter, number>;
  dropped: Record<SampleFilter, number>;
  /** Repeated prompts skipped (same normalised question as an earlier one). */
  duplicatePrompts: number;
  out: string;
}

export interface SampleOptions {
  engine: RolloutEngine;
  problems: readonly Problem<unknown>[];
  /** Problem → the request's prompt fields, and what the template put at the start of the response. */
  prepare: (p: Problem<unknown>) => { request: Pick<RemoteRolloutRequest, "promptIds" | "promptText" | "messages">; responsePrefix: string };
  scorer: GroupScorer<unknown>;
  filter: SampleRunConfig["filter"];
  sampling: Omit<SampleRunConfig["sampling"], "prompts">;
  /** The task's language (the language filter's target). */
  language: string;
  stopTokenIds?: readonly number[];
  stopStrings?: readonly string[];
  decode?: (ids: Int32Array) => string;
  out: string;
  /** Provenance in every row. */
  model: string;
  step: number | null;
  template: TemplateName;
  /** Recorded in <out>.meta.json; a resume with other settings is refused. */
  settings: Record<string, unknown>;
  onProgress?: (done: number, total: number, kept: number) => void;
  warn?: (message: string) => void;
  signal?: AbortSignal;
}

const normaliseText = (s: string): string => s.trim().replace(/\s+/g, " ");
const zeroCounts = (): Record<SampleFilter, number> => Object.fromEntries(SAMPLE_FILTERS.map((f) => [f, 0])) as Record<SampleFilter, number>;

export const sampleSidecars = (out: string): { meta: string; done: string } => ({ meta: `${out}.meta.json`, done: `${out}.done.jsonl` });

/** Repeated prompts (same normalised question) are sampled once; returns the kept problems and the repeats. */
export function uniquePrompts<P extends { id: string; question: string }>(problems: readonly P[]): { unique: P[]; repeats: { id: string; first: string }[] } {
  const first = new Map<string, string>();
  const unique: P[] = [];
  const repeats: { id: string; first: string }[] = [];
  for (const p of problems) {
    const k = normaliseQuestion(p.question);
    const had = first.get(k);
    if (had !== undefined) repeats.push({ id: p.id, first: had });
    else {
      first.set(k, p.id);
      unique.push(p);
    }
  }
  return { unique, repeats };
}

/** Which filter (if any) drops a sample, given the rows already kept for its prompt. */
function firstFailing(
  f: SampleRunConfig["filter"],
  s: { text: string; correct: boolean; tokens: number; truncated: boolean },
  o: { responsePrefix: string; language: string; kept: Set<string>; keptCount: number },
): SampleFilter | null {
  if (f.correct && !s.correct) return "correct";
  if (f.format && !formatOk(o.responsePrefix + s.text)) return "format";
  if (f.language !== null && scoreLanguage(s.text, null, { prefix: o.responsePrefix, lang: o.language }).score < f.language) return "language";
  if (f.truncated && s.truncated) return "truncated";
  if (f.maxTokens !== null && s.tokens > f.maxTokens) return "max-tokens";
  if (f.dedup && o.kept.has(normaliseText(s.text))) return "dedup";
  if (f.perPrompt !== null && o.keptCount >= f.perPrompt) return "per-prompt";
  return null;
}

/** Samples, scores, filters and appends the rows; resumes what <out> already holds. */
export async function runSample(o: SampleOptions): Promise<SampleSummary> {
  const { meta, done: doneFile } = sampleSidecars(o.out);
  const { unique, repeats } = uniquePrompts(o.problems);
  if (repeats.length > 0) o.warn?.(`${repeats.length} repeated prompt${repeats.length === 1 ? "" : "s"} sampled once (e.g. ${repeats[0]!.id} repeats ${repeats[0]!.first})`);
  if (o.filter.correct) {
    const missing = unique.filter((p) => p.reference === null || p.reference === undefined);
    if (missing.length > 0) {
      throw new UserError(
        `filter-correct needs a reference answer, and ${missing.length} prompt${missing.length === 1 ? " has" : "s have"} none (${missing.slice(0, 3).map((p) => p.id).join(", ")}${missing.length > 3 ? ", …" : ""})`,
        "add the answers to the data file, or keep unverified samples with --no-filter-correct",
      );
    }
  }

  // ---- what an earlier run left: its settings must match; finished prompts are skipped
  const settings = { model: o.model, step: o.step, template: o.template, ...o.settings };
  fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
  const prev = readJson<{ settings?: Record<string, unknown> }>(meta);
  if (prev?.settings) {
    const diff = Object.keys(settings).filter((k) => JSON.stringify(prev.settings![k]) !== JSON.stringify((settings as Record<string, unknown>)[k]));
    if (diff.length > 0) {
      throw new UserError(
        `${o.out} was written with other settings (${diff.map((d) => `${d}: ${JSON.stringify(prev.settings![d])} there, ${JSON.stringify((settings as Record<string, unknown>)[d])} now`).join("; ")})`,
        "use another --out, or move that file (and its .meta.json, .done.jsonl) away to start over",
      );
    }
  } else if (fs.existsSync(o.out) && fs.statSync(o.out).size > 0) {
    throw new UserError(`${o.out} exists and was not written by aha sample (no ${path.basename(meta)} next to it)`, "choose another --out; aha sample never overwrites a file");
  } else writeJsonAtomic(meta, { settings });
  const finished = new Set<string>();
  const reached = zeroCounts();
  const dropped = zeroCounts();
  let kept = 0;
  let samples = 0;
  const tally = (d: DoneRow): void => {
    samples += d.samples;
    kept += d.kept;
    let left = d.samples;
    for (const f of SAMPLE_FILTERS) {
      reached[f] += left;
      dropped[f] += d.dropped[f] ?? 0;
      left -= d.dropped[f] ?? 0;
    }
  };
  for (const d of readJsonl<DoneRow>(doneFile).rows) if (typeof d.id === "string" && !finished.has(d.id) && typeof d.samples === "number") {
    finished.add(d.id);
    tally({ id: d.id, samples: d.samples, kept: Number(d.kept) || 0, dropped: d.dropped ?? {} });
  }
  // A prompt whose rows were written but whose done line was not (a crash in between) is finished too: its rows stay.
  cutPartialLine(o.out, o.warn);
  const orphans = new Map<string, number>();
  for (const r of readJsonl<{ prompt_id?: unknown }>(o.out).rows) if (typeof r.prompt_id === "string" && !finished.has(r.prompt_id)) orphans.set(r.prompt_id, (orphans.get(r.prompt_id) ?? 0) + 1);
  for (const [id, n] of orphans) {
    finished.add(id);
    appendJsonl(doneFile, { id, samples: n, kept: n, dropped: {} } satisfies DoneRow);
    tally({ id, samples: n, kept: n, dropped: {} });
  }
  const resumed = unique.filter((p) => finished.has(p.id)).length;
  const todo = unique.filter((p) => !finished.has(p.id));
  let doneCount = resumed;
  o.onProgress?.(doneCount, unique.length, kept);

  // ---- sample every prompt concurrently; write in prompt order
  const stops = new Set(o.stopTokenIds ?? []);
  const ready = new Map<number, { rows: SampleRow[]; done: DoneRow }>();
  let next = 0;
  const flush = (): void => {
    for (let r = ready.get(next); r !== undefined; r = ready.get(next)) {
      appendJsonlRows(o.out, r.rows);
      appendJsonl(doneFile, r.done);
      tally(r.done);
      ready.delete(next);
      next++;
      doneCount++;
      o.onProgress?.(doneCount, unique.length, kept);
    }
  };
  const stop = new AbortController();
  setMaxListeners(0, stop.signal); // one listener per prompt in flight
  const onAbort = (): void => stop.abort();
  o.signal?.addEventListener("abort", onAbort);
  const one = async (p: Problem<unknown>, i: number): Promise<void> => {
    const prep = o.prepare(p);
    const req: RolloutRequest & RemoteRolloutRequest = {
      ...prep.request,
      n: o.sampling.samples,
      maxNewTokens: o.sampling.maxTokens,
      temperature: o.sampling.temperature,
      topP: o.sampling.topP,
      ...(o.sampling.topK ? { topK: o.sampling.topK } : {}),
      ...(stops.size > 0 ? { stopTokenIds: [...stops] } : {}),
      ...(o.stopStrings && o.stopStrings.length > 0 ? { stopStrings: o.stopStrings } : {}),
      seed: fnv1a32(`aha-sample/${o.sampling.seed}/${p.id}`),
    };
    const [completions] = await o.engine.generate([req], { signal: stop.signal });
    const got = completions!.map((c) => {
      const ids = c.tokenIds;
      const body = c.finishReason === "stop" && ids.length > 0 && stops.has(ids[ids.length - 1]!) ? ids.subarray(0, ids.length - 1) : ids;
      return { text: o.decode && ids.length > 0 ? o.decode(body) : (c.text ?? ""), tokens: c.numTokens ?? ids.length, truncated: c.finishReason === "length" };
    });
    const scored = await o.scorer(got.map((g) => ({ text: g.text, tokens: g.tokens })), p, { responsePrefix: prep.responsePrefix });
    const keptTexts = new Set<string>();
    const rows: SampleRow[] = [];
    const drop: Partial<Record<SampleFilter, number>> = {};
    got.forEach((g, j) => {
      const s = scored[j]!;
      const failed = firstFailing(o.filter, { ...g, correct: s.correct }, { responsePrefix: prep.responsePrefix, language: o.language, kept: keptTexts, keptCount: rows.length });
      if (failed !== null) {
        drop[failed] = (drop[failed] ?? 0) + 1;
        return;
      }
      keptTexts.add(normaliseText(g.text));
      rows.push({
        prompt: p.question, response: g.text, prompt_id: p.id, sample: j, model: o.model, step: o.step, template: o.template,
        reward: s.reward, parts: s.parts, correct: s.correct, length: g.tokens, answer: p.answer,
      });
    });
    ready.set(i, { rows, done: { id: p.id, samples: got.length, kept: rows.length, dropped: drop } });
    flush();
  };
  const results = await Promise.allSettled(todo.map((p, i) => one(p, i).catch((e: unknown) => {
    stop.abort();
    throw e;
  })));
  o.signal?.removeEventListener("abort", onAbort);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    const e = failed.reason as Error;
    const saved = doneCount;
    throw new AhaError(
      e instanceof AhaError ? e.code : "AHA_SAMPLE_STOPPED",
      `sampling stopped after ${saved} of ${unique.length} prompts (${kept} rows in ${o.out}): ${e.message}`,
      "run the same command again to resume: finished prompts are skipped, no row is lost",
    );
  }
  const summary: SampleSummary = { prompts: unique.length, resumed, samples, kept, reached, dropped, duplicatePrompts: repeats.length, out: o.out };
  writeJsonAtomic(meta, { settings, summary });
  if (kept === 0 && samples > 0) {
    const last = [...SAMPLE_FILTERS].find((f) => reached[f] > 0 && dropped[f] === reached[f])!;
    throw new UserError(
      `filter-${last} kept nothing: all ${reached[last]} samples that reached it were dropped (${samples} samples of ${unique.length} prompts; ${o.out} has no rows)`,
      last === "correct" ? "the model solved none: sample more (--samples), raise --temperature, or turn the filter off (--no-filter-correct)" : `loosen or turn off filter-${last}`,
    );
  }
  return summary;
}

/** A last line cut by a crash mid-write is not a row: it is moved aside to <out>.partial-<time> (kept, never deleted). */
function cutPartialLine(file: string, warn?: (m: string) => void): void {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    return;
  }
  if (buf.length === 0 || buf[buf.length - 1] === 0x0a) return;
  const cut = buf.lastIndexOf(0x0a) + 1;
  const aside = `${file}.partial-${new Date().toISOString().replace(/[:.]/g, "-")}`;
  writeJsonAtomic(aside, { line: buf.subarray(cut).toString("utf8") });
  fs.truncateSync(file, cut);
  warn?.(`${file} ended in a cut line (a crash mid-write); moved it to ${aside}`);
}

// ---- from a config: the task, the engine (a model folder or an endpoint), the scorer

/** The step of a checkpoint folder's weights (…/checkpoints/step-N/model), else null. */
export function stepOfModelDir(dir: string): number | null {
  const m = /(?:^|[\\/])step-(\d+)[\\/]model[\\/]?$/.exec(path.resolve(dir));
  return m ? Number(m[1]) : null;
}

export interface PrepareSampleOptions {
  reporter?: Partial<Reporter>;
  signal?: AbortSignal;
}

/** `aha sample` as a library call: resolves the settings, builds the task, engine and scorer, samples, closes the engine. */
export async function sampleFromConfig(settings: Record<string, unknown> | SettingsSources, o: PrepareSampleOptions = {}): Promise<SampleSummary> {
  const c = resolveSampleSettings(toSources(settings));
  const reporter: Reporter = { ...quietReporter, ...(o.reporter ?? {}) };
  // a data file's rows without an answer are loaded (reference null): filter-correct refuses them by name, else they are unscored
  const task: Task<unknown> = await makeTask(c.task, c.sampling.seed, { optionalAnswer: true });
  const template = resolveTemplate(c.task, task);
  const count = c.sampling.prompts ?? (task.train.size === null ? 256 : task.train.size);
  if (task.train.size !== null && count > task.train.size) reporter.warn(`warning: prompts = ${count}, but the task has ${task.train.size} training prompts: sampling those`);
  const problems: Problem<unknown>[] = [];
  for (let i = 0; i < Math.min(count, task.train.size ?? count); i++) problems.push(task.train.get(i));
  const scorer = scorerFromConfig(c, {
    ...task,
    score: (r, p, ctx) => (p.reference === null ? { reward: null, parts: {}, correct: false, extracted: null, reason: "no reference answer" } : task.score(r, p, ctx)),
  });

  const m = c.model;
  let engine: RolloutEngine;
  let prepare: SampleOptions["prepare"];
  let modelName: string;
  let stopTokenIds: number[] = [];
  let decode: ((ids: Int32Array) => string) | undefined;
  if (m.model !== null) {
    if (!fs.existsSync(path.join(m.model, "config.json"))) throw new UserError(`model ${m.model}: not a model folder (no config.json there)`);
    modelName = path.resolve(m.model);
    const lf = loadFolder(m.model, { precision: m.precision, ...(m.adapter !== null ? { adapter: m.adapter } : {}) });
    for (const w of lf.loaded.warnings) reporter.warn(`warning: ${w}`);
    const tok = lf.tokenizer;
    const chat = template === "chat" ? ChatTemplate.fromTokenizer(tok) : null;
    prepare = (p) => {
      const r = renderPrompt(template, p.question, chat ? { chat: (msgs) => chat.render(msgs, { addGenerationPrompt: true }) } : {});
      return { request: { promptIds: encodePrompt(tok, r.prompt, chat === null), promptText: r.prompt }, responsePrefix: r.responsePrefix };
    };
    stopTokenIds = lf.stopTokenIds;
    decode = (ids) => tok.decode([...ids]); // special tokens kept: they may be the format tags the verifier reads
    const longest = Math.max(1, ...problems.map((p) => prepare(p).request.promptIds.length));
    const context = lf.loaded.config.maxPositionEmbeddings;
    if (longest + c.sampling.maxTokens > context) throw new UserError(`the longest prompt (${longest} tokens) + max-tokens ${c.sampling.maxTokens} exceed the model's context (${context})`);
    engine = engineFor(lf, { slots: m.slots, maxLen: longest + c.sampling.maxTokens, seed: c.sampling.seed }).engine;
  } else {
    modelName = m.modelName!;
    const apiKey = m.apiKey ?? process.env.OPENAI_API_KEY;
    engine = new RemoteRolloutEngine({
      baseUrl: m.endpoint!, model: modelName, promptFormat: "text", logprobs: false, splitN: true, concurrency: m.concurrency, retries: m.retries,
      ...(apiKey ? { apiKey } : {}),
    });
    prepare = (p) => {
      if (template === "chat") return { request: { promptIds: [], messages: [{ role: "user", content: p.question }] }, responsePrefix: "" };
      const r = renderPrompt(template, p.question);
      return { request: { promptIds: [], promptText: r.prompt }, responsePrefix: r.responsePrefix };
    };
  }
  const step = m.modelStep ?? (m.model !== null ? stepOfModelDir(m.model) : null);
  const out = c.output.out!;
  const prog = reporter.progress("prompt", problems.length, 0);
  reporter.warn(`${problems.length} prompts × ${c.sampling.samples} samples from ${m.model ?? m.endpoint} (${task.name}, template ${template}) → ${out}`);
  const flat = sampleSpec.toFlat(c);
  // what decides the rows (not where the model lives or how fast it is asked)
  const recorded: Record<string, unknown> = {};
  for (const k of Object.keys(flat)) if (!["model", "adapter", "endpoint", "api-key", "concurrency", "retries", "slots", "precision", "out", "model-name", "model-step", "template"].includes(k)) recorded[k] = flat[k];
  try {
    const summary = await runSample({
      engine, problems, prepare, scorer, filter: c.filter, sampling: c.sampling, language: c.task.language,
      stopTokenIds, ...(task.stop ? { stopStrings: task.stop } : {}), ...(decode ? { decode } : {}),
      out, model: modelName, step, template, settings: recorded,
      onProgress: (done, _total, kept) => prog?.update(done, { kept }),
      warn: (msg) => reporter.warn(`warning: ${msg}`),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    prog?.finish();
    const drops = SAMPLE_FILTERS.filter((f) => summary.dropped[f] > 0).map((f) => `filter-${f} ${summary.dropped[f]}`).join(", ");
    reporter.say(`kept ${summary.kept} of ${summary.samples} samples (${summary.prompts} prompts${summary.resumed > 0 ? `, ${summary.resumed} resumed` : ""})${drops ? `; dropped: ${drops}` : ""}`);
    reporter.say(`written: ${out} (aha sft --data ${out})`);
    return summary;
  } finally {
    prog?.finish();
    await engine.close();
  }
}
