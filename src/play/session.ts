/**
 * The built-in demo as one call without Node APIs — what the /play page runs in a Web Worker: the demo
 * model from fetched bytes (config.json, model.safetensors, tokenizer files), the base evaluation, GRPO
 * steps through the same trainer as `aha train` (src/rl/trainer.ts, no run directory: nothing is written),
 * the final evaluation. Settings are `aha train`'s resolved demo config (the server sends it as
 * demo-config.json: src/dashboard/play.ts), so the page trains what the CLI trains; the evaluation is the
 * CLI's protocol (src/eval/question.ts: the same seeds per question).
 *
 * Events go to `emit` as they happen (loaded, evaluation progress and results, every step's metrics and
 * samples, done); `signal` stops after the current step (or question batch).
 */
import type { Backend } from "../kernels/backend.js";
import { evalQuestion, idsPrompter, type Sampling } from "../eval/question.js";
import { summarize, type ResultRow } from "../eval/summary.js";
import { readWeightsInto } from "../formats/hf-weights.js";
import { SafetensorsBytes } from "../formats/safetensors-bytes.js";
import { HfTokenizerCore } from "../formats/tokenizer-core.js";
import { parseHfConfig } from "../model/config.js";
import { Model } from "../model/model.js";
import { AdamW } from "../model/optim.js";
import { adamConfig } from "../rl/config.js";
import type { MetricsRow, RunSink, SampleRow } from "../rl/loop.js";
import type { Policy } from "../rl/policy.js";
import { rechecks } from "../rl/shaping.js";
import type { TrainerTokenizer } from "../rl/stages.js";
import { train } from "../rl/trainer.js";
import { LocalRolloutEngine } from "../rollout/local.js";
import { encodePrompt } from "../rollout/prompt.js";
import type { TrainRunConfig } from "../runner/config.js";
import { arithmeticTask } from "../tasks/arithmetic.js";
import { renderPrompt } from "../tasks/templates.js";
import type { Task } from "../tasks/types.js";
import { AhaError, UserError } from "../errors.js";

/** A model folder's files, fetched. */
export interface ModelFiles {
  config: Record<string, unknown>;
  generationConfig: Record<string, unknown> | null;
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  weights: Uint8Array;
}

/** What the page may change of the demo's config (query parameters). */
export interface PlayOverrides {
  steps?: number;
  heldOut?: number;
  evalSamples?: number;
  /** Prompts per step and samples per prompt (smaller steps for slow machines; the demo: 16 × 8). */
  promptsPerStep?: number;
  groupSize?: number;
}

export interface EvalFigures {
  "pass@1": number;
  "length/mean": number;
  recheck_share: number;
  questions: number;
  samples: number;
}

/** One held-out answer shown on the page. */
export interface EvalExample {
  question: string;
  answer: string;
  response: string;
  correct: boolean;
}

export type PlayEvent =
  | { kind: "loaded"; parameters: number; steps: number; heldOut: number; evalSamples: number; groupSize: number; promptsPerStep: number }
  | { kind: "eval-progress"; name: "base" | "final"; done: number; total: number; passAt1: number }
  | { kind: "eval"; name: "base" | "final"; figures: EvalFigures; examples: EvalExample[]; seconds: number }
  | { kind: "step"; row: MetricsRow; samples: readonly SampleRow[] }
  | { kind: "done"; steps: number; stopped: boolean; base: EvalFigures | null; final: EvalFigures | null; wallSeconds: number };

/** `aha train`'s resolved demo config with the page's overrides applied (checked: positive integers). */
export function applyOverrides(c: TrainRunConfig, o: PlayOverrides): TrainRunConfig {
  const out: TrainRunConfig = structuredClone(c);
  const check = (name: string, v: number | undefined, min: number): v is number => {
    if (v === undefined) return false;
    if (!Number.isInteger(v) || v < min) throw new UserError(`${name} must be an integer ≥ ${min}, got ${v}`);
    return true;
  };
  if (check("steps", o.steps, 1)) out.train.steps = o.steps;
  if (check("heldout", o.heldOut, 0)) out.task.heldOut = o.heldOut;
  if (check("eval-samples", o.evalSamples, 0)) out.model.evalSamples = o.evalSamples;
  if (check("prompts", o.promptsPerStep, 1)) out.rl.promptsPerStep = o.promptsPerStep;
  if (check("group", o.groupSize, 2)) out.rl.groupSize = o.groupSize;
  return out;
}

