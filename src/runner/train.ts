/**
 * A GRPO-family run as a library call: `prepareTrainRun(settings)` turns a config into everything a run
 * needs — the task, the model folder and its tokenizer, the policy (full fine-tuning or LoRA), the reward
 * (composed parts), the rollout engine (local or remote), the run directory (new or resumed from its
 * newest usable checkpoint) — and `run.run()` evaluates the base model, trains, evaluates the final
 * model and writes summary.json. `aha train` is this plus argv parsing and a terminal reporter.
 *
 *   const run = await prepareTrainRun({ model: DEMO_MODEL, steps: 5 });
 *   const result = await run.run();
 *   await run.close();
 *
 * Evaluations belong to the weights they evaluated: eval/<name>/weights.json records the checkpoint
 * step; results of other weights (a finished run resumed with more steps) are moved to
 * eval/<name>-step-<N>/ instead of being reused.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../errors.js";
import { evaluate, type EvalResult } from "../eval/evaluate.js";
import { ChatTemplate } from "../formats/chat-template.js";
import type { Model } from "../model/model.js";
import { composeRewards, parseRewardWeights, type GroupScorer } from "../rewards/compose.js";
import { judgeReward } from "../rewards/judge.js";
import { restoreCheckpoint, type MetricsRow } from "../rl/loop.js";
import type { Critic } from "../rl/critic.js";
import type { Policy } from "../rl/policy.js";
import { rechecks } from "../rl/shaping.js";
import type { TrainerTokenizer } from "../rl/stages.js";
import { weightSyncStage, type WeightSync } from "../rl/sync.js";
import { train, type Stages, type TrainerResult } from "../rl/trainer.js";
import { rolloutEngineFromConfig } from "../rollout/config.js";
import { parseEndpointList } from "../rollout/endpoints.js";
import type { RolloutEngine } from "../rollout/engine.js";
import type { EpisodeSetup } from "../rollout/episode.js";
import { episodeSetup } from "../rollout/episode-setup.js";
import { encodePrompt, loadFolder, type LoadedFolder } from "../rollout/folder.js";
import { readJson, writeJsonAtomic } from "../util/atomic.js";
import { defaultRunName, RunDir, type Summary } from "../runs/run-dir.js";
import { makeTask, renderPrompt, resolveTemplate, type ChatRenderer, type Task, type TemplateName } from "../tasks/index.js";
import { DEMOS, resolveTrainSettings, toSources, trainSpec, type SettingsSources, type TrainRunConfig } from "./config.js";
import { applyMemorySettings, buildCritic, buildPolicy, resumeRunDir } from "./common.js";
import { quietReporter, type Reporter } from "./reporter.js";

export interface PrepareTrainOptions {
  /** Where messages, warnings and progress lines go (default: nowhere). */
  reporter?: Partial<Reporter>;
  /** Aborted → the run finishes its step, saves a checkpoint and stops (Ctrl-C). */
  signal?: AbortSignal;
  /** Called after every step with its metrics. */
  onStep?: (m: MetricsRow) => void;
  /** false: no run directory and no evaluations (benchmarks, tests). Default true. */
  persist?: boolean;
  /** Parts built by the caller instead of from the config (benchmarks, tests, your own task or engine). */
  parts?: {
    /** A model with its tokenizer (then `model` in the settings is not read). */
    model?: { model: Model; tokenizer: TrainerTokenizer; maxPositions?: number };
    task?: Task<unknown>;
    engine?: RolloutEngine;
    scorer?: GroupScorer<unknown>;
  };
  /** Replacements for stages of the RL step (src/rl/trainer.ts Stages). */
  stages?: Partial<Stages>;
}

export interface EvalFigures {
  "pass@1": number;
  [k: string]: number;
}

