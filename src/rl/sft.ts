/**
 * Supervised fine-tuning (R1's cold start, distillation): prompt/response pairs, cross-entropy on the
 * response tokens only, the same model, optimizer, run directory, checkpoints and resume as the RL
 * trainer. Batches are `batchSize` examples in an order shuffled per epoch (seeded, resumable from the
 * cursor); the loss is the mean over all response tokens of the batch.
 */
import * as path from "node:path";
import { z } from "zod";
import { setting as f } from "../util/config.js";
import { AhaError, UserError } from "../errors.js";
import { readSafetensors, writeSafetensors } from "../formats/safetensors.js";
import { clipGradNorm, lrAt } from "../model/optim.js";
import { readJsonlRows } from "../util/jsonl.js";
import { PromptStream } from "../tasks/stream.js";
import type { StreamState } from "../tasks/stream.js";
import { microBatches, packSequences, type Sequence } from "./batch.js";
import type { TrainConfig } from "./config.js";
import type { CheckpointState, MetricsRow, Policy, ProgressSink, RunSink } from "./trainer.js";


export const sftSchema = z.strictObject({
  data: f(z.string().min(1).nullable(), null, "JSONL file of {prompt, response} pairs (required)."),
  promptField: f(z.string().min(1), "prompt", "Field of a row holding the prompt."),
  responseField: f(z.string().min(1), "response", "Field of a row holding the response (the loss is on these tokens only)."),
  batchSize: f(z.int().min(1), 16, "Examples per optimizer step."),
  microBatchTokens: f(z.int().min(1), 8192, "Cap on tokens per forward/backward micro-batch (gradients accumulate)."),
});
export type SftConfig = z.output<typeof sftSchema>;
export const sftSection = {
  title: "Supervised fine-tuning",
  prefix: "",
  schema: sftSchema,
  check: (c: SftConfig) => (c.data === null ? ["sft needs --data FILE (JSONL with prompt/response fields)"] : []),
};

/** One tokenized example: the loss covers `response` (which should end with the EOS token). */
export type SftExample = Sequence;

/** Reads {prompt, response} rows from JSONL; errors name the line and the field. */
export function readSftRows(file: string, promptField = "prompt", responseField = "response"): { prompt: string; response: string }[] {
  return readJsonlRows(file, "sft data file").map(({ line, row }) => {
    const prompt = row[promptField];
    const response = row[responseField];
    if (typeof prompt !== "string" || typeof response !== "string") {
      throw new UserError(`${file}:${line}: fields '${promptField}' and '${responseField}' must be text`, "set --prompt-field / --response-field");
    }
    return { prompt, response };
  });
}

export interface SftOptions {
  sft: SftConfig;
  train: TrainConfig;
  examples: readonly SftExample[];
  policy: Policy;
  run: RunSink | null;
  resume?: { dir: string; state: CheckpointState } | null;
  signal?: AbortSignal;
  progress?: ProgressSink | null;
  onStep?: (m: MetricsRow) => void;
  /** Messages for the user (a skipped step); default none. */
  warn?: (message: string) => void;
}

interface SftState extends CheckpointState {
  stream: StreamState;
  optimizerStep: number;
  badSteps: number;
}

