/**
 * PPO's critic as stages of the RL step (src/rl/stages.ts), used when `critic = value`:
 *
 *   values        V_old per response token from the value model (with the reference stage)
 *   gae           rewards (+ KL in the reward) and V_old → advantages (λ_actor) and returns (λ_critic)
 *   updateCritic  epochs × mini-batches of the clipped value loss → backward through the value head →
 *                 clip → the critic's AdamW
 *
 * The value of response token t is the value head at the position that predicts it (the state before
 * the token), as verl takes values[:, -L-1:-1]. The critic is checkpointed as a component (an HF
 * folder with a score head + its optimizer state under critic/).
 */
import { AhaError } from "../errors.js";
import { clipGradNorms, type AdamW } from "../model/optim.js";
import { microBatches, packSequences } from "./batch.js";
import { decoupledGae, vapoLambda } from "./gae.js";
import type { CheckpointComponent } from "./loop.js";
import { klPerToken } from "./objective.js";
import { miniBatchPlan, type AdvantageOut, type Batch, type LogProbs, type StepContext } from "./stages.js";
import { valueLoss } from "./value-loss.js";

/** The value model as the stages use it (src/model/value.ts's ValueModel with its optimizer fits). */
export interface Critic {
  /** Values (T) at every position of a packed batch; the view is valid until the next forward. */
  forward(tokens: Int32Array, cuSeqlens: Int32Array): Float32Array;
  /** Adds into the optimizer's gradients dL/dθ for dL/dvalues (T) of the last forward. */
  backward(dvalues: Float32Array): void;
  /** AdamW over the critic's trainable tensors: one (body and score head), or the LoRA adapters' and the head's (stepped together, one gradient norm). */
  optimizers: AdamW[];
  /** Writes / reads the critic's weights (a Hugging Face folder with score.weight). */
  saveWeights(dir: string): void;
  loadWeights(dir: string): void;
  /** What a checkpoint holds of the critic (critic/model, critic/optimizer.safetensors; criticComponent in ./policy.ts). */
  readonly checkpoint: CheckpointComponent;
}

/** V_old per response token of the batch (the batch's per-token layout). */
export function criticValues(ctx: StepContext, b: Batch): Float64Array {
  const critic = ctx.critic!;
  const out = new Float64Array(b.total);
  const all = b.samples.map((_, i) => i);
  for (const mb of microBatches(b.seqs, all, ctx.rl.microBatchTokens)) {
    const pk = packSequences(b.seqs, mb);
    const v = critic.forward(pk.tokens, pk.cuSeqlens);
    pk.respPos.forEach((p, s) => {
      const base = b.offsets[mb[s]!]!;
      for (let j = 0; j < p.length; j++) out[base + j] = v[p[j]!]!;
    });
  }
  return out;
}

/** GAE advantages and returns from the rollout values lp.values (decoupled λ when actor-lambda or vapo-alpha is set). */
export function gaeAdvantages(ctx: StepContext, b: Batch, lp: LogProbs): AdvantageOut {
  const { rl } = ctx;
  const valuesOld = lp.values;
  if (!valuesOld) throw new AhaError("AHA_NO_CRITIC", "advantage = gae needs the value model's values", "set critic = value (the ppo, orz and vapo presets do)");
  const kl = lp.ref && !lp.fused ? klPerToken(rl.klEstimator, lp.old, lp.ref) : null;
  const actorLambda = rl.vapoAlpha !== null ? vapoLambda(rl.vapoAlpha) : (rl.actorLambda ?? rl.gaeLambda);
  const g = decoupledGae(
    { values: valuesOld, rewards: b.samples.map((s) => s.reward ?? null), lengths: b.lengths, ...(kl && rl.klIn === "reward" ? { klPerToken: kl, klCoef: rl.klCoef } : {}) },
    { gamma: rl.gamma, criticLambda: rl.gaeLambda, actorLambda, whiten: rl.gaeWhiten },
  );
  return { perToken: g.advantages, kl, critic: { returns: g.returns, valuesOld, gae: g } };
}

export interface CriticStats {
  updates: number;
  skipped: boolean;
  loss: number;
  clipFrac: number;
  gradNorm: number;
}

/** epochs × mini-batches (the policy's partition) of the clipped value loss, each followed by clip + AdamW at `lr`. */
export function updateCritic(ctx: StepContext, b: Batch, advOut: AdvantageOut, lr: number): CriticStats {
  const { rl } = ctx;
  const critic = ctx.critic!;
  const adv = advOut.critic!;
  const mask = new Float64Array(b.total);
  for (let t = 0; t < b.total; t++) mask[t] = b.mask[t]! * adv.gae.valid[t]!;
  const settings = { clip: rl.valueClip, aggregation: rl.lossAgg, maxLength: rl.maxNewTokens };
  const plan = miniBatchPlan(rl, b, mask);
  const agg = { loss: 0, clip: 0, tokens: 0, norm: 0, updates: 0 };
  let skipped = false;
  for (let epoch = 0; epoch < rl.epochs && !skipped; epoch++) {
    for (const { members, dTokens, dSeqs } of plan) {
      if (skipped) break;
      if (dTokens === 0) continue;
      for (const o of critic.optimizers) o.grads.zero();
      let loss = 0;
      for (const mb of microBatches(b.seqs, members, rl.microBatchTokens)) {
        const pk = packSequences(b.seqs, mb);
        const v = critic.forward(pk.tokens, pk.cuSeqlens);
        const ranges = mb.map((i) => [b.offsets[i]!, b.offsets[i + 1]!] as const);
        const offsets = [0];
        for (const [a, z] of ranges) offsets.push(offsets[offsets.length - 1]! + z - a);
        const n = offsets[offsets.length - 1]!;
        const values = new Float64Array(n), old = new Float64Array(n), ret = new Float64Array(n), m = new Float64Array(n);
        let o = 0;
        pk.respPos.forEach((p, s) => {
          const [a] = ranges[s]!;
          for (let j = 0; j < p.length; j++, o++) {
            values[o] = v[p[j]!]!;
            old[o] = adv.valuesOld[a + j]!;
            ret[o] = adv.returns[a + j]!;
            m[o] = mask[a + j]!;
          }
        });
        const out = valueLoss(settings, { values, valuesOld: old, returns: ret, mask: m, offsets, denominators: { tokens: dTokens, sequences: dSeqs } });
        const dv = new Float32Array(pk.tokens.length);
        o = 0;
        for (const p of pk.respPos) for (let j = 0; j < p.length; j++) dv[p[j]!] = out.dValues[o++]!;
        critic.backward(dv);
        loss += out.loss;
        agg.clip += out.stats.clipFrac * out.stats.tokens;
        agg.tokens += out.stats.tokens;
      }
      const norm = clipGradNorms(critic.optimizers.map((o) => o.grads), ctx.train.gradClip ?? Infinity);
      if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
        skipped = true;
        break;
      }
      for (const o of critic.optimizers) o.update(lr);
      agg.loss += loss;
      agg.norm += norm;
      agg.updates++;
    }
  }
  const u = Math.max(agg.updates, 1);
  return { updates: agg.updates, skipped, loss: agg.loss / u, clipFrac: agg.clip / Math.max(agg.tokens, 1), gradNorm: agg.norm / u };
}
