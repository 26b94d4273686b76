/**
 * The RL trainer loop (DESIGN.md "One GRPO step"): per step
 *   prompts (task stream) → rollout (G per prompt) → rewards (task verifier, overlong shaping)
 *   → [dynamic sampling: drop zero-variance groups, sample more] → old log-probs on the trainer's own
 *   forward pass (+ reference log-probs when β > 0) → advantages → epochs × mini-batches of updates
 *   (micro-batches under a token cap, gradients accumulated) → metrics.jsonl, samples.jsonl, status,
 *   checkpoints.
 * Steps whose loss or gradient norm is not finite are skipped (no optimizer update) and reported;
 * `maxBadSteps` in a row stop the run. An aborted signal (Ctrl-C) ends the run after the current step
 * with a checkpoint. Resume: pass the checkpoint from RunDir.resume; a resumed run continues exactly
 * (the same metrics as an uninterrupted one, timings aside).
 *
 * The model, optimizer, reference and weight saving come in as a Policy (full fine-tuning or LoRA are
 * the caller's choice); the rollout engine is anything with `generate` (src/rollout/*).
 */
import * as path from "node:path";
import { AhaError } from "../errors.js";
import { readSafetensors, writeSafetensors } from "../formats/safetensors.js";
import type { Model } from "../model/model.js";
import { clipGradNorm, lrAt, type AdamW } from "../model/optim.js";
import { PromptStream, type StreamState } from "../tasks/stream.js";
import { renderPrompt, type ChatRenderer, type TemplateName } from "../tasks/templates.js";
import type { Problem, Scored, Task } from "../tasks/types.js";
import { Rng, type RngState } from "../util/rng.js";
import { computeAdvantages } from "./advantages.js";
import { microBatches, packSequences, type Sequence } from "./batch.js";
import type { RlConfig, TrainConfig } from "./config.js";
import { klPerToken, policyObjective, type ObjectiveSettings } from "./objective.js";
import { overlongPenalty, rechecks, zeroVarianceGroups } from "./shaping.js";

// ***** what the trainer is given *****

/** A metrics line (docs/run-directory.md). */
export interface MetricsRow {
  step: number;
  time: number;
  [key: string]: number;
}

/** A samples.jsonl line (docs/run-directory.md). */
export interface SampleRow {
  step: number;
  prompt: string;
  response: string;
  reward: number | null;
  parts: Record<string, number>;
  correct: boolean;
  extracted: string | null;
  length: number;
  truncated: boolean;
}

export interface CheckpointState {
  step: number;
  [key: string]: unknown;
}

/**
 * Where a run's outputs go: src/runs/run-dir.ts's RunDir fits (the runs layer sits above rl, so the
 * trainer names only what it calls).
 */
export interface RunSink {
  appendMetrics(row: MetricsRow): void;
  appendSamples(rows: readonly SampleRow[]): void;
  readMetrics(): MetricsRow[];
  setStep(step: number): void;
  setState(state: "running" | "finished" | "crashed" | "stopped", error?: string): void;
  saveCheckpoint(state: CheckpointState, write: (dir: string) => Promise<void> | void, keep?: number): Promise<string>;
}

/** The terminal progress line (src/runs/progress.ts's Progress fits). */
export interface ProgressSink {
  update(done: number, extra?: Record<string, number | string>): void;
  finish(): void;
}

export interface TrainerTokenizer {
  /** Prompt text → ids (with a BOS token when the model wants one). */
  encode(text: string): number[];
  decode(ids: ArrayLike<number>): string;
  /** Tokens that end a response (EOS, end of turn). */
  stopTokenIds: readonly number[];
}

export interface RolloutRequestLike {
  promptIds: ArrayLike<number>;
  n?: number;
  maxNewTokens: number;
  temperature?: number;
  topP?: number;
  stopTokenIds?: readonly number[];
}

export interface CompletionLike {
  tokenIds: Int32Array;
  logprobs: Float32Array | null;
  finishReason: "stop" | "length";
}

/** The rollout engine as the trainer uses it (src/rollout/engine.ts's RolloutEngine fits). */
export interface RolloutLike {
  readonly logprobKind: "model" | "sampler" | "none";
  generate(requests: readonly RolloutRequestLike[], opts?: { seed?: number }): Promise<CompletionLike[][]>;
}

