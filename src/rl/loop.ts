/**
 * The skeleton every training run shares (RL and SFT): resume from a checkpoint, one step at a time
 * with the learning-rate schedule, skip steps whose loss or gradient is not finite (three in a row stop
 * the run), metrics.jsonl / samples.jsonl / status, the progress line, checkpoints every N steps and at
 * the end, Ctrl-C (an aborted signal) finishing the current step and saving.
 *
 * What a step does is the caller's `step` function (src/rl/trainer.ts: the RL stages; src/rl/sft.ts:
 * cross-entropy). What a checkpoint holds beyond the step count is the caller's `state` (data cursor,
 * RNG states) and its `components` (the policy's weights and optimizer; later a critic's): each writes
 * its files into the checkpoint folder and reads them back.
 */
import { AhaError } from "../errors.js";
import { lrAt, type LrSchedule } from "../model/optim.js";
import type { CheckpointState } from "../runs/checkpoint.js";
import type { MetricsRow, RunDir, SampleRow } from "../runs/run-dir.js";
import { yieldToLoop } from "../util/yield.js";
import type { TrainConfig } from "./config.js";

export type { MetricsRow, SampleRow } from "../runs/run-dir.js";
export type { CheckpointState } from "../runs/checkpoint.js";

/** Where a run's outputs go (a RunDir; null = nowhere: tests, benchmarks). */
export type RunSink = Pick<RunDir, "appendMetrics" | "appendSamples" | "readMetrics" | "setStep" | "setState" | "saveCheckpoint">;

/** The terminal progress line (src/runs/progress.ts's Progress fits). */
export interface ProgressSink {
  update(done: number, extra?: Record<string, number | string>): void;
  finish(): void;
}

/** Something with files in a checkpoint (the policy; later a critic). */
export interface CheckpointComponent {
  /** Its fields of state.json (e.g. the optimizer's step count). */
  state?(): Record<string, unknown>;
  save(dir: string): void | Promise<void>;
  load(dir: string, state: CheckpointState): void;
}

/** A checkpoint to continue from (RunDir.resume's `checkpoint`). `restored`: its components are loaded already. */
export interface ResumeFrom {
  dir: string;
  state: CheckpointState;
  restored?: boolean;
}

/** What one step reports. */
export interface StepReport {
  metrics: Record<string, number>;
  /** Loss or gradient not finite: no optimizer update was made. */
  skipped: boolean;
  samples?: SampleRow[];
  /** Extra fields for the progress line. */
  progress?: Record<string, number | string>;
}

/** What a caller of the loop (train, sft) passes through: where outputs go, resume, stop, feedback. */
export interface RunHooks {
  /** Where metrics, samples, status and checkpoints go; null = nowhere (tests, benchmarks). */
  run: RunSink | null;
  /** A checkpoint to continue from (RunDir.resume's `checkpoint`). */
  resume?: ResumeFrom | null;
  /** Aborted → finish the current step, save a checkpoint, state "stopped" (Ctrl-C). */
  signal?: AbortSignal;
  /** The progress line (none when absent). */
  progress?: ProgressSink | null;
  /** Called after every step with its metrics (tests, the dashboard's live feed). */
  onStep?: (m: MetricsRow) => void;
  /** Messages for the user (a skipped step); default none. */
  warn?: (message: string) => void;
}

/** The hooks of an options object, for passing on to runLoop. */
export function hooksOf(o: RunHooks): RunHooks {
  return { run: o.run, resume: o.resume ?? null, progress: o.progress ?? null, ...(o.signal ? { signal: o.signal } : {}), ...(o.onStep ? { onStep: o.onStep } : {}), ...(o.warn ? { warn: o.warn } : {}) };
}

export interface LoopOptions extends RunHooks {
  train: TrainConfig;
  components: CheckpointComponent[];
  /** The caller's part of state.json: written at every checkpoint, handed back on resume. */
  state: { save(): Record<string, unknown>; load(s: Record<string, unknown>): void };
  /** Runs step `step` (1-based); `lr` is the learning rate of its optimizer updates. */
  step(step: number, lr: number): Promise<StepReport>;
  /** Added to the error when non-finite steps stop the run. */
  nanHint: string;
}

export interface LoopResult {
  steps: number;
  stopped: boolean;
  metrics: MetricsRow[];
}

/** The schedule of the train config. */
export function scheduleOf(tc: TrainConfig): LrSchedule {
  return { lr: tc.lr, warmupSteps: tc.warmupSteps, totalSteps: tc.steps, decay: tc.lrSchedule, minLrRatio: 0 };
}

interface LoopState extends CheckpointState {
  badSteps: number;
}

/** Loads a checkpoint's components (weights, optimizer state). Errors name the file. */
export function restoreCheckpoint(components: readonly CheckpointComponent[], from: ResumeFrom): void {
  for (const c of components) c.load(from.dir, from.state);
}

export async function runLoop(o: LoopOptions): Promise<LoopResult> {
  const { train: tc, run } = o;
  let step = 0;
  let badSteps = 0;
  if (o.resume) {
    const s = o.resume.state as LoopState;
    if (!o.resume.restored) restoreCheckpoint(o.components, o.resume);
    o.state.load(s);
    step = s.step;
    badSteps = s.badSteps ?? 0;
  }
  const schedule = scheduleOf(tc);
  const startTime = performance.now() / 1000 - (run?.readMetrics().at(-1)?.time ?? 0);
  const all: MetricsRow[] = [];
  const progress = o.progress ?? null;

  const save = async (): Promise<void> => {
    if (!run) return;
    const state: LoopState = { ...o.state.save(), ...Object.assign({}, ...o.components.map((c) => c.state?.() ?? {})), step, badSteps };
    await run.saveCheckpoint(state, async (dir) => {
      for (const c of o.components) await c.save(dir);
    }, 2);
  };

  let stopped = false;
  while (step < tc.steps) {
    await yieldToLoop(); // let signals (Ctrl-C) and timers in between steps
    if (o.signal?.aborted) {
      stopped = true;
      break;
    }
    const t0 = performance.now();
    const r = await o.step(step + 1, lrAt(step + 1, schedule));
    step++;
    badSteps = r.skipped ? badSteps + 1 : 0;
    if (r.skipped) o.warn?.(`step ${step}: non-finite loss or gradient (NaN/Inf); update skipped (${badSteps} in a row, the run stops at ${tc.maxBadSteps})`);
    const m = r.metrics;
    m["skipped"] = r.skipped ? 1 : 0;
    m["lr"] = lrAt(step, schedule);
    m["seconds/step"] = (performance.now() - t0) / 1000;
    const row: MetricsRow = { step, time: performance.now() / 1000 - startTime, ...m };
    all.push(row);
    if (run) {
      run.appendMetrics(row);
      if (r.samples && r.samples.length > 0) run.appendSamples(r.samples);
      run.setStep(step);
    }
    o.onStep?.(row);
    progress?.update(step, r.progress ?? {});
    if (badSteps >= tc.maxBadSteps) {
      progress?.finish();
      const msg = `${badSteps} steps in a row had a non-finite loss or gradient (NaN/Inf); stopping at step ${step}`;
      run?.setState("crashed", msg);
      throw new AhaError("AHA_NAN_STEPS", msg, o.nanHint);
    }
    if (run && tc.saveEvery > 0 && step % tc.saveEvery === 0 && step < tc.steps) await save();
  }
  progress?.finish();
  await save();
  run?.setState(stopped ? "stopped" : "finished");
  return { steps: step, stopped, metrics: all };
}
