/**
 * Model-level figures: training tokens/s (forward + cross-entropy + backward + global-norm clip + AdamW)
 * in fp32 and in the bf16 matmul mode, next to PyTorch doing the same (scripts/peer_bench.py train; bf16
 * there is torch.autocast); the bench models, shared with the sampling suite (./sample.ts). Random
 * weights and random tokens: speed does not depend on what is learned.
 */
import { parseHfConfig } from "../model/config.js";
import { Model, type Precision } from "../model/model.js";
import { AdamW, clipGradNorm } from "../model/optim.js";
import { initParams } from "../model/params.js";
import type { Backend } from "../kernels/backend.js";
import { syncDevice } from "./gemm.js";
import { collectGarbage, runPeer } from "./peer.js";
import { profiled } from "./profile.js";
import type { BenchContext, BenchRow, BenchSuite } from "./types.js";

interface BenchModel {
  /** Hugging Face config.json fields (the peer builds the same model from them) */
  hf: Record<string, unknown>;
  train: { batch: number; seq: number };
  sample: { prompts: number; promptLen: number; newTokens: number };
  /**
   * Seconds the timed part of one case (one dtype) may take, for aha and the peer alike: training stops
   * starting steps once it is spent (≥ 1 timed), sampling warms up on 4 new tokens and stops repeating
   * (the peer also stops decoding: scripts/peer_bench.py). null: every step and repeat runs in full.
   * This keeps the default `aha bench` under 10 minutes on 2 cores with the 0.5B cases and their peer.
   */
  budgetS: number | null;
}

/**
 * S: issue 2's model S (4 layers, d_model 256, 4 heads, vocab 512; Llama-style, untied, no bias;
 *    intermediate 704 = Llama's 8/3·d rounded up to a multiple of 32 → 3.48M parameters as in MEASUREMENTS.md).
 * qwen2.5-0.5b: the shape of Qwen2.5-0.5B (GQA 14/2, q/k/v bias, tied, vocab 151936), short sequences so
 *    that weights + grads + Adam moments (~8 GB) and activations fit.
 */
export const BENCH_MODELS: Record<string, BenchModel> = {
  S: {
    hf: { architectures: ["LlamaForCausalLM"], vocab_size: 512, hidden_size: 256, intermediate_size: 704,
      num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 4, tie_word_embeddings: false,
      rope_theta: 10000, rms_norm_eps: 1e-6 },
    train: { batch: 16, seq: 256 },
    sample: { prompts: 16, promptLen: 16, newTokens: 128 },
    budgetS: null,
  },
  "qwen2.5-0.5b": {
    hf: { architectures: ["Qwen2ForCausalLM"], vocab_size: 151936, hidden_size: 896, intermediate_size: 4864,
      num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2, tie_word_embeddings: true,
      rope_theta: 1000000, rms_norm_eps: 1e-6 },
    train: { batch: 4, seq: 128 },
    sample: { prompts: 16, promptLen: 16, newTokens: 128 },
    budgetS: 20,
  },
};

const DTYPES: Precision[] = ["fp32", "bf16"];

/**
 * The precisions a model's cases run in: both, except the Qwen2.5-0.5B shape in the overview (`aha bench`
 * with no suite named), which runs bf16 only — its fp32 cases and their PyTorch peers would take the
 * overview past 10 minutes on 2 cores; `aha bench train` / `aha bench sample` run both.
 */
export function benchDtypes(ctx: BenchContext, name: string): Precision[] {
  return ctx.overview && name !== "S" ? ["bf16"] : DTYPES;
}
/** Sequences of model S's batch the webgpu column trains on (its tokens/s is per token, as aha's). */
const WEBGPU_ROWS = 2;

function models(ctx: BenchContext): string[] {
  const all = Object.keys(BENCH_MODELS);
  if (ctx.only) return all.filter((m) => ctx.only!.includes(m));
  return ctx.quick ? ["S"] : all;
}

export function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

export function randomTokens(n: number, V: number, seed: number): Int32Array {
  let s = seed >>> 0;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s % V;
  }
  return out;
}