export interface Policy {
  /** forward/backward of the policy (adapters attached for LoRA). */
  model: Model;
  /** The optimizer over the trainable tensors (the model's arenas, or the LoRA adapters'). */
  optimizer: AdamW;
  /** log π_ref of the targets (tokens, cuSeqlens, targets → (T)); null when there is no reference (β = 0). */
  referenceLogp: ((tokens: Int32Array, cuSeqlens: Int32Array, targets: Int32Array) => Float32Array) | null;
  /** Writes / reads the trainable weights (an HF folder or a PEFT adapter folder). */
  saveWeights(dir: string): void;
  loadWeights(dir: string): void;
}

export interface TrainerOptions {
  rl: RlConfig;
  train: TrainConfig;
  task: Task<unknown>;
  template: TemplateName;
  chat?: ChatRenderer;
  tokenizer: TrainerTokenizer;
  engine: RolloutLike;
  policy: Policy;
  /** Where metrics, samples, status and checkpoints go; null = nowhere (tests, benchmarks). */
  run: RunSink | null;
  /** A checkpoint to continue from (RunDir.resume's `checkpoint`). */
  resume?: { dir: string; state: CheckpointState } | null;
  /** Aborted → finish the current step, save a checkpoint, state "stopped" (Ctrl-C). */
  signal?: AbortSignal;
  /** The progress line (none when absent). */
  progress?: ProgressSink | null;
  /** Always run the separate old-log-prob pass (tests compare it with the fused one). */
  separateOldPass?: boolean;
  /** Called after every step with its metrics (tests, the dashboard's live feed). */
  onStep?: (m: MetricsRow) => void;
  /** Messages for the user (a skipped step); default none. */
  warn?: (message: string) => void;
}

export interface TrainerResult {
  steps: number;
  stopped: boolean;
  metrics: MetricsRow[];
}

/** What state.json of a checkpoint holds besides the step. */
interface TrainerState extends CheckpointState {
  rng: { sampling: RngState };
  stream: StreamState;
  optimizerStep: number;
  badSteps: number;
}

/** One sampled response with everything the step needs. */
interface Sample {
  group: number;
  problem: Problem<unknown>;
  promptText: string;
  prompt: number[];
  response: Int32Array;
  text: string;
  scored: Scored;
  reward: number | null;
  truncated: boolean;
  engineLogp: Float32Array | null;
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
    tisCap: rl.tisCap,
  };
}

const TIME_KEYS = /^(time$|seconds\/|tokens_per_s\/)/;
/** Metrics keys that depend on the wall clock (left out when comparing a resumed run with an uninterrupted one). */
export const isTimingKey = (k: string): boolean => TIME_KEYS.test(k);

// ***** the loop *****

