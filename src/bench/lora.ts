/**
 * `aha bench lora`: one GRPO step of a real-size model with LoRA (issue 16 items 3 and 5), through the
 * trainer (prepareTrainRun → src/rl/trainer.ts, preset grpo: β 0.04, the reference = the base with the
 * adapters off, the old log-probs fused with the update's forward), timed by the trainer's phases —
 * generate (KV-cache sampling), reward, reference (log-probs of the base), train (forward, GRPO loss,
 * backward, clip, AdamW over the adapters) — and its peak RSS, next to the same step in PyTorch
 * (scripts/peer_lora_step.py: PEFT's setup, a bf16 base with fp32 adapters).
 *
 * The configuration is the memory-lean one: precision bf16 with LoRA, so the frozen base is stored in
 * bf16 only (Model.freezeBaseBf16), and grad-checkpointing on. Random weights from the model's config (no
 * hub): Qwen2.5-0.5B's shape (the timed comparison) and Qwen2.5-1.5B's (does its step fit in 24 GiB?).
 * Shapes as the issue: 4 prompts × 8 samples, exactly 128 new tokens (no stop token), prompts of 64 tokens,
 * LoRA r = 16 (alpha 32) on every linear.
 *
 * Each case runs in a child process of its own, so that its peak RSS is its own: `peak RSS (step)` is the
 * high-water mark from just before the first step (Linux: /proc/self/clear_refs, then VmHWM), `peak RSS
 * (process)` includes building the model (a random fp32 init before the base is frozen in bf16).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseHfConfig } from "../model/config.js";
import { Model } from "../model/model.js";
import type { Params } from "../model/params.js";
import { mulberry32 } from "../util/rng.js";
import type { MetricsRow } from "../rl/loop.js";
import { prepareTrainRun } from "../runner/train.js";
import { countdownTask } from "../tasks/generated.js";
import { BENCH_MODELS } from "./model.js";
import { collectGarbage, runPeerScript } from "./peer.js";
import { benchDecode, benchTask } from "./rl.js";
import type { BenchContext, BenchRow, BenchSuite } from "./types.js";

/** Model configs (Hugging Face config.json fields) of the cases. */
export const LORA_MODELS: Record<string, Record<string, unknown>> = {
  "qwen2.5-0.5b": BENCH_MODELS["qwen2.5-0.5b"]!.hf,
  // Qwen/Qwen2.5-1.5B's config.json (GQA 12/2, q/k/v bias, tied embeddings)
  "qwen2.5-1.5b": {
    architectures: ["Qwen2ForCausalLM"], vocab_size: 151936, hidden_size: 1536, intermediate_size: 8960,
    num_hidden_layers: 28, num_attention_heads: 12, num_key_value_heads: 2, tie_word_embeddings: true,
    rope_theta: 1000000, rms_norm_eps: 1e-6,
  },
};

/** The step: P prompts × G samples of Lp prompt tokens and exactly N new tokens; LoRA rank and alpha. */
export const LORA_SHAPE = { prompts: 4, group: 8, promptLen: 64, newTokens: 128, rank: 16, alpha: 32 };

const PHASES = ["generate", "reward", "reference", "train"] as const;
const GIB = 1024;
const PEER = new URL("../../scripts/peer_lora_step.py", import.meta.url);

export interface LoraStepSpec {
  model: string;
  hf: Record<string, unknown>;
  prompts: number;
  group: number;
  promptLen: number;
  newTokens: number;
  rank: number;
  alpha: number;
  /** Steps run; the first is a warm-up, the figures are the best of the rest (of all when only one). */
  steps: number;
  precision: "fp32" | "bf16";
  gradCheckpointing: boolean;
}

export interface LoraStepResult {
  seconds: Record<string, number>;
  /** Peak RSS (MiB) from just before the first step; null where /proc/self/clear_refs is unavailable. */
  peakStepMb: number | null;
  peakProcessMb: number;
  length: number;
}

