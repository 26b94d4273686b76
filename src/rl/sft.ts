/**
 * Supervised fine-tuning (R1's cold start, distillation): prompt/response pairs, cross-entropy on the
 * response tokens only, the same model, optimizer, run directory, checkpoints and resume as the RL
 * trainer. Batches are `batchSize` examples in an order shuffled per epoch (seeded, resumable from the
 * cursor); the loss is the mean over all response tokens of the batch.
 */
import { z } from "zod";
import { setting as f } from "../util/config.js";
import { AhaError, UserError } from "../errors.js";
import { clipGradNorm } from "../model/optim.js";
import { readJsonlRows } from "../util/jsonl.js";
import { PromptStream } from "../tasks/stream.js";
import type { StreamState } from "../tasks/stream.js";
import { microBatches, packSequences, type Sequence } from "./batch.js";
import type { TrainConfig } from "./config.js";
import { hooksOf, runLoop, type LoopResult, type RunHooks } from "./loop.js";
import type { Policy } from "./policy.js";


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

export interface SftOptions extends RunHooks {
  sft: SftConfig;
  train: TrainConfig;
  examples: readonly SftExample[];
  policy: Policy;
}

/** One SFT step: cross-entropy on the response tokens of the batch, summed over micro-batches, then clip and AdamW. */
export function sftStep(policy: Policy, examples: readonly SftExample[], idx: readonly number[], o: { microBatchTokens: number; gradClip: number | null; lr: number }): { loss: number; norm: number; skipped: boolean; tokens: number } {
  let n = 0;
  for (const i of idx) n += examples[i]!.response.length;
  policy.optimizer.grads.zero();
  let loss = 0;
  let tokens = 0;
  for (const mb of microBatches(examples, idx, o.microBatchTokens)) {
    const pk = packSequences(examples, mb);
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
  const norm = clipGradNorm(policy.optimizer.grads, o.gradClip ?? Infinity);
  const skipped = !Number.isFinite(loss) || !Number.isFinite(norm) || n === 0;
  if (!skipped) policy.optimizer.update(o.lr);
  return { loss, norm, skipped, tokens };
}

export async function sft(o: SftOptions): Promise<LoopResult> {
  const { policy } = o;
  if (o.examples.length === 0) throw new AhaError("AHA_NO_DATA", "sft: no examples");
  const source = { size: o.examples.length, get: (i: number) => ({ id: String(i), question: "", answer: "", reference: i }) };
  let stream = new PromptStream(source, o.train.seed);
  return runLoop({
    ...hooksOf(o),
    train: o.train,
    components: [policy.checkpoint],
    nanHint: "lower --lr or set --grad-clip",
    state: {
      save: () => ({ stream: stream.state() }),
      load: (s) => {
        stream = new PromptStream(source, o.train.seed, s["stream"] as StreamState);
      },
    },
    step: async (_step, lr) => {
      const t0 = performance.now();
      const idx = stream.next(o.sft.batchSize).map((p) => p.reference);
      const r = sftStep(policy, o.examples, idx, { microBatchTokens: o.sft.microBatchTokens, gradClip: o.train.gradClip, lr });
      const secs = (performance.now() - t0) / 1000;
      return { metrics: { loss: r.loss, grad_norm: r.norm, "tokens_per_s/train": r.tokens / Math.max(secs, 1e-9) }, skipped: r.skipped, progress: { loss: r.loss } };
    },
  });
}