export async function train(o: TrainerOptions): Promise<TrainerResult> {
  const { rl, train: tc, task, policy, run } = o;
  const G = rl.groupSize;
  const P = rl.promptsPerStep;
  const settings = objectiveSettings(rl);
  const needRef = rl.klCoef !== 0;
  if (needRef && !policy.referenceLogp) throw new AhaError("AHA_NO_REFERENCE", `kl-coef = ${rl.klCoef} needs a reference model`, "set --kl-coef 0 or give the policy a reference");
  const recheckWords = [...rl.recheckWords, ...(task.recheckMarkers ?? [])];

  // State (fresh or from the checkpoint).
  let step = 0;
  let badSteps = 0;
  let samplingRng = new Rng(tc.seed, "sampling");
  let streamState: StreamState = { cursor: 0 };
  if (o.resume) {
    const s = o.resume.state as TrainerState;
    policy.loadWeights(path.join(o.resume.dir, "model"));
    const opt = readSafetensors(path.join(o.resume.dir, "optimizer.safetensors"));
    policy.optimizer.importState({ step: s.optimizerStep, tensors: new Map([...opt.tensors].map(([k, v]) => [k, v.data])) });
    samplingRng = Rng.fromState(s.rng.sampling);
    streamState = s.stream;
    step = s.step;
    badSteps = s.badSteps;
  }
  const stream = new PromptStream(task.train, tc.seed, streamState);
  const schedule = { lr: tc.lr, warmupSteps: tc.warmupSteps, totalSteps: tc.steps, decay: tc.lrSchedule, minLrRatio: 0 };
  const progress = o.progress ?? null;
  const startTime = performance.now() / 1000 - (run?.readMetrics().at(-1)?.time ?? 0);
  const all: MetricsRow[] = [];

  const save = async (): Promise<void> => {
    if (!run) return;
    const state: TrainerState = { step, rng: { sampling: samplingRng.state() }, stream: stream.state(), optimizerStep: policy.optimizer.step, badSteps };
    await run.saveCheckpoint(state, (dir) => {
      policy.saveWeights(path.join(dir, "model"));
      const ex = policy.optimizer.exportState();
      writeSafetensors(path.join(dir, "optimizer.safetensors"), [...ex.tensors].map(([name, data]) => ({ name, shape: [data.length], data })));
    }, 2);
  };

  let stopped = false;
  while (step < tc.steps) {
    if (o.signal?.aborted) {
      stopped = true;
      break;
    }
    const t0 = performance.now();
    const m: Record<string, number> = {};
    const phase = { generate: 0, reward: 0, reference: 0, train: 0 };

    // ---- rollout, rewards, dynamic sampling
    const kept: Sample[][] = [];
    const seen: Sample[] = [];
    let firstRoundZeroVar = Number.NaN;
    for (let round = 0; kept.length < P; round++) {
      const problems = stream.next(P - kept.length);
      const groups = await rollout(o, problems, samplingRng.u32(), phase);
      seen.push(...groups.flat());
      const zeroVar = zeroVarianceGroups(groups.flatMap((g) => g.map((s) => s.reward)), G);
      if (round === 0) firstRoundZeroVar = zeroVar.filter(Boolean).length / zeroVar.length;
      groups.forEach((g, i) => {
        if (!rl.dynamicSampling || !zeroVar[i]) kept.push(g);
      });
      if (!rl.dynamicSampling || round >= rl.dynamicSamplingRounds) break;
    }
    const batch = kept.slice(0, P).flat();
    rolloutMetrics(m, seen, recheckWords, rl.maxNewTokens);
    m["groups/zero_variance_frac"] = firstRoundZeroVar;
    m["groups/trained"] = batch.length / G;

    let skipped = false;
    if (batch.length > 0) {
      const seqs: Sequence[] = batch.map((s) => ({ prompt: s.prompt, response: s.response }));
      const lengths = batch.map((s) => s.response.length);
      const offsets = [0];
      for (const n of lengths) offsets.push(offsets[offsets.length - 1]! + n);
      const total = offsets[offsets.length - 1]!;
      const mask = new Float64Array(total);
      batch.forEach((s, i) => mask.fill(rl.overlong === "mask" && s.truncated ? 0 : 1, offsets[i]!, offsets[i + 1]!));

      // ---- old (and reference) log-probs on the trainer's forward pass
      const tRef = performance.now();
      const logpOld = new Float64Array(total);
      const logpRef = needRef ? new Float64Array(total) : null;
      // With one update per rollout (1 epoch, 1 mini-batch) π_old = π_θ: the update's own forward gives
      // the old log-probs (saves a forward pass), unless KL in the reward needs them for the advantages.
      const fuseOld = rl.epochs === 1 && rl.miniBatches === 1 && !(needRef && rl.klIn === "reward") && !o.separateOldPass;
      const all_ = batch.map((_, i) => i);
      if (!fuseOld || logpRef) {
        for (const mb of microBatches(seqs, all_, rl.microBatchTokens)) {
          const pk = packSequences(seqs, mb);
          if (!fuseOld) gather(logpOld, policy.model.forward(pk.tokens, pk.cuSeqlens, pk.targets, { onlyTargets: true }).logp, pk.respPos, mb, offsets);
          if (logpRef) gather(logpRef, policy.referenceLogp!(pk.tokens, pk.cuSeqlens, pk.targets), pk.respPos, mb, offsets);
        }
      }
      phase.reference = (performance.now() - tRef) / 1000;

      // ---- advantages
      const kl = logpRef && !fuseOld ? klPerToken(rl.klEstimator, logpOld, logpRef) : null;
      const adv = computeAdvantages(
        rl.advantage,
        { rewards: batch.map((s) => s.reward), groupSize: G, lengths, ...(kl && rl.klIn === "reward" ? { klPerToken: kl, klCoef: rl.klCoef } : {}) },
        { scale: rl.scaleRewards, eps: rl.advantageEps },
      );
      const engineLogp = rl.tisCap !== null ? concatEngineLogp(batch, total, offsets) : null;

      // ---- updates
      const tTrain = performance.now();
      const agg = { loss: 0, policy: 0, kl: 0, entropy: 0, low: 0, high: 0, tokens: 0, norm: 0, updates: 0, trainTokens: 0 };
      const groupsIdx = Array.from({ length: batch.length / G }, (_, g) => g);
      const perMini = groupsIdx.length / Math.min(rl.miniBatches, groupsIdx.length);
      for (let epoch = 0; epoch < rl.epochs && !skipped; epoch++) {
        for (let mbStart = 0; mbStart < groupsIdx.length && !skipped; mbStart += perMini) {
          const members = groupsIdx.slice(Math.round(mbStart), Math.round(mbStart + perMini)).flatMap((g) => Array.from({ length: G }, (_, j) => g * G + j));
          let dTokens = 0;
          let dSeqs = 0;
          for (const i of members) {
            let n = 0;
            for (let t = offsets[i]!; t < offsets[i + 1]!; t++) n += mask[t]!;
            dTokens += n;
            if (n > 0) dSeqs++;
          }
          if (dTokens === 0) continue;
          policy.optimizer.grads.zero();
          let loss = 0;
          for (const mb of microBatches(seqs, members, rl.microBatchTokens)) {
            const pk = packSequences(seqs, mb);
            const fw = policy.model.forward(pk.tokens, pk.cuSeqlens, pk.targets, { onlyTargets: true });
            const sub = subset(mb, offsets);
            if (fuseOld) gather(logpOld, fw.logp, pk.respPos, mb, offsets);
            const input = {
              logp: pick(fw.logp, pk.respPos),
              logpOld: slice(logpOld, sub),
              ...(logpRef && rl.klIn === "loss" ? { logpRef: slice(logpRef, sub) } : {}),
              ...(engineLogp ? { logpEngine: slice(engineLogp, sub) } : {}),
              entropy: pick(fw.entropy, pk.respPos),
              advantages: slice(adv.perToken, sub),
              mask: slice(mask, sub),
              offsets: sub.offsets,
              denominators: { tokens: dTokens, sequences: dSeqs },
            };
            const out = policyObjective(settings, input);
            const dlogp = new Float32Array(pk.tokens.length);
            const dent = out.dEntropy ? new Float32Array(pk.tokens.length) : null;
            scatter(dlogp, out.dLogp, pk.respPos);
            if (dent) scatter(dent, out.dEntropy!, pk.respPos);
            policy.model.backward(dlogp, dent);
            loss += out.loss;
            agg.policy += out.stats.policyLoss;
            agg.kl += out.stats.klLoss;
            agg.entropy += out.stats.entropyMean * out.stats.tokens;
            agg.low += out.stats.clipLowFrac * out.stats.tokens;
            agg.high += out.stats.clipHighFrac * out.stats.tokens;
            agg.tokens += out.stats.tokens;
            agg.trainTokens += pk.tokens.length;
          }
          const norm = clipGradNorm(policy.optimizer.grads, tc.gradClip ?? Infinity);
          if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
            skipped = true;
            break;
          }
          policy.optimizer.update(lrAt(step + 1, schedule));
          agg.loss += loss;
          agg.norm += norm;
          agg.updates++;
        }
      }
      phase.train = (performance.now() - tTrain) / 1000;
      if (agg.updates > 0 && !skipped) {
        m["loss/policy"] = agg.policy / agg.updates;
        m["loss/total"] = agg.loss / agg.updates;
        if (rl.klIn === "loss" && needRef) m["loss/kl"] = agg.kl / agg.updates;
        m["grad_norm"] = agg.norm / agg.updates;
        m["entropy"] = agg.entropy / agg.tokens;
        m["clip/low_frac"] = agg.low / agg.tokens;
        m["clip/high_frac"] = agg.high / agg.tokens;
        m["tokens_per_s/train"] = agg.trainTokens / Math.max(phase.train, 1e-9);
      }
      const klAll = logpRef ? (kl ?? klPerToken(rl.klEstimator, logpOld, logpRef)) : null;
      if (klAll && !skipped) {
        const kl = klAll;
        let s = 0;
        let n = 0;
        for (let t = 0; t < total; t++) if (mask[t]) { s += kl[t]!; n++; }
        m["kl"] = n > 0 ? s / n : 0;
      }
    }

    step++;
    badSteps = skipped ? badSteps + 1 : 0;
    m["skipped"] = skipped ? 1 : 0;
    if (skipped) o.warn?.(`step ${step}: non-finite loss or gradient (NaN/Inf); update skipped (${badSteps} in a row, the run stops at ${tc.maxBadSteps})`);
    m["lr"] = lrAt(step, schedule);
    m["seconds/generate"] = phase.generate;
    m["seconds/reward"] = phase.reward;
    m["seconds/reference"] = phase.reference;
    m["seconds/train"] = phase.train;
    m["seconds/step"] = (performance.now() - t0) / 1000;
    m["tokens_per_s/rollout"] = seen.reduce((a, s) => a + s.response.length, 0) / Math.max(phase.generate, 1e-9);
    const row: MetricsRow = { step, time: performance.now() / 1000 - startTime, ...m };
    all.push(row);
    if (run) {
      run.appendMetrics(row);
      run.appendSamples(pickSamples(seen, tc.samplesPerStep, G).map((s) => sampleRow(step, s)));
      run.setStep(step);
    }
    o.onStep?.(row);
    progress?.update(step, { reward: m["reward/mean"] ?? Number.NaN, acc: m["accuracy"] ?? Number.NaN, len: m["length/mean"] ?? Number.NaN });
    if (badSteps >= tc.maxBadSteps) {
      progress?.finish();
      const msg = `${badSteps} steps in a row had a non-finite loss or gradient (NaN/Inf); stopping at step ${step}`;
      run?.setState("crashed", msg);
      throw new AhaError("AHA_NAN_STEPS", msg, "lower --lr, set --grad-clip, or check the model's weights");
    }
    if (run && tc.saveEvery > 0 && step % tc.saveEvery === 0 && step < tc.steps) await save();
  }
  progress?.finish();
  await save();
  run?.setState(stopped ? "stopped" : "finished");
  return { steps: step, stopped, metrics: all };
}