/** The demo model from its files: a Model on `backend` with the weights loaded, and its tokenizer. */
export function loadModel(files: ModelFiles, backend: Backend, template: string): { model: Model; tokenizer: TrainerTokenizer; maxPositions: number } {
  const config = parseHfConfig(files.config, "config.json");
  const model = new Model(config, { backend });
  const { warnings } = readWeightsInto(new SafetensorsBytes("model.safetensors", files.weights), model.params, { where: "model.safetensors", fileOf: () => "model.safetensors" });
  if (warnings.length > 0) throw new UserError(warnings.join("; "));
  model.params.markChanged();
  const tok = new HfTokenizerCore({ tokenizerJson: files.tokenizerJson, tokenizerConfig: files.tokenizerConfig });
  // stop ids as rollout/folder.ts: generation_config's eos ids (else config.json's) + the tokenizer's eos
  const stop = new Set<number>();
  const eos = files.generationConfig?.["eos_token_id"] ?? files.config["eos_token_id"];
  for (const id of Array.isArray(eos) ? eos : eos === undefined || eos === null ? [] : [eos]) if (typeof id === "number") stop.add(id);
  if (tok.eos) stop.add(tok.eos.id);
  const special = template !== "chat";
  return {
    model,
    tokenizer: { encode: (text) => encodePrompt(tok, text, special), decode: (ids) => tok.decode(Array.from(ids)), stopTokenIds: [...stop] },
    maxPositions: config.maxPositionEmbeddings,
  };
}

/** Full fine-tuning without files: a tab keeps no checkpoints (the page can be reloaded to start again). */
function tabPolicy(model: Model, c: TrainRunConfig): Policy {
  const noFiles = (): never => {
    throw new AhaError("AHA_NO_FILES", "the /play page keeps no files: weights and checkpoints live in the tab only");
  };
  return {
    model,
    optimizer: new AdamW(model.params, model.grads, adamConfig(c.train), model.be),
    referenceLogp: null,
    saveWeights: noFiles,
    loadWeights: noFiles,
    checkpoint: { save: noFiles, load: noFiles },
  };
}

/**
 * The trainer's run sink in a tab: metrics and samples go to the page (through `onStep` and
 * `onSamples`), nothing is written, checkpoints are not kept (`saveCheckpoint` does nothing).
 */
function tabSink(onSamples: (rows: readonly SampleRow[]) => void): RunSink {
  const metrics: MetricsRow[] = [];
  return {
    appendMetrics: (row) => void metrics.push(row),
    appendSamples: (rows) => onSamples(rows),
    readMetrics: () => metrics,
    setStep: () => undefined,
    setState: () => undefined,
    saveCheckpoint: async () => "(none: a tab keeps no checkpoints)",
  };
}

/** The longest prompt among the held-out problems and the first training problems (as src/runner/train.ts sizes the KV cache). */
function longestPrompt(task: Task<unknown>, c: TrainRunConfig, encode: (t: string) => number[]): number {
  const problems = [...task.heldOut(Math.max(c.task.heldOut, 50))];
  const n = task.train.size === null ? 512 : Math.min(task.train.size, 512);
  for (let i = 0; i < n; i++) problems.push(task.train.get(i));
  let longest = 1;
  for (const p of problems) longest = Math.max(longest, encode(renderPrompt(c.task.template === "auto" ? task.defaultTemplate : c.task.template, p.question).prompt).length);
  return longest;
}

export interface PlayRun {
  files: ModelFiles;
  config: TrainRunConfig;
  backend: Backend;
  emit: (e: PlayEvent) => void;
  signal?: AbortSignal;
  /** Held-out answers shown per evaluation (default 6). */
  examples?: number;
}