/** VmHWM (MiB) of this process from /proc/self/status, or null off Linux. */
function vmHwmMb(): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Resets the peak-RSS mark (Linux ≥ 4.0: writing 5 to clear_refs); false where it cannot. */
function resetHwm(): boolean {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

/**
 * Random weights, cheaply (a 1.5B init by Box–Muller normals takes minutes on 2 busy cores): matrices and
 * embeddings U(−a, a) with a = 0.02·√3 (standard deviation 0.02, as initParams), norms 1, biases 0. The
 * values do not matter to the timings or the memory; they only have to be a sane model's.
 */
function benchInit(p: Params, seed: number): void {
  const u = mulberry32(seed), a = 0.02 * Math.sqrt(3);
  for (const s of p.table.specs) {
    const v = p.view(s.name);
    if (s.kind === "norm") v.fill(1);
    else if (s.kind === "bias") v.fill(0);
    else for (let i = 0; i < v.length; i++) v[i] = (2 * u() - 1) * a;
  }
  p.markChanged();
}

/** The step in THIS process (the bench runs it in a child: see loraStepChild). */
export async function loraStep(spec: LoraStepSpec): Promise<LoraStepResult> {
  const cfg = parseHfConfig(spec.hf, `<bench model ${spec.model}>`);
  const { prompts: P, group: G, promptLen: Lp } = spec;
  const model = new Model(cfg, { precision: spec.precision });
  benchInit(model.params, 0);
  const tokenizer = {
    encode: (t: string) => Array.from(t.padEnd(Lp).slice(0, Lp), (ch) => ch.charCodeAt(0) % cfg.vocabSize),
    decode: benchDecode,
    stopTokenIds: [] as number[],
  };
  const rows: MetricsRow[] = [];
  const run = await prepareTrainRun(
    {
      algorithm: "grpo", "group-size": G, "prompts-per-step": P, "max-new-tokens": spec.newTokens, steps: spec.steps, "save-every": 0,
      "samples-per-step": 0, lr: 1e-6, template: "none", "held-out": 0, "lora-rank": spec.rank, "lora-alpha": spec.alpha,
      "grad-checkpointing": spec.gradCheckpointing,
    },
    { persist: false, parts: { model: { model, tokenizer }, task: { ...benchTask(), stop: [] } }, onStep: (m) => rows.push(m) },
  );
  collectGarbage(); // release the fp32 init the frozen base no longer needs
  const setupPeakMb = process.resourceUsage().maxRSS / 1024; // read first: the reset below clears maxRSS too
  const reset = resetHwm();
  try {
    await run.run();
  } finally {
    await run.close();
  }
  const timed = rows.length > 1 ? rows.slice(1) : rows;
  const seconds: Record<string, number> = {};
  for (const k of [...PHASES, "step"]) seconds[k] = Math.min(...timed.map((m) => m[`seconds/${k}`] ?? Number.NaN));
  return {
    seconds, peakStepMb: reset ? vmHwmMb() : null, peakProcessMb: Math.max(setupPeakMb, process.resourceUsage().maxRSS / 1024),
    length: timed[0]?.["length/mean"] ?? Number.NaN,
  };
}

/** Runs loraStep in a child node process (its own peak RSS); argv: the spec file, the result file. */
export async function loraStepChild(specFile: string, outFile: string): Promise<void> {
  const spec = JSON.parse(readFileSync(specFile, "utf8")) as LoraStepSpec;
  writeFileSync(outFile, JSON.stringify(await loraStep(spec)));
}

function runChild(spec: LoraStepSpec, threads: number): LoraStepResult {
  const dir = mkdtempSync(join(tmpdir(), "aha-bench-lora-"));
  try {
    const specFile = join(dir, "spec.json"), outFile = join(dir, "out.json");
    writeFileSync(specFile, JSON.stringify(spec));
    const here = new URL(import.meta.url).href;
    const code = `import(${JSON.stringify(here)}).then((m) => m.loraStepChild(${JSON.stringify(specFile)}, ${JSON.stringify(outFile)}))`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], {
      stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, OMP_NUM_THREADS: String(threads) },
    });
    if (r.error || r.status !== 0 || !existsSync(outFile)) {
      throw new Error(`bench lora: the ${spec.model} step failed (${r.error?.message ?? `exit ${r.status}${r.signal ? `, ${r.signal}` : ""}`})`);
    }
    return JSON.parse(readFileSync(outFile, "utf8")) as LoraStepResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The tiny stand-in of --quick (model S's shape with a Qwen2 architecture: bias, GQA, tied). */
const QUICK_MODEL = {
  architectures: ["Qwen2ForCausalLM"], vocab_size: 512, hidden_size: 128, intermediate_size: 352,
  num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, tie_word_embeddings: true, rope_theta: 10000, rms_norm_eps: 1e-6,
};

export const loraSuite: BenchSuite = {
  summary: "one GRPO step with LoRA on a bf16 base + gradient checkpointing at real sizes (Qwen2.5-0.5B and -1.5B shapes): seconds by phase and peak RSS, vs the same step in PyTorch",
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];
    const cases = ctx.quick ? { quick: QUICK_MODEL } : LORA_MODELS;
    const names = Object.keys(cases).filter((n) => !ctx.only || ctx.only.includes(n));
    const s = ctx.quick ? { ...LORA_SHAPE, promptLen: 16, newTokens: 16, rank: 4, alpha: 8 } : LORA_SHAPE;
    const shape = `${s.prompts}x${s.group} prompts×samples, ${s.promptLen}+${s.newTokens} tokens, LoRA r=${s.rank} all linears`;
    const problems = Array.from({ length: s.prompts }, (_, i) => countdownTask({ seed: 0, heldOutPermille: 50 }).train.get(i).reference);
    for (const name of names) {
      const hf = cases[name as keyof typeof cases] as Record<string, unknown>;
      // the 1.5B case is there for its memory: one step, no warm-up (and no peer: minutes of PyTorch for no ratio the issue asks)
      const big = name === "qwen2.5-1.5b";
      const spec: LoraStepSpec = { model: name, hf, ...s, steps: big ? 1 : 2, precision: "bf16", gradCheckpointing: true };
      ctx.log(`lora ${name}: ${spec.steps} GRPO step(s) in a child process (${shape}, bf16 base, grad checkpointing)…`);
      const r = runChild(spec, ctx.threads);
      if (r.length !== s.newTokens) ctx.note(`lora ${name}: responses averaged ${r.length} tokens, not ${s.newTokens}`);
      let peer: Record<string, unknown> | null = null;
      if (ctx.peer && !big) {
        ctx.log(`lora ${name}: the PyTorch peer…`);
        const p = runPeerScript(PEER, [], { model: hf, prompts: s.prompts, group: s.group, prompt_len: s.promptLen, new_tokens: s.newTokens, rank: s.rank, alpha: s.alpha, steps: 2, problems, kl_coef: 0.04, clip: 0.2, lr: 1e-6 }, ctx.threads);
        if (p.ok) peer = p.data;
        else ctx.note(`lora ${name}: no PyTorch peer (${p.why}); peer is null`);
      }
      const num = (k: string): number | null => (peer && typeof peer[k] === "number" ? (peer[k] as number) : null);
      for (const k of [...PHASES, "step"]) {
        const pv = num(k);
        rows.push({ what: "lora", case: `${name} GRPO step`, phase: k, dtype: "bf16 base", aha: r.seconds[k]!, peer: pv, unit: "s", shape,
          ...(pv !== null ? { "peer/aha": pv / r.seconds[k]! } : {}) });
      }
      rows.push({ what: "lora", case: `${name} GRPO step`, phase: "peak RSS (step)", dtype: "bf16 base", aha: r.peakStepMb ?? Number.NaN, peer: null, unit: "MiB", shape });
      rows.push({ what: "lora", case: `${name} GRPO step`, phase: "peak RSS (process)", dtype: "bf16 base", aha: r.peakProcessMb, peer: num("peak_rss_mb"), unit: "MiB", shape,
        "fits 24 GiB": r.peakProcessMb < 24 * GIB ? "yes" : "no" });
      ctx.log(`lora ${name}: ${PHASES.map((k) => `${k} ${r.seconds[k]!.toFixed(2)} s${num(k) !== null ? ` (PyTorch ${num(k)!.toFixed(2)})` : ""}`).join(", ")}; ` +
        `step ${r.seconds["step"]!.toFixed(2)} s${num("step") !== null ? ` vs PyTorch ${num("step")!.toFixed(2)} s: ${(num("step")! / r.seconds["step"]!).toFixed(2)}×` : ""}; ` +
        `peak RSS ${r.peakStepMb !== null ? `${(r.peakStepMb / GIB).toFixed(2)} GiB in the step, ` : ""}${(r.peakProcessMb / GIB).toFixed(2)} GiB for the process` +
        `${num("peak_rss_mb") !== null ? ` (PyTorch ${(num("peak_rss_mb")! / GIB).toFixed(2)} GiB)` : ""}`);
    }
    return rows;
  },
};