// ***** pieces of a step *****

async function rollout(o: TrainerOptions, problems: Problem<unknown>[], seed: number, phase: { generate: number; reward: number }): Promise<Sample[][]> {
  const { rl, tokenizer, task } = o;
  const rendered = problems.map((p) => renderPrompt(o.template, p.question, o.chat ? { chat: o.chat } : {}));
  const prompts = rendered.map((r) => tokenizer.encode(r.prompt));
  const tGen = performance.now();
  const out = await o.engine.generate(
    prompts.map((ids) => ({ promptIds: ids, n: rl.groupSize, maxNewTokens: rl.maxNewTokens, temperature: rl.temperature, topP: rl.topP, stopTokenIds: tokenizer.stopTokenIds })),
    { seed },
  );
  phase.generate += (performance.now() - tGen) / 1000;
  const tRew = performance.now();
  const stops = new Set(tokenizer.stopTokenIds);
  const groups = await Promise.all(out.map((completions, g) => Promise.all(
    completions.map(async (c): Promise<Sample> => {
      const ids = c.tokenIds;
      const body = c.finishReason === "stop" && ids.length > 0 && stops.has(ids[ids.length - 1]!) ? ids.subarray(0, ids.length - 1) : ids;
      const text = tokenizer.decode(body);
      const scored = await task.score(text, problems[g]!, { responsePrefix: rendered[g]!.responsePrefix });
      const truncated = c.finishReason === "length";
      let reward = scored.reward;
      if (reward !== null && rl.overlong === "penalty") reward += overlongPenalty(ids.length, rl.maxNewTokens, rl.overlongBuffer, rl.overlongPenalty);
      return { group: g, problem: problems[g]!, promptText: rendered[g]!.prompt, prompt: prompts[g]!, response: ids, text, scored, reward, truncated, engineLogp: c.logprobs };
    }),
  )));
  phase.reward += (performance.now() - tRew) / 1000;
  return groups;
}

