/**
 * The RL trainer: `train()` is the shared loop (src/rl/loop.ts: resume, checkpoints, skipped steps,
 * metrics, progress, Ctrl-C) over the named stages of one step (src/rl/stages.ts):
 *
 *   collect → score → [select: dynamic sampling, more rounds] → batch → reference → advantages → update
 *
 * Resume: pass the checkpoint from RunDir.resume; a resumed run continues exactly (the same metrics as
 * an uninterrupted one, timings aside). The model, optimizer, reference and weight saving come in as a
 * Policy (full fine-tuning or LoRA, src/rl/policy.ts); the rollout engine is any RolloutEngine
 * (src/rollout/); the reward is the task's verifier unless a composed scorer is given
 * (src/rewards/compose.ts). Stages can be replaced through `stages` (tools, a critic, weight sync).
 */
import { AhaError } from "../errors.js";
import { composeRewards, type GroupScorer } from "../rewards/compose.js";
import { PromptStream, type StreamState } from "../tasks/stream.js";
import { Rng, type RngState } from "../util/rng.js";
import { toolMetrics } from "../rollout/episode.js";
import { yieldToLoop } from "../util/yield.js";
import type { RlConfig } from "./config.js";
import { hooksOf, runLoop, type CheckpointComponent, type MetricsRow, type RunHooks, type SampleRow } from "./loop.js";
import type { ObjectiveSettings } from "./objective.js";
import { rechecks } from "./shaping.js";
import * as criticModule from "./critic.js";
import * as stagesModule from "./stages.js";
import type { Phases, Sample, StepContext } from "./stages.js";

export type { MetricsRow, SampleRow, RunSink, ProgressSink, CheckpointState } from "./loop.js";
export type { TrainerTokenizer } from "./stages.js";
export type { Policy } from "./policy.js";

/** The stages a step runs; any can be replaced (TrainerOptions.stages). */
export interface Stages {
  collect: typeof stagesModule.collect;
  score: typeof stagesModule.score;
  select: typeof stagesModule.selectGroups;
  batch: typeof stagesModule.makeBatch;
  reference: typeof stagesModule.reference;
  advantages: typeof stagesModule.advantages;
  update: typeof stagesModule.update;
  /** The critic's update (critic = value). */
  updateCritic: typeof criticModule.updateCritic;
  /** After the update (e.g. publish weights to rollout servers); default nothing. */
  afterUpdate?: (ctx: StepContext, step: number) => Promise<void> | void;
}

export const DEFAULT_STAGES: Stages = {
  collect: stagesModule.collect,
  score: stagesModule.score,
  select: stagesModule.selectGroups,
  batch: stagesModule.makeBatch,
  reference: stagesModule.reference,
  advantages: stagesModule.advantages,
  update: stagesModule.update,
  updateCritic: criticModule.updateCritic,
};

/** A batch of rollouts being generated (and scored), with the weight version it was launched under. */
interface Rollouts {
  promise: Promise<{ groups: Sample[][]; generate: number; reward: number }>;
  version: number;
}

/** Lets queued HTTP requests be written to their sockets before synchronous compute blocks the event loop. */
async function yieldToNetwork(): Promise<void> {
  for (let i = 0; i < 3; i++) await yieldToLoop();
  await new Promise((r) => setTimeout(r, 2));
}

/** The step context's inputs (src/rl/stages.ts StepContext: config, task, template, tokenizer, engine, policy), the reward, the hooks. */
export interface TrainerOptions extends RunHooks, Pick<StepContext, "rl" | "train" | "task" | "template" | "chat" | "tokenizer" | "engine" | "policy" | "separateOldPass" | "critic" | "episodes"> {
  /** The reward: default the task's verifier alone (accuracy=1). */
  scorer?: GroupScorer<unknown>;
  /** Replacements for stages of the step. */
  stages?: Partial<Stages>;
  /** More things with files in a checkpoint (e.g. a critic). */
  components?: CheckpointComponent[];
  /**
   * Async rollouts (remote engines with weight sync): the next steps' rollouts are generated while this
   * step trains, never from weights more than `maxStaleness` versions older than the policy. Not
   * deterministic (which weights a server holds when it samples depends on timing).
   */
  asyncRollouts?: { maxStaleness: number } | null;
  /** The step whose weights the rollout engine samples from now (weight sync's last push); default: the current weights (step − 1). */
  rolloutVersion?: () => number;
}

export interface TrainerResult {
  steps: number;
  stopped: boolean;
  metrics: MetricsRow[];
}

