/**
 * `aha bench rl`: one GRPO step of a real run (prepareTrainRun → src/rl/trainer.ts's `train`, preset grpo: β 0.04
 * with a reference model, ε 0.2, seq-mean-token-mean) on model S, split into the trainer's own phases —
 * generate (KV-cache sampling of G responses per prompt), reward (decode + the Countdown verifier),
 * reference (log-probs of the frozen reference copy; the old log-probs come fused with the update's
 * forward, as the trainer does with one epoch and one mini-batch), train (forward, GRPO loss, backward,
 * clip, AdamW) — next to the same step written in PyTorch (scripts/peer_rl.py, same shapes).
 *
 * Fixed shapes so that both sides do the same work: P prompts of Lp tokens, G samples each, exactly N
 * new tokens (no stop token), temperature 1. The bench tokenizer maps characters to ids and ids back to
 * printable characters; the reward is the Countdown score of that text plus its share of '7's (so that
 * groups have reward variance, as in a real run, and the update is not zero).
 */
import { parseHfConfig } from "../model/config.js";
import { Model, type Precision } from "../model/model.js";
import { initParams } from "../model/params.js";
import type { MetricsRow } from "../rl/loop.js";
import { prepareTrainRun } from "../runner/train.js";
import { countdownTask } from "../tasks/generated.js";
import type { Task } from "../tasks/types.js";
import { BENCH_MODELS } from "./model.js";
import { runPeerScript, type PeerResult } from "./peer.js";
import type { BenchContext, BenchRow, BenchSuite } from "./types.js";

const PHASES = ["generate", "reward", "reference", "train"] as const;
const DTYPES: Precision[] = ["fp32", "bf16"];

/** The step's shape: P prompts × G samples, Lp prompt tokens, N new tokens. */
export const RL_SHAPE = { prompts: 4, group: 8, promptLen: 16, newTokens: 64 };

/** Printable characters for ids (the peer uses the same map). */
export const benchDecode = (ids: ArrayLike<number>): string => Array.from(ids, (t) => String.fromCharCode(32 + (t % 95))).join("");

const PEER_RL = new URL("../../scripts/peer_rl.py", import.meta.url);

function benchTask(): Task<unknown> {
  const cd = countdownTask({ seed: 0, heldOutPermille: 50 });
  return {
    ...cd,
    score: async (text, p, ctx) => {
      const s = await cd.score(text, p as never, ctx);
      const sevens = (text.match(/7/g)?.length ?? 0) / Math.max(text.length, 1);
      return { ...s, reward: (s.reward ?? 0) + sevens, parts: { ...s.parts, sevens } };
    },
  } as Task<unknown>;
}

/** Times `steps` GRPO steps (the first is a warm-up); the best of the rest per phase, in seconds. */
export async function ahaRlStep(ctx: Pick<BenchContext, "backend">, dtype: Precision, o: { newTokens: number; steps: number }): Promise<Record<string, number>> {
  const cfg = parseHfConfig(BENCH_MODELS["S"]!.hf, "<bench model S>");
  const { prompts: P, group: G, promptLen: Lp } = RL_SHAPE;
  const model = new Model(cfg, { precision: dtype, backend: ctx.backend });
  initParams(model.params, cfg, 0);
  const tokenizer = {
    encode: (t: string) => Array.from(t.padEnd(Lp).slice(0, Lp), (ch) => ch.charCodeAt(0) % cfg.vocabSize),
    decode: benchDecode,
    stopTokenIds: [] as number[],
  };
  const task = benchTask();
  const rows: MetricsRow[] = [];
  // The runner builds the policy (full fine-tuning, a reference copy for β > 0), the reward and the local
  // engine from the config, as `aha train` does; the model, tokenizer and task are the bench's.
  const run = await prepareTrainRun(
    { algorithm: "grpo", "group-size": G, "prompts-per-step": P, "max-new-tokens": o.newTokens, steps: o.steps, "save-every": 0, "samples-per-step": 0, lr: 1e-6, template: "none", "held-out": 0 },
    { persist: false, parts: { model: { model, tokenizer }, task: { ...task, stop: [] } }, onStep: (m) => rows.push(m) },
  );
  try {
    await run.run();
  } finally {
    await run.close();
  }
  const timed = rows.slice(1);
  const out: Record<string, number> = {};
  for (const k of [...PHASES, "step"]) out[k] = Math.min(...timed.map((m) => m[`seconds/${k}`] ?? Number.NaN));
  out["length"] = timed[0]?.["length/mean"] ?? Number.NaN;
  return out;
}

export const rlSuite: BenchSuite = {
  summary: "one GRPO step on model S (generate, reward, reference, train), vs the same step in PyTorch",
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];
    const N = ctx.quick ? 16 : RL_SHAPE.newTokens;
    const steps = ctx.quick ? 2 : 3;
    const dtypes = ctx.quick ? DTYPES.slice(0, 1) : DTYPES;
    const { prompts: P, group: G, promptLen: Lp } = RL_SHAPE;
    const caseName = "model-S step";
    for (const dtype of dtypes) {
      const t = await ahaRlStep(ctx, dtype, { newTokens: N, steps });
      if (t["length"] !== N) ctx.note(`rl: responses averaged ${t["length"]} tokens, not ${N}`);
      for (const k of [...PHASES, "step"]) rows.push({ what: "rl", case: caseName, phase: k, dtype, aha: t[k]!, peer: null, unit: "s", shape: `${P}x${G} prompts×samples, ${Lp}+${N} tokens` });
      ctx.log(`rl ${caseName} ${dtype}: ${PHASES.map((k) => `${k} ${t[k]!.toFixed(3)} s`).join(", ")}; step ${t["step"]!.toFixed(3)} s`);
    }
    if (ctx.peer) {
      const task = countdownTask({ seed: 0, heldOutPermille: 50 });
      const problems = Array.from({ length: P }, (_, i) => task.train.get(i).reference);
      const p: PeerResult = runPeerScript(PEER_RL, [], { model: BENCH_MODELS["S"]!.hf, prompts: P, group: G, prompt_len: Lp, new_tokens: N, dtypes, steps, problems, kl_coef: 0.04, clip: 0.2 }, ctx.threads);
      if (!p.ok) ctx.note(`rl: no PyTorch peer (${p.why}); peer is null`);
      else {
        const peerRows = p.data["rows"] as Array<Record<string, number | string>>;
        for (const r of rows) {
          const q = peerRows.find((x) => x["dtype"] === r.dtype);
          const v = q?.[String(r["phase"])];
          if (typeof v === "number") r.peer = v;
        }
      }
    }
    return rows;
  },
};