function rolloutMetrics(m: Record<string, number>, seen: readonly Sample[], recheckWords: readonly string[], _maxNew: number): void {
  const rewards = seen.map((s) => s.reward).filter((r): r is number => r !== null && Number.isFinite(r));
  const mean = rewards.reduce((a, b) => a + b, 0) / Math.max(rewards.length, 1);
  m["reward/mean"] = mean;
  m["reward/std"] = Math.sqrt(rewards.reduce((a, r) => a + (r - mean) ** 2, 0) / Math.max(rewards.length, 1));
  m["reward/unscorable_frac"] = (seen.length - rewards.length) / Math.max(seen.length, 1);
  const parts = new Map<string, number>();
  for (const s of seen) for (const [k, v] of Object.entries(s.scored.parts)) parts.set(k, (parts.get(k) ?? 0) + v);
  for (const [k, v] of parts) m[`reward/${k}`] = v / seen.length;
  m["accuracy"] = seen.filter((s) => s.scored.correct).length / Math.max(seen.length, 1);
  if (parts.has("format")) m["format_rate"] = seen.filter((s) => (s.scored.parts["format"] ?? 0) > 0).length / seen.length;
  const lens = seen.map((s) => s.response.length);
  m["length/mean"] = lens.reduce((a, b) => a + b, 0) / Math.max(lens.length, 1);
  m["length/min"] = Math.min(...lens);
  m["length/max"] = Math.max(...lens);
  m["length/truncated_frac"] = seen.filter((s) => s.truncated).length / Math.max(seen.length, 1);
  m["recheck_share"] = seen.filter((s) => rechecks(s.text, recheckWords)).length / Math.max(seen.length, 1);
}

