/**
 * Model-level figures: training tokens/s (forward + cross-entropy + backward + global-norm clip + AdamW)
 * and sampling tokens/s (P prompts, N new tokens each, KV cache, temperature 1), in fp32 and in the bf16
 * matmul mode, next to PyTorch doing the same (scripts/peer_bench.py train|sample; bf16 there is
 * torch.autocast). Random weights and random tokens: speed does not depend on what is learned.
 */
import { parseHfConfig } from "../model/config.js";
import { Model, type Precision } from "../model/model.js";
import { AdamW, clipGradNorm } from "../model/optim.js";
import { initParams } from "../model/params.js";
import { generate } from "../model/sample.js";
import type { Backend } from "../kernels/backend.js";
import { syncDevice } from "./gemm.js";
import { runPeer } from "./peer.js";
import type { BenchContext, BenchRow, BenchSuite } from "./types.js";

interface BenchModel {
  /** Hugging Face config.json fields (the peer builds the same model from them) */
  hf: Record<string, unknown>;
  train: { batch: number; seq: number };
  sample: { prompts: number; promptLen: number; newTokens: number };
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
  },
  "qwen2.5-0.5b": {
    hf: { architectures: ["Qwen2ForCausalLM"], vocab_size: 151936, hidden_size: 896, intermediate_size: 4864,
      num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2, tie_word_embeddings: true,
      rope_theta: 1000000, rms_norm_eps: 1e-6 },
    train: { batch: 4, seq: 128 },
    sample: { prompts: 16, promptLen: 16, newTokens: 128 },
  },
};

const DTYPES: Precision[] = ["fp32", "bf16"];

function models(ctx: BenchContext): string[] {
  const all = Object.keys(BENCH_MODELS);
  if (ctx.only) return all.filter((m) => ctx.only!.includes(m));
  return ctx.quick ? ["S"] : all;
}

function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

function randomTokens(n: number, V: number, seed: number): Int32Array {
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
      /** Step times (s), sorted, of `steps` training steps after a warm-up one. */
      const timeSteps = (be: Backend, dtype: Precision, n: number): number[] => {
        const model = new Model(cfg, { precision: dtype, backend: be });
        initParams(model.params, cfg, 0);
        const opt = new AdamW(model.params, model.grads, { weightDecay: 0 }, be);
        const step = (): void => {
          model.zeroGrad();
          model.crossEntropyStep(tokens, cu, targets);
          clipGradNorm(model.grads, 1.0, be);
          opt.update(1e-4);
          syncDevice(be);
        };
        step(); // warm-up: workspaces, oneDNN primitives, shader pipelines
        const times: number[] = [];
        for (let i = 0; i < n; i++) {
          const t0 = performance.now();
          step();
          times.push((performance.now() - t0) / 1e3);
        }
        return times.sort((a, b) => a - b);
      };
      for (const dtype of DTYPES) {
        const times = timeSteps(ctx.backend, dtype, steps);
        const row: BenchRow = { what: "train", case: `${name} ${B}x${T}`, dtype, aha: (B * T) / times[0]!, peer: null,
          unit: "tokens/s", medianAha: (B * T) / times[Math.floor(times.length / 2)]!, peakRssMb: peakRssMb() };
        // webgpu beside it on model S (the 0.5B shape's ~8 GB of state exceeds one device heap: docs/webgpu.md)
        if (ctx.webgpu && name === "S") row["webgpu"] = (B * T) / timeSteps(ctx.webgpu, dtype, 1)[0]!;
        ctx.log(`train ${row.case} ${dtype}: ${row.aha.toFixed(0)} tokens/s (step ${(times[0]! * 1e3).toFixed(0)} ms)` +
          (row["webgpu"] !== undefined ? `, webgpu ${Number(row["webgpu"]).toFixed(0)} tokens/s` : ""));
        rows.push(row);
      }
      if (ctx.peer) {
        const p = runPeer("train", { model: bm.hf, batch: B, seq: T, dtypes: DTYPES, steps }, ctx.threads);
        attachPeer(ctx, rows, name, p, "train");
      }
    }
    return rows;
  },
};

export const sampleSuite: BenchSuite = {
  summary: "sampling tokens/s (16 prompts × 128 new tokens, KV cache), vs PyTorch's KV-cache loop",
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];
    for (const name of models(ctx)) {
      const bm = BENCH_MODELS[name]!;
      const cfg = parseHfConfig(bm.hf, `<bench model ${name}>`);
      const { prompts: P, promptLen: Lp } = bm.sample;
      const N = ctx.quick ? 16 : bm.sample.newTokens;
      const prompts = Array.from({ length: P }, (_, i) => randomTokens(Lp, cfg.vocabSize, 100 + i));
      for (const dtype of DTYPES) {
        const model = new Model(cfg, { precision: dtype, backend: ctx.backend });
        initParams(model.params, cfg, 0);
        const once = (): number => {
          const t0 = performance.now();
          generate(model, prompts.map((p) => ({ promptIds: p, maxNewTokens: N, temperature: 1 })),
            { slots: P, maxLen: Lp + N, seed: 1 });
          return (performance.now() - t0) / 1e3;
        };
        once(); // warm-up
        const best = Math.min(once(), ...(ctx.quick ? [] : [once()]));
        const row: BenchRow = { what: "sample", case: `${name} ${P}x${N}`, dtype, aha: (P * N) / best, peer: null,
          unit: "tokens/s", peakRssMb: peakRssMb() };
        ctx.log(`sample ${row.case} ${dtype}: ${row.aha.toFixed(0)} tokens/s`);
        rows.push(row);
      }
      if (ctx.peer) {
        const p = runPeer("sample", { model: bm.hf, prompts: P, prompt_len: Lp, new_tokens: N, dtypes: DTYPES,
          repeats: ctx.quick ? 1 : 2 }, ctx.threads);
        attachPeer(ctx, rows, name, p, "sample");
      }
    }
    return rows;
  },
};

function attachPeer(ctx: BenchContext, rows: BenchRow[], name: string, p: ReturnType<typeof runPeer>, what: string): void {
  if (!p.ok) {
    ctx.note(`${what} ${name}: no PyTorch peer (${p.why}); peer is null`);
    return;
  }
  const peerRows = p.data["rows"] as Array<{ dtype: string; tokens_per_s: number; peak_rss_mb: number }>;
  for (const r of rows) {
    if (r.what !== what || !r.case.startsWith(`${name} `)) continue;
    const q = peerRows.find((x) => x.dtype === r.dtype);
    if (!q) continue;
    r.peer = q.tokens_per_s;
    r["peerPeakRssMb"] = q.peak_rss_mb;
  }
}