export interface TrainRunResult extends TrainerResult {
  /** The run directory (null when not persisted). */
  dir: string | null;
  base: EvalFigures | null;
  final: EvalFigures | null;
  /** summary.json's content (null when stopped early or not persisted). */
  summary: Summary | null;
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

/** The tokenizer as the trainer and the evaluation use it: BOS as the model wants it, special tokens kept in text. */
export function trainerTokenizer(f: LoadedFolder, template: TemplateName): TrainerTokenizer {
  const tok = f.tokenizer;
  return {
    encode: (text) => encodePrompt(tok, text, template !== "chat"),
    encodeText: (text) => tok.encode(text, { addSpecialTokens: false }),
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

/** The composed reward of the config (src/rewards/compose.ts). */
export function scorerFromConfig(c: { reward: TrainRunConfig["reward"]; task: Pick<TrainRunConfig["task"], "language"> }, task: Task<unknown>): GroupScorer<unknown> {
  const weights = parseRewardWeights(c.reward.reward, "reward");
  let judge = null;
  if (weights.judge !== undefined) {
    let template: string | undefined;
    if (c.reward.judgeTemplate !== null) {
      try {
        template = fs.readFileSync(c.reward.judgeTemplate, "utf8");
      } catch (e) {
        throw new UserError(`judge-template ${c.reward.judgeTemplate}: cannot read the file (${(e as Error).message})`);
      }
    }
    const apiKey = c.reward.judgeApiKey ?? process.env.OPENAI_API_KEY;
    judge = judgeReward({
      endpoint: c.reward.judgeEndpoint!, model: c.reward.judgeModel!, retries: c.reward.judgeRetries, timeoutMs: c.reward.judgeTimeout * 1000,
      concurrency: c.reward.judgeConcurrency, ...(template !== undefined ? { template } : {}), ...(apiKey ? { apiKey } : {}),
    });
  }
  return composeRewards({ weights, accuracy: (r, p, ctx) => task.score(r, p as never, ctx), language: c.task.language, judge });
}

export class TrainRun {
  private closed = false;

  constructor(
    readonly config: TrainRunConfig,
    readonly demo: boolean,
    readonly task: Task<unknown>,
    readonly template: TemplateName,
    readonly chat: ChatRenderer | undefined,
    readonly tokenizer: TrainerTokenizer,
    readonly model: Model,
    readonly policy: Policy,
    /** PPO's value model (critic = value), else null. */
    readonly critic: Critic | null,
    readonly engine: RolloutEngine,
    readonly scorer: GroupScorer<unknown>,
    /** Weight sync to the rollout servers (rollout-sync), as the afterUpdate stage; null = none. */
    private readonly sync: WeightSync | null,
    /** The run directory (null when not persisted). */
    readonly runDir: RunDir | null,
    private readonly checkpoint: { dir: string; state: { step: number; [k: string]: unknown } } | null,
    private readonly maxLen: number,
    private readonly reporter: Reporter,
    private readonly o: PrepareTrainOptions,
    /** Multi-turn episodes (tools), else null. */
    readonly episodes: EpisodeSetup | null = null,
  ) {}

  get dir(): string | null {
    return this.runDir?.dir ?? null;
  }

  /** The step this run starts from (a resumed run's checkpoint step, else 0). */
  get startStep(): number {
    return this.checkpoint?.state.step ?? 0;
  }

  /** Evaluates the model as it is now on the held-out problems into eval/<name>/ (the results belong to `step`'s weights). */
  async evaluate(name: string, step: number): Promise<EvalFigures | null> {
    const c = this.config;
    if (c.model.evalSamples === 0 || c.task.heldOut === 0 || !this.runDir) return null;
    const outDir = path.join(this.runDir.dir, "eval", name);
    const marker = path.join(outDir, "weights.json");
    if (fs.existsSync(outDir)) {
      const had = readJson<{ step?: unknown }>(marker)?.step;
      if (had !== step) {
        // results of other weights: keep them under their own name, evaluate these weights afresh
        let aside = path.join(this.runDir.dir, "eval", `${name}-step-${typeof had === "number" ? had : "unknown"}`);
        for (let i = 2; fs.existsSync(aside); i++) aside = aside.replace(/(-\d+)?$/, `-${i}`);
        fs.renameSync(outDir, aside);
        this.reporter.warn(`eval/${name} held results of the weights at step ${typeof had === "number" ? had : "?"}; moved to ${path.relative(this.runDir.dir, aside)}, evaluating step ${step}`);
      }
    }
    fs.mkdirSync(outDir, { recursive: true });
    writeJsonAtomic(marker, { step });
    const prog = this.reporter.progress(`evaluating ${name}: question`, c.task.heldOut, 0);
    let correct = 0;
    let seen = 0;
    const r = await evaluate(this.model, {
      task: this.task, questions: c.task.heldOut, template: this.template, ...(this.chat ? { chat: this.chat } : {}), tokenizer: this.tokenizer,
      maxLen: this.maxLen, slots: c.rl.promptsPerStep * c.rl.groupSize,
      sampling: { maxTokens: c.model.evalMaxTokens ?? c.rl.maxNewTokens, samples: c.model.evalSamples, temperature: c.model.evalTemperature, seed: c.train.seed },
      outDir, model: name, episodes: this.episodes,
      onProgress: (done, _n, row) => {
        if (row) {
          correct += row["pass@1"];
          seen++;
        }
        prog?.update(done, seen > 0 ? { "pass@1": correct / seen } : {});
      },
    });
    prog?.finish();
    const fig = figures(r, [...c.rl.recheckWords, ...(this.task.recheckMarkers ?? [])]);
    // with tools the habit to watch is calling them; without, re-checking
    const habit = this.episodes ? `tool calls in ${pct(fig["tools/call_share"] ?? 0)} of episodes (${(fig["tools/calls_per_episode"] ?? 0).toFixed(2)} per episode)` : `re-checks ${pct(fig["recheck_share"]!)}`;
    this.reporter.say(`${name.padEnd(5)} model: pass@1 ${fig["pass@1"].toFixed(3)}  (${r.summary.questions} held-out problems × ${c.model.evalSamples} samples, T=${c.model.evalTemperature})  length ${fig["length/mean"]!.toFixed(1)} tokens  ${habit}`);
    return fig;
  }

  /** Base evaluation → training → final evaluation → summary.json. */
  async run(): Promise<TrainRunResult> {
    if (this.closed) throw new UserError("this run is closed");
    const t0 = performance.now();
    const c = this.config;
    const runDir = this.runDir;
    const say = this.reporter.say;
    // Seconds already spent in earlier processes (the trainer's clock carries over on resume).
    const before = this.startStep > 0 && runDir ? (runDir.readMetrics().find((m) => m.step === this.startStep)?.time ?? 0) : 0;
    try {
      let base: EvalFigures | null = null;
      if (runDir) {
        // The base model's evaluation: the weights before any checkpoint is restored.
        base = await this.evaluate("base", 0);
        if (this.checkpoint) restoreCheckpoint([this.policy.checkpoint, ...(this.critic ? [this.critic.checkpoint] : [])], this.checkpoint);
      }
      // the rollout servers start from the weights this run starts from (a resumed run's, or the base as adapters/a folder)
      if (this.sync) await this.sync.push(this.policy, this.startStep, this.engine);
      let last: MetricsRow | null = null;
      const prog = this.reporter.progress("step", c.train.steps, this.startStep);
      const res = await train({
        rl: c.rl, train: c.train, task: this.task, template: this.template, ...(this.chat ? { chat: this.chat } : {}), tokenizer: this.tokenizer,
        engine: this.engine, policy: this.policy, critic: this.critic, scorer: this.scorer, run: runDir, episodes: this.episodes,
        resume: this.checkpoint ? { ...this.checkpoint, restored: true } : null,
        ...(this.o.signal ? { signal: this.o.signal } : {}),
        progress: prog ? { update: (d, e) => prog.update(d, { ...e, ...(this.episodes ? { calls: last?.["tools/calls_per_episode"] ?? Number.NaN } : { recheck: last?.["recheck_share"] ?? Number.NaN }) }), finish: () => prog.finish() } : null,
        onStep: (m) => {
          last = m;
          this.o.onStep?.(m);
        },
        warn: (msg) => this.reporter.warn(msg),
        stages: { ...(this.sync ? { afterUpdate: this.sync.stage } : {}), ...(this.o.stages ?? {}) },
        // which weights the rollouts come from: the last push (sync), the base (remote without sync), else the policy's own
        ...(this.sync ? { rolloutVersion: this.sync.pushedStep } : c.rollout.engine === "remote" ? { rolloutVersion: () => 0 } : {}),
        asyncRollouts: c.rl.async ? { maxStaleness: c.rl.maxStaleness } : null,
      });
      if (res.stopped) {
        if (runDir) say(`stopped at step ${res.steps}; checkpoint saved. Continue with: aha train --resume ${runDir.dir}`);
        return { ...res, dir: runDir?.dir ?? null, base, final: null, summary: null };
      }
      const final = runDir ? await this.evaluate("final", res.steps) : null;
      const wall = before + (performance.now() - t0) / 1000;
      let summary: Summary | null = null;
      if (runDir) {
        summary = { ...(base ? { base } : {}), ...(final ? { final } : {}), steps: res.steps, wall_seconds: Math.round(wall * 10) / 10 };
        runDir.writeSummary(summary);
        const metrics = runDir.readMetrics();
        const first = metrics[0];
        const end = metrics.slice(-5);
        const avg = (k: string): number => end.reduce((a, m) => a + (m[k] ?? 0), 0) / Math.max(end.length, 1);
        const habit = this.episodes
          ? `tool calls per episode ${(first?.["tools/calls_per_episode"] ?? 0).toFixed(2)} → ${avg("tools/calls_per_episode").toFixed(2)}`
          : `re-check share ${pct(first?.["recheck_share"] ?? 0)} → ${pct(avg("recheck_share"))}`;
        if (first) say(`training: accuracy ${pct(first["accuracy"] ?? 0)} → ${pct(avg("accuracy"))}, length ${(first["length/mean"] ?? 0).toFixed(1)} → ${avg("length/mean").toFixed(1)} tokens, ${habit} (step 1 → mean of the last ${end.length})`);
        if (base && final) say(`pass@1 on held-out problems: ${base["pass@1"].toFixed(3)} → ${final["pass@1"].toFixed(3)} (${final["pass@1"] >= base["pass@1"] ? "+" : ""}${(100 * (final["pass@1"] - base["pass@1"])).toFixed(1)} points)`);
        if (base && final && this.episodes) say(`episodes that call a tool: ${pct(base["tools/call_share"] ?? 0)} → ${pct(final["tools/call_share"] ?? 0)}`);
        say(`done in ${(wall / 60).toFixed(1)} min. Results: ${path.join(runDir.dir, "summary.json")}, metrics.jsonl, samples.jsonl, checkpoints/`);
      }
      return { ...res, dir: runDir?.dir ?? null, base, final, summary };
    } catch (e) {
      if (runDir && runDir.getStatus().state === "running") runDir.setState("crashed", (e as Error).message);
      throw e;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.engine.close();
  }
}

function figures(r: EvalResult, recheckWords: readonly string[]): EvalFigures {
  const samples = r.rows.flatMap((row) => row.samples);
  const out: EvalFigures = { "pass@1": r.summary["pass@1"] };
  for (const [k, v] of Object.entries(r.summary["pass@k"])) if (k !== "1") out[`pass@${k}`] = v;
  out["length/mean"] = r.summary["length/mean"];
  out["recheck_share"] = samples.filter((s) => rechecks(s.response, recheckWords)).length / Math.max(samples.length, 1);
  for (const [k, v] of Object.entries(r.summary)) if (k.startsWith("tools/") && typeof v === "number") out[k] = v;
  // episodes with at least one tool call (the tools demo's before/after habit)
  const episodes = samples.filter((s) => s.episode);
  if (episodes.length > 0) out["tools/call_share"] = episodes.filter((s) => s.episode!.calls.length > 0).length / episodes.length;
  return out;
}

/**
 * Prepares a run: `settings` is a settings object (flat keys as in YAML, or camelCase), or sources
 * (a settings object, a YAML file, command-line flags). Nothing is trained until `run()`.
 */
export async function prepareTrainRun(settings: Record<string, unknown> | SettingsSources = {}, o: PrepareTrainOptions = {}): Promise<TrainRun> {
  const src = toSources(settings);
  const { config: c, demo, demoName } = resolveTrainSettings(src, { allowDemo: !o.parts?.model });
  const reporter: Reporter = { ...quietReporter, ...(o.reporter ?? {}) };
  const persist = o.persist ?? true;
  // settings that cannot work together across sections, before anything is loaded or written
  if (c.rl.async && (c.rollout.engine !== "remote" || c.rollout.sync === "none")) {
    throw new UserError("async rollouts need remote servers that get the new weights: set rollout-engine remote and rollout-sync vllm|sglang", "the local engine samples in this process, so there is nothing to overlap");
  }
  if (c.rollout.sync === "vllm" && c.lora.rank === 0) throw new UserError("rollout-sync vllm loads LoRA adapters (POST /v1/load_lora_adapter): set lora-rank > 0", "or push full weights with rollout-sync sglang");
  if (c.rollout.sync === "sglang" && c.lora.rank > 0) throw new UserError("rollout-sync sglang loads a full Hugging Face folder (POST /update_weights_from_disk): use full fine-tuning (lora-rank 0)", "or push LoRA adapters with rollout-sync vllm");
  if (c.rollout.sync !== "none" && c.rollout.syncDir === null && !persist) throw new UserError("rollout-sync needs rollout-sync-dir (a folder the servers can read) when the run has no run directory");

  // ---- task, model, tokenizer
  const task = o.parts?.task ?? (await makeTask(c.task, c.train.seed));
  const template = resolveTemplate(c.task, task);
  let model: Model;
  let tokenizer: TrainerTokenizer;
  let chat: ChatRenderer | undefined;
  let context: number;
  let folder: LoadedFolder | null = null;
  let chatTpl: ChatTemplate | null = null;
  const modelDir = c.model.model!;
  if (o.parts?.model) {
    ({ model, tokenizer } = o.parts.model);
    context = o.parts.model.maxPositions ?? model.cfg.maxPositionEmbeddings;
  } else {
    if (!fs.existsSync(path.join(modelDir, "config.json"))) throw new UserError(`model ${modelDir}: not a model folder (no config.json there)`, "give a Hugging Face model folder (config.json, *.safetensors, tokenizer.json)");
    if (!fs.existsSync(path.join(modelDir, "tokenizer.json"))) throw new UserError(`model ${modelDir}: no tokenizer.json there`, "aha train needs the model's tokenizer.json");
    folder = loadFolder(modelDir, { precision: c.model.precision, samplePrecision: c.model.samplePrecision, kvCache: c.model.kvCache });
    for (const w of folder.loaded.warnings) reporter.warn(`warning: ${w}`);
    chatTpl = template === "chat" ? ChatTemplate.fromTokenizer(folder.tokenizer) : null;
    tokenizer = trainerTokenizer(folder, template);
    model = folder.loaded.model;
    context = folder.loaded.config.maxPositionEmbeddings;
  }
  // ---- tools: the environment of multi-turn episodes (its tool list goes into a chat template's prompt)
  const episodes = await episodeSetup(c.tools, { maxNewTokens: c.rl.maxNewTokens, encode: tokenizer.encodeText ?? tokenizer.encode, chatTemplate: chatTpl, unsafeNoSandbox: c.task.unsafeNoSandbox });
  if (chatTpl) {
    const vars = episodes?.env.templateVars?.() ?? {};
    const tpl = chatTpl;
    chat = (m) => tpl.render(m, { addGenerationPrompt: true, extra: vars });
  }
  // an episode's tokens (model + tools) are bounded by max-episode-tokens instead of max-new-tokens
  const genTokens = episodes ? episodes.limits.maxTokens : c.rl.maxNewTokens;
  const evalMax = c.model.evalMaxTokens ?? genTokens;
  const longest = longestPrompt(task, template, chat, tokenizer.encode, c.task.heldOut);
  const maxLen = Math.min(context, longest + 16 + Math.max(genTokens, evalMax));
  if (longest + genTokens > context) throw new UserError(`prompts of up to ${longest} tokens + ${episodes ? "max-episode-tokens" : "max-new-tokens"} ${genTokens} exceed the model's context (${context})`);

  // ---- the run directory first: a broken checkpoint is named before anything runs
  let runDir: RunDir | null = null;
  let checkpoint: { dir: string; state: { step: number; [k: string]: unknown } } | null = null;
  if (persist) {
    const label = demoName === "tools" ? "demo-tools" : demo ? "demo" : task.name;
    const flat = trainSpec.toFlat(c);
    for (const k of ["run-dir", "name", "resume"]) flat[k] = null; // where a run lives is not part of what it is
    if (c.model.resume !== null) {
      ({ runDir, checkpoint } = resumeRunDir(c.model.resume, reporter, c.rl.critic === "value" ? ["critic/model", "critic/optimizer.safetensors"] : []));
      const startStep = checkpoint?.state.step ?? 0;
      if (startStep >= c.train.steps) {
        runDir.setState("finished");
        throw new UserError(`${c.model.resume} has finished its ${startStep} steps`, `give more steps to train further: aha train --resume ${c.model.resume} --steps N (N > ${startStep})`);
      }
    } else {
      const dir = c.model.runDir ?? path.join("runs", c.model.name ?? defaultRunName(label));
      try {
        runDir = RunDir.create(dir, flat, { total_steps: c.train.steps, kind: "train", task: task.name, model: path.basename(path.resolve(modelDir)), algorithm: c.rl.algorithm });
      } catch (e) {
        throw new UserError(`${(e as Error).message}`, "choose another run-dir / name, or resume it");
      }
    }
  }

  // ---- policy, reward, engine
  const policy = buildPolicy(model, c.lora, c.train, {
    reference: c.rl.klCoef !== 0,
    ...(folder ? { baseModel: path.resolve(modelDir), saveOptions: { rawConfig: folder.loaded.rawConfig, copyFrom: modelDir } } : {}),
  });
  // PPO's critic: a value model whose body starts as a copy of the base (Open-Reasoner-Zero); LoRA like the policy
  const critic = c.rl.critic === "value" ? buildCritic(model, c, folder ? { rawConfig: folder.loaded.rawConfig, baseModel: path.resolve(modelDir) } : {}) : null;
  applyMemorySettings(model, c.lora, c.train);
  const scorer = o.parts?.scorer ?? scorerFromConfig(c, task);
  // with vLLM-style sync the servers serve the policy as an adapter: requests name it as the model
  const engine = o.parts?.engine ?? rolloutEngineFromConfig(c.rollout.sync === "vllm" ? { ...c.rollout, modelName: c.rollout.loraName } : c.rollout, {
    model, slots: c.rl.promptsPerStep * c.rl.groupSize, maxLen, decode: (ids) => tokenizer.decode(ids), seed: c.train.seed,
  });

  if (runDir) {
    const startStep = checkpoint?.state.step ?? 0;
    reporter.say(demo
      ? `aha train: the built-in demo — ${path.basename(modelDir)} ${DEMOS[demoName!].learns} by GRPO (${c.train.steps} steps of ${c.rl.promptsPerStep} prompts × ${c.rl.groupSize} samples)`
      : `aha train: ${path.basename(path.resolve(modelDir))} on ${task.name} with ${c.rl.algorithm}${c.lora.rank > 0 ? ` + LoRA r=${c.lora.rank}` : ""}, ${c.train.steps} steps`);
    reporter.say(`run directory: ${runDir.dir}${startStep > 0 ? ` (resuming at step ${startStep})` : ""}`);
  }
  let sync: WeightSync | null = null;
  if (c.rollout.sync !== "none") {
    const dir = c.rollout.syncDir ?? path.join(runDir!.dir, "weights");
    const apiKey = c.rollout.apiKey ?? process.env.OPENAI_API_KEY;
    sync = weightSyncStage({
      protocol: c.rollout.sync, endpoints: parseEndpointList(c.rollout.endpoint!), loraName: c.rollout.loraName,
      dir, every: c.rollout.syncEvery, ...(apiKey ? { apiKey } : {}), warn: (m) => reporter.warn(`warning: ${m}`),
    });
  }
  return new TrainRun(c, demo, task, template, chat, tokenizer, model, policy, critic, engine, scorer, sync, runDir, checkpoint, maxLen, reporter, o, episodes);
}