/** One response from each of the first groups, then more per group, up to k. */
function pickSamples(seen: readonly Sample[], k: number, G: number): Sample[] {
  const groups = Math.ceil(seen.length / G);
  const out: Sample[] = [];
  for (let j = 0; j < G && out.length < k; j++) for (let g = 0; g < groups && out.length < k; g++) if (seen[g * G + j]) out.push(seen[g * G + j]!);
  return out;
}

function sampleRow(step: number, s: Sample): SampleRow {
  return { step, prompt: s.promptText, response: s.text, reward: s.reward, parts: s.scored.parts, correct: s.scored.correct, extracted: s.scored.extracted, length: s.response.length, truncated: s.truncated };
}

interface Subset {
  /** For each sequence of the micro-batch: its token range in the batch's concatenated arrays. */
  ranges: [number, number][];
  offsets: number[];
}

function subset(mb: readonly number[], offsets: readonly number[]): Subset {
  const ranges: [number, number][] = mb.map((i) => [offsets[i]!, offsets[i + 1]!]);
  const off = [0];
  for (const [a, b] of ranges) off.push(off[off.length - 1]! + b - a);
  return { ranges, offsets: off };
}

function slice(x: ArrayLike<number>, s: Subset): Float64Array {
  const out = new Float64Array(s.offsets[s.offsets.length - 1]!);
  let o = 0;
  for (const [a, b] of s.ranges) for (let t = a; t < b; t++) out[o++] = x[t]!;
  return out;
}

/** Values at the response positions of a packed micro-batch, concatenated. */
function pick(x: ArrayLike<number>, respPos: readonly Int32Array[]): Float64Array {
  let n = 0;
  for (const p of respPos) n += p.length;
  const out = new Float64Array(n);
  let o = 0;
  for (const p of respPos) for (let j = 0; j < p.length; j++) out[o++] = x[p[j]!]!;
  return out;
}

function scatter(dst: Float32Array, src: ArrayLike<number>, respPos: readonly Int32Array[]): void {
  let o = 0;
  for (const p of respPos) for (let j = 0; j < p.length; j++) dst[p[j]!] = src[o++]!;
}

/** dst[offsets[i] + j] = x at response position j of micro-batch sequence s (= batch sequence mb[s]). */
function gather(dst: Float64Array, x: ArrayLike<number>, respPos: readonly Int32Array[], mb: readonly number[], offsets: readonly number[]): void {
  respPos.forEach((p, s) => {
    const base = offsets[mb[s]!]!;
    for (let j = 0; j < p.length; j++) dst[base + j] = x[p[j]!]!;
  });
}

function concatEngineLogp(batch: readonly Sample[], total: number, offsets: readonly number[]): Float64Array {
  const out = new Float64Array(total);
  batch.forEach((s, i) => {
    if (!s.engineLogp) throw new AhaError("AHA_NO_ENGINE_LOGPROBS", "tis-cap is set but the rollout engine gives no log-probs", "set --tis-cap none");
    out.set(s.engineLogp, offsets[i]!);
  });
  return out;
}