/** The objective's switches from the rl config. */
export function objectiveSettings(rl: RlConfig): ObjectiveSettings {
  return {
    ratioLevel: rl.ratio,
    clipLow: rl.clipLow,
    clipHigh: rl.clipHigh,
    dualClip: rl.dualClip,
    aggregation: rl.lossAgg,
    maxLength: rl.maxNewTokens,
    klEstimator: rl.klEstimator,
    klCoef: rl.klCoef,
    klPlacement: rl.klIn,
    entropyCoef: rl.entropyCoef,
    tisCap: rl.tisMode === "truncate" ? rl.tisCap : null,
    icepop: rl.tisMode === "icepop" ? { low: rl.icepopLow, high: rl.icepopHigh } : null,
  };
}

const TIME_KEYS = /^(time$|seconds\/|tokens_per_s\/)/;
/** Metrics keys that depend on the wall clock (left out when comparing a resumed run with an uninterrupted one). */
export const isTimingKey = (k: string): boolean => TIME_KEYS.test(k);

/** What state.json of an RL checkpoint holds besides the step (and the policy's optimizer step). */
interface TrainerState {
  rng: { sampling: RngState };
  stream: StreamState;
}

export async function train(o: TrainerOptions): Promise<TrainerResult> {
  const { rl, task, policy } = o;
  if (rl.klCoef !== 0 && !policy.referenceLogp) throw new AhaError("AHA_NO_REFERENCE", `kl-coef = ${rl.klCoef} needs a reference model`, "set --kl-coef 0 or give the policy a reference");
  const st: Stages = { ...DEFAULT_STAGES, ...(o.stages ?? {}) };
  const critic = o.critic ?? null;
  if (rl.critic === "value" && !critic) throw new AhaError("AHA_NO_CRITIC", "critic = value needs a value model", "give TrainerOptions.critic (prepareTrainRun builds one from the base model)");
  const ctx: StepContext = {
    rl, train: o.train, task, template: o.template, ...(o.chat ? { chat: o.chat } : {}), tokenizer: o.tokenizer, engine: o.engine, policy,
    scorer: o.scorer ?? composeRewards({ weights: { accuracy: 1 }, accuracy: (r, p, c) => task.score(r, p as never, c) }),
    settings: objectiveSettings(rl), ...(o.separateOldPass ? { separateOldPass: true } : {}), critic,
    ...(o.episodes ? { episodes: o.episodes } : {}),
  };
  const recheckWords = [...rl.recheckWords, ...(task.recheckMarkers ?? [])];
  let samplingRng = new Rng(o.train.seed, "sampling");
  const asyncMode = o.asyncRollouts ?? null;
  /** Async mode: rollouts launched during earlier steps, oldest first. */
  const queue: Rollouts[] = [];
  let stream = new PromptStream(task.train, o.train.seed);

  return runLoop({
    ...hooksOf(o),
    train: o.train,
    components: [policy.checkpoint, ...(critic ? [critic.checkpoint] : []), ...(o.components ?? [])],
    nanHint: "lower --lr, set --grad-clip, or check the model's weights",
    state: {
      save: (): Record<string, unknown> => ({ rng: { sampling: samplingRng.state() }, stream: stream.state() } satisfies TrainerState),
      load: (s) => {
        const t = s as unknown as TrainerState;
        samplingRng = Rng.fromState(t.rng.sampling);
        stream = new PromptStream(task.train, o.train.seed, t.stream);
      },
    },
    step: async (step, lr) => {
      const m: Record<string, number> = {};
      const phase: Phases = { generate: 0, reward: 0, reference: 0, train: 0 };

      // ---- collect, score, select (dynamic sampling: more rounds until the batch is full). In async mode
      // the first round comes from the queue of rollouts launched during earlier steps (prefetched while
      // those steps trained), within the staleness bound; the queue is then topped up before this step trains.
      const kept: Sample[][] = [];
      const seen: Sample[] = [];
      let firstZeroVar = Number.NaN;
      const launch = (count: number): Rollouts => {
        const problems = stream.next(count);
        const seed = samplingRng.u32();
        const version = o.rolloutVersion?.() ?? step - 1;
        const t0 = performance.now();
        const promise = st.collect(ctx, problems, seed).then(async (groups) => {
          const t1 = performance.now();
          await st.score(ctx, groups);
          return { groups, generate: (t1 - t0) / 1000, reward: (performance.now() - t1) / 1000 };
        });
        promise.catch(() => undefined); // awaited later; a failure surfaces there
        return { promise, version };
      };
      for (let round = 0; kept.length < rl.promptsPerStep; round++) {
        let r: Rollouts;
        if (round === 0 && asyncMode) {
          r = queue.shift() ?? launch(rl.promptsPerStep);
          while (step - 1 - r.version > asyncMode.maxStaleness && r.version < (o.rolloutVersion?.() ?? step - 1)) {
            // too old, and the servers hold newer weights now (the queue outlived a pause in syncing): drop
            // it and sample afresh; a batch from the newest weights the servers have is always taken
            m["async/discarded_batches"] = (m["async/discarded_batches"] ?? 0) + 1;
            r = queue.shift() ?? launch(rl.promptsPerStep);
          }
        } else r = launch(rl.promptsPerStep - kept.length);
        const tWait = performance.now();
        const got = await r.promise;
        // sync mode: the whole generation; async: what was not overlapped with earlier steps' training
        phase.generate += asyncMode && round === 0 ? (performance.now() - tWait) / 1000 : got.generate;
        phase.reward += asyncMode && round === 0 ? 0 : got.reward;
        const staleness = step - 1 - r.version;
        for (const g of got.groups) for (const smp of g) smp.weightVersion = r.version;
        if (round === 0) m["rollout/staleness"] = staleness;
        seen.push(...got.groups.flat());
        const sel = st.select(rl, got.groups);
        if (round === 0) firstZeroVar = sel.zeroVarianceFrac;
        for (const i of sel.keep) kept.push(got.groups[i]!);
        if (!rl.dynamicSampling || round >= rl.dynamicSamplingRounds) break;
      }
      if (asyncMode) {
        // prefetch: rollouts for the next steps, from the weights the servers hold now; a batch launched now
        // is trained at step + k with staleness k, so at most max-staleness batches wait in the queue
        while (queue.length < asyncMode.maxStaleness && step + queue.length < o.train.steps) queue.push(launch(rl.promptsPerStep));
        await yieldToNetwork(); // let the requests leave before this step's training blocks the event loop
      }
      const samples = kept.slice(0, rl.promptsPerStep).flat();
      rolloutMetrics(m, seen, recheckWords);
      m["groups/zero_variance_frac"] = firstZeroVar;
      m["groups/trained"] = samples.length / rl.groupSize;

      let skipped = false;
      if (samples.length > 0) {
        const b = st.batch(rl, samples);
        const tRef = performance.now();
        const lp = st.reference(ctx, b);
        const adv = st.advantages(ctx, b, lp);
        phase.reference = (performance.now() - tRef) / 1000;
        const tTrain = performance.now();
        // VAPO's value pretraining: the first value-warmup-steps train only the critic
        const policyMoves = step > rl.valueWarmupSteps;
        const u = policyMoves ? st.update(ctx, b, lp, adv, lr) : null;
        const cu = critic && adv.critic ? st.updateCritic(ctx, b, adv, lr * (rl.criticLr / o.train.lr)) : null;
        phase.train = (performance.now() - tTrain) / 1000;
        skipped = (u?.skipped ?? false) || (cu?.skipped ?? false);
        if (u && u.updates > 0 && !u.skipped) {
          m["loss/policy"] = u.policyLoss;
          m["loss/total"] = u.loss;
          if (rl.klIn === "loss" && rl.klCoef !== 0) m["loss/kl"] = u.klLoss;
          m["grad_norm"] = u.gradNorm;
          m["entropy"] = u.entropy;
          m["clip/low_frac"] = u.clipLowFrac;
          m["clip/high_frac"] = u.clipHighFrac;
          if (u.tis) Object.assign(m, u.tis);
          m["tokens_per_s/train"] = u.trainTokens / Math.max(phase.train, 1e-9);
        }
        if (adv.critic) {
          const gs = adv.critic.gae.stats;
          m["critic/explained_variance"] = gs.explainedVariance;
          m["critic/value_mean"] = gs.valueMean;
          m["critic/return_mean"] = gs.returnMean;
          m["advantage/mean"] = gs.advantageMean;
          m["advantage/std"] = gs.advantageStd;
          m["advantage/min"] = gs.advantageMin;
          m["advantage/max"] = gs.advantageMax;
        }
        if (cu && cu.updates > 0 && !cu.skipped) {
          m["critic/value_loss"] = cu.loss;
          m["critic/clip_frac"] = cu.clipFrac;
          m["critic/grad_norm"] = cu.gradNorm;
        }
        const kl = skipped ? null : stagesModule.meanKl(ctx, b, lp, adv);
        if (kl !== null) m["kl"] = kl;
        if (!skipped) await st.afterUpdate?.(ctx, step);
      }
      m["seconds/generate"] = phase.generate;
      m["seconds/reward"] = phase.reward;
      m["seconds/reference"] = phase.reference;
      m["seconds/train"] = phase.train;
      m["tokens_per_s/rollout"] = seen.reduce((a, s) => a + s.response.length, 0) / Math.max(phase.generate, 1e-9);
      const eps = o.engine.endpoints?.();
      if (eps) m["rollout/endpoints_up"] = eps.filter((e) => e.up).length;
      return {
        metrics: m,
        skipped,
        samples: pickSamples(seen, o.train.samplesPerStep, rl.groupSize).map((s) => sampleRow(step, s)),
        progress: { reward: m["reward/mean"] ?? Number.NaN, acc: m["accuracy"] ?? Number.NaN, len: m["length/mean"] ?? Number.NaN },
      };
    },
  });
}