export async function sft(o: SftOptions): Promise<{ steps: number; stopped: boolean; metrics: MetricsRow[] }> {
  const { train: tc, policy, run } = o;
  if (o.examples.length === 0) throw new AhaError("AHA_NO_DATA", "sft: no examples");
  const source = { size: o.examples.length, get: (i: number) => ({ id: String(i), question: "", answer: "", reference: i }) };
  let step = 0;
  let badSteps = 0;
  let streamState: StreamState = { cursor: 0 };
  if (o.resume) {
    const s = o.resume.state as SftState;
    policy.loadWeights(path.join(o.resume.dir, "model"));
    const opt = readSafetensors(path.join(o.resume.dir, "optimizer.safetensors"));
    policy.optimizer.importState({ step: s.optimizerStep, tensors: new Map([...opt.tensors].map(([k, v]) => [k, v.data])) });
    streamState = s.stream;
    step = s.step;
    badSteps = s.badSteps;
  }
  const stream = new PromptStream(source, tc.seed, streamState);
  const schedule = { lr: tc.lr, warmupSteps: tc.warmupSteps, totalSteps: tc.steps, decay: tc.lrSchedule, minLrRatio: 0 };
  const startTime = performance.now() / 1000 - (run?.readMetrics().at(-1)?.time ?? 0);
  const all: MetricsRow[] = [];
  const save = async (): Promise<void> => {
    if (!run) return;
    const state: SftState = { step, stream: stream.state(), optimizerStep: policy.optimizer.step, badSteps };
    await run.saveCheckpoint(state, (dir) => {
      policy.saveWeights(path.join(dir, "model"));
      const ex = policy.optimizer.exportState();
      writeSafetensors(path.join(dir, "optimizer.safetensors"), [...ex.tensors].map(([name, data]) => ({ name, shape: [data.length], data })));
    }, 2);
  };

  let stopped = false;
  while (step < tc.steps) {
    await new Promise((resolve) => setImmediate(resolve)); // let signals (Ctrl-C) and timers in between steps
    if (o.signal?.aborted) {
      stopped = true;
      break;
    }
    const t0 = performance.now();
    const idx = stream.next(o.sft.batchSize).map((p) => p.reference);
    let n = 0;
    for (const i of idx) n += o.examples[i]!.response.length;
    policy.optimizer.grads.zero();
    let loss = 0;
    let tokens = 0;
    for (const mb of microBatches(o.examples, idx, o.sft.microBatchTokens)) {
      const pk = packSequences(o.examples, mb);
      const { logp } = policy.model.forward(pk.tokens, pk.cuSeqlens, pk.targets, { onlyTargets: true });
      const dlogp = new Float32Array(pk.tokens.length);
      for (const pos of pk.respPos)
        for (const p of pos) {
          loss -= logp[p]! / n;
          dlogp[p] = -1 / n;
        }
      policy.model.backward(dlogp, null);
      tokens += pk.tokens.length;
    }
    const norm = clipGradNorm(policy.optimizer.grads, tc.gradClip ?? Infinity);
    const skipped = !Number.isFinite(loss) || !Number.isFinite(norm) || n === 0;
    if (!skipped) policy.optimizer.update(lrAt(step + 1, schedule));
    step++;
    badSteps = skipped ? badSteps + 1 : 0;
    if (skipped) o.warn?.(`step ${step}: non-finite loss or gradient (NaN/Inf); update skipped (${badSteps} in a row, the run stops at ${tc.maxBadSteps})`);
    const secs = (performance.now() - t0) / 1000;
    const row: MetricsRow = { step, time: performance.now() / 1000 - startTime, loss, grad_norm: norm, lr: lrAt(step, schedule), skipped: skipped ? 1 : 0, "tokens_per_s/train": tokens / Math.max(secs, 1e-9), "seconds/step": secs };
    all.push(row);
    if (run) {
      run.appendMetrics(row);
      run.setStep(step);
    }
    o.onStep?.(row);
    o.progress?.update(step, { loss });
    if (badSteps >= tc.maxBadSteps) {
      o.progress?.finish();
      const msg = `${badSteps} steps in a row had a non-finite loss or gradient (NaN/Inf); stopping at step ${step}`;
      run?.setState("crashed", msg);
      throw new AhaError("AHA_NAN_STEPS", msg, "lower --lr or set --grad-clip");
    }
    if (run && tc.saveEvery > 0 && step % tc.saveEvery === 0 && step < tc.steps) await save();
  }
  o.progress?.finish();
  await save();
  run?.setState(stopped ? "stopped" : "finished");
  return { steps: step, stopped, metrics: all };
}