/** Base evaluation → GRPO → final evaluation, as `aha train` with no arguments does. */
export async function runPlay(o: PlayRun): Promise<void> {
  const t0 = performance.now();
  const c = o.config;
  if (c.task.task !== "arithmetic") throw new UserError(`the /play page runs the arithmetic demo, not task ${c.task.task}`);
  if (c.lora.rank !== 0 || c.rl.klCoef !== 0 || c.rl.critic !== "none" || c.rollout.engine !== "local") {
    throw new UserError("the /play page runs the demo's settings: full fine-tuning, kl-coef 0, no critic, the local rollout engine");
  }
  const task = arithmeticTask({ seed: c.train.seed, heldOutPermille: c.task.heldOutPermille }) as Task<unknown>;
  const template = c.task.template === "auto" ? task.defaultTemplate : c.task.template;
  const { model, tokenizer, maxPositions } = loadModel(o.files, o.backend, template);
  const evalMax = c.model.evalMaxTokens ?? c.rl.maxNewTokens;
  const maxLen = Math.min(maxPositions, longestPrompt(task, c, tokenizer.encode) + 16 + Math.max(c.rl.maxNewTokens, evalMax));
  const slots = c.rl.promptsPerStep * c.rl.groupSize;
  const engine = new LocalRolloutEngine(model, { slots, maxLen, decode: (ids) => tokenizer.decode(ids), seed: c.train.seed });
  o.emit({ kind: "loaded", parameters: model.params.data.length, steps: c.train.steps, heldOut: c.task.heldOut, evalSamples: c.model.evalSamples, groupSize: c.rl.groupSize, promptsPerStep: c.rl.promptsPerStep });
  const recheckWords = [...c.rl.recheckWords, ...(task.recheckMarkers ?? [])];

  const evaluate = async (name: "base" | "final"): Promise<EvalFigures | null> => {
    if (c.model.evalSamples === 0 || c.task.heldOut === 0) return null;
    const te = performance.now();
    const problems = task.heldOut(c.task.heldOut);
    const sampling: Sampling = { samples: c.model.evalSamples, temperature: c.model.evalTemperature, topP: 1, seed: c.train.seed, maxTokens: evalMax };
    const prepare = idsPrompter(template, tokenizer.encode);
    // the CLI's evaluation engine (src/eval/evaluate.ts evaluate): its own KV cache, every question at once
    const evalEngine = new LocalRolloutEngine(model, { slots, maxLen, decode: (ids) => tokenizer.decode(ids) });
    const rows: ResultRow[] = [];
    let correct = 0;
    try {
      await Promise.all(problems.map(async (p) => {
        const row = await evalQuestion({
          engine: evalEngine, prepare, score: (r, q, ctx) => task.score(r, q, ctx), sampling, stopTokenIds: tokenizer.stopTokenIds,
          ...(task.stop ? { stopStrings: task.stop } : {}), decode: (ids) => tokenizer.decode(ids), ...(o.signal ? { signal: o.signal } : {}),
        }, p);
        rows.push(row);
        correct += row["pass@1"];
        o.emit({ kind: "eval-progress", name, done: rows.length, total: problems.length, passAt1: correct / rows.length });
      }));
    } finally {
      await evalEngine.close();
    }
    const order = new Map(problems.map((p, i) => [p.id, i]));
    rows.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
    const summary = summarize(rows, { model: name, task: task.name, samples: c.model.evalSamples, extra: {} });
    const samples = rows.flatMap((r) => r.samples);
    const figures: EvalFigures = {
      "pass@1": summary["pass@1"], "length/mean": summary["length/mean"],
      recheck_share: samples.filter((s) => rechecks(s.response, recheckWords)).length / Math.max(samples.length, 1),
      questions: rows.length, samples: c.model.evalSamples,
    };
    const examples = rows.slice(0, o.examples ?? 6).map((r) => ({ question: r.question, answer: String(r.answer), response: r.samples[0]!.response, correct: r.samples[0]!.correct }));
    o.emit({ kind: "eval", name, figures, examples, seconds: (performance.now() - te) / 1000 });
    return figures;
  };

  try {
    const base = await evaluate("base");
    let lastSamples: readonly SampleRow[] = [];
    const res = await train({
      rl: c.rl, train: c.train, task, template, tokenizer, engine, policy: tabPolicy(model, c),
      run: tabSink((rows) => {
        lastSamples = rows;
      }),
      ...(o.signal ? { signal: o.signal } : {}),
      onStep: (row) => o.emit({ kind: "step", row, samples: lastSamples }),
    });
    const final = res.stopped ? null : await evaluate("final");
    o.emit({ kind: "done", steps: res.steps, stopped: res.stopped, base, final, wallSeconds: (performance.now() - t0) / 1000 });
  } finally {
    await engine.close();
  }
}