// ***** metrics and samples of a step *****

function rolloutMetrics(m: Record<string, number>, seen: readonly Sample[], recheckWords: readonly string[]): void {
  const rewards = seen.map((s) => s.reward ?? null).filter((r): r is number => r !== null && Number.isFinite(r));
  const mean = rewards.reduce((a, b) => a + b, 0) / Math.max(rewards.length, 1);
  m["reward/mean"] = mean;
  m["reward/std"] = Math.sqrt(rewards.reduce((a, r) => a + (r - mean) ** 2, 0) / Math.max(rewards.length, 1));
  m["reward/unscorable_frac"] = (seen.length - rewards.length) / Math.max(seen.length, 1);
  const parts = new Map<string, { sum: number; n: number }>();
  for (const s of seen)
    for (const [k, v] of Object.entries(s.scored?.parts ?? {})) {
      const p = parts.get(k) ?? { sum: 0, n: 0 };
      p.sum += v;
      p.n++;
      parts.set(k, p);
    }
  for (const [k, p] of parts) m[`reward/${k}`] = p.sum / p.n;
  m["accuracy"] = seen.filter((s) => s.scored?.correct).length / Math.max(seen.length, 1);
  // R1's format part when it is in the reward, else the task verifier's own format part (Countdown, K&K).
  const fmt = parts.has("format") ? "format" : parts.has("accuracy.format") ? "accuracy.format" : null;
  if (fmt) m["format_rate"] = seen.filter((s) => (s.scored?.parts[fmt] ?? 0) > 0).length / seen.length;
  const lens = seen.map((s) => modelTokens(s));
  m["length/mean"] = lens.reduce((a, b) => a + b, 0) / Math.max(lens.length, 1);
  m["length/min"] = Math.min(...lens);
  m["length/max"] = Math.max(...lens);
  m["length/truncated_frac"] = seen.filter((s) => s.truncated).length / Math.max(seen.length, 1);
  m["recheck_share"] = seen.filter((s) => rechecks(s.text, recheckWords)).length / Math.max(seen.length, 1);
  Object.assign(m, toolMetrics(seen.flatMap((s) => (s.episode ? [s.episode] : []))));
}


/** The response's length in the model's own tokens (environment tokens, masked out of the loss, do not count). */
function modelTokens(s: Sample): number {
  if (!s.lossMask) return s.response.length;
  let n = 0;
  for (const v of s.lossMask) n += v > 0 ? 1 : 0;
  return n;
}

/** One response from each of the first groups, then more per group, up to k. */
function pickSamples(seen: readonly Sample[], k: number, G: number): Sample[] {
  const groups = Math.ceil(seen.length / G);
  const out: Sample[] = [];
  for (let j = 0; j < G && out.length < k; j++) for (let g = 0; g < groups && out.length < k; g++) if (seen[g * G + j]) out.push(seen[g * G + j]!);
  return out;
}

function sampleRow(step: number, s: Sample): SampleRow {
  const sc = s.scored!;
  return {
    step, prompt: s.promptText, response: s.text, reward: s.reward ?? null, parts: sc.parts, correct: sc.correct, extracted: sc.extracted, length: modelTokens(s), truncated: s.truncated,
    ...(s.weightVersion !== undefined ? { weight_version: s.weightVersion } : {}), ...(s.episode ? { episode: s.episode } : {}),
  };
}