export const trainSuite: BenchSuite = {
  summary: "training tokens/s (fwd + bwd + clip + AdamW), model S and a Qwen2.5-0.5B shape, vs PyTorch",
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];
    const steps = ctx.quick ? 1 : 3;
    for (const name of models(ctx)) {
      const bm = BENCH_MODELS[name]!;
      const cfg = parseHfConfig(bm.hf, `<bench model ${name}>`);
      const { batch: B, seq: T } = bm.train;
      const ids = randomTokens(B * (T + 1), cfg.vocabSize, 1);
      const tokens = new Int32Array(B * T), targets = new Int32Array(B * T), cu = new Int32Array(B + 1);
      for (let b = 0; b < B; b++) {
        tokens.set(ids.subarray(b * (T + 1), b * (T + 1) + T), b * T);
        targets.set(ids.subarray(b * (T + 1) + 1, (b + 1) * (T + 1)), b * T);
        cu[b + 1] = (b + 1) * T;
      }
      /** Step times (s), sorted, of up to `n` training steps after a warm-up one (within the model's budget), and the step. */
      const timeSteps = (be: Backend, dtype: Precision, n: number, rowsB = B): { times: number[]; step: () => void } => {
        const tok = tokens.subarray(0, rowsB * T), tgt = targets.subarray(0, rowsB * T), cuB = cu.subarray(0, rowsB + 1);
        const model = new Model(cfg, { precision: dtype, backend: be });
        initParams(model.params, cfg, 0);
        const opt = new AdamW(model.params, model.grads, { weightDecay: 0 }, be);
        const step = (): void => {
          model.zeroGrad();
          model.crossEntropyStep(tok, cuB, tgt);
          clipGradNorm(model.grads, 1.0, be);
          opt.update(1e-4);
          syncDevice(be);
        };
        step(); // warm-up: workspaces, oneDNN primitives, shader pipelines
        const times: number[] = [];
        for (let i = 0; i < n; i++) {
          if (bm.budgetS !== null && times.length > 0 && times.reduce((x, y) => x + y, 0) >= bm.budgetS) break;
          const t0 = performance.now();
          step();
          times.push((performance.now() - t0) / 1e3);
        }
        return { times: times.sort((a, b) => a - b), step };
      };
      const dtypes = benchDtypes(ctx, name);
      for (const dtype of dtypes) {
        collectGarbage(); // the previous case's model (~10 GB of state at the 0.5B shape) before the next one's
        const prof = ctx.profile ? profiled(ctx.backend) : null;
        const { times, step } = timeSteps(prof?.backend ?? ctx.backend, dtype, steps);
        const row: BenchRow = { what: "train", case: `${name} ${B}x${T}`, dtype, aha: (B * T) / times[0]!, peer: null,
          unit: "tokens/s", medianAha: (B * T) / times[Math.floor(times.length / 2)]!, steps: times.length,
          peakRssMb: peakRssMb() };
        // webgpu beside it on model S (the 0.5B shape's ~8 GB of state exceeds one device heap: docs/webgpu.md),
        // on WEBGPU_ROWS of the batch's sequences: over SwiftShader a full 16 × 256 step takes a minute or two,
        // and the default bench must finish in 10 minutes
        if (ctx.webgpu && name === "S") {
          const rowsB = Math.min(B, WEBGPU_ROWS);
          row["webgpu"] = (rowsB * T) / timeSteps(ctx.webgpu, dtype, 1, rowsB).times[0]!;
          row["webgpuCase"] = `${name} ${rowsB}x${T}`;
        }
        ctx.log(`train ${row.case} ${dtype}: ${row.aha.toFixed(0)} tokens/s (step ${(times[0]! * 1e3).toFixed(0)} ms)` +
          (row["webgpu"] !== undefined ? `, webgpu ${Number(row["webgpu"]).toFixed(0)} tokens/s (${String(row["webgpuCase"])})` : ""));
        rows.push(row);
        if (prof) logProfile(ctx, `train ${row.case} ${dtype}`, prof, step);
      }
      if (ctx.peer) {
        const p = runPeer("train", { model: bm.hf, batch: B, seq: T, dtypes, steps, budget_s: bm.budgetS }, ctx.threads);
        attachPeer(ctx, rows, name, p, "train");
      }
    }
    return rows;
  },
};

/** One more step under the profiler: ms per op, largest first, and the share outside the backend. */
export function logProfile(ctx: BenchContext, what: string, prof: ReturnType<typeof profiled>, step: () => void): void {
  prof.take();
  const t0 = performance.now();
  step();
  const total = performance.now() - t0;
  const ops = prof.take();
  let inBackend = 0;
  for (const o of ops) inBackend += o.ms;
  ctx.log(`profile ${what}: step ${total.toFixed(1)} ms, ${(total - inBackend).toFixed(1)} ms outside the backend`);
  for (const o of ops) {
    ctx.log(`  ${o.ms.toFixed(1).padStart(8)} ms ${(100 * o.ms / total).toFixed(1).padStart(5)}% ${String(o.calls).padStart(4)}× ${o.op}`);
  }
}

export function attachPeer(ctx: BenchContext, rows: BenchRow[], name: string, p: ReturnType<typeof runPeer>, what: string): void {
  if (!p.ok) {
    ctx.note(`${what} ${name}: no PyTorch peer (${p.why}); peer is null`);
    return;
  }
  const peerRows = p.data["rows"] as Array<{ dtype: string; tokens_per_s: number; peak_rss_mb: number;
    steps_timed?: number; new_tokens_timed?: number }>;
  for (const r of rows) {
    if (r.what !== what || !r.case.startsWith(`${name} `)) continue;
    const q = peerRows.find((x) => x.dtype === r.dtype);
    if (!q) continue;
    r.peer = q.tokens_per_s;
    r["peerPeakRssMb"] = q.peak_rss_mb;
    // what the peer's budget let it time (scripts/peer_bench.py budget_s)
    if (q.steps_timed !== undefined) r["peerSteps"] = q.steps_timed;
    if (q.new_tokens_timed !== undefined) r["peerNewTokens"] = q.new_tokens_timed;
  }
}
