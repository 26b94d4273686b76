/**
 * Micro-batch invariance at the trainer level: the token cap on a forward/backward micro-batch only
 * changes how the gradient is accumulated, never the update. train() runs on the fixed-sample
 * scenario of fixtures/rl/grpo-step/ (grpo: 2 mini-batches and KL; dr-grpo: two epochs, L_max
 * normalisation; dapo with 1 mini-batch: token-mean, dynamic sampling, and the old log-probs taken from
 * the update's own split forward) with micro-batch-tokens 8192 (one micro-batch per mini-batch), 64 and
 * 1 (every sequence on its own); the weights and metrics after two steps agree within fp32 rounding.
 * The forward passes that feed a backward are counted and sized, so the split is known to happen.
 */
import { describe, expect, it } from "vitest";
import { train, type MetricsRow } from "../../src/rl/trainer.js";
import { expectClose } from "../model/helpers.js";
import { loadScenario, scenarioOptions } from "./grpo-fixture.js";

const sc = loadScenario();
const KEYS = ["loss/policy", "loss/total", "loss/kl", "kl", "grad_norm", "entropy", "clip/low_frac", "clip/high_frac"];

const EXTRA: Record<string, string[]> = { grpo: [], "dr-grpo": [], dapo: ["--mini-batches", "1"] };

interface Run {
  weights: Float32Array;
  metrics: MetricsRow[];
  /** Token count of every forward pass of the policy model that a backward pass followed (the updates'). */
  updates: number[];
  lr: number;
}

async function run(preset: string, cap: number): Promise<Run> {
  const { opts, model, c } = scenarioOptions(sc, preset, [...EXTRA[preset]!, "--micro-batch-tokens", String(cap)]);
  const updates: number[] = [];
  let last = -1;
  const forward = model.forward.bind(model);
  const backward = model.backward.bind(model);
  model.forward = (tokens, ...rest) => {
    last = tokens.length;
    return forward(tokens, ...rest);
  };
  model.backward = (...args) => {
    updates.push(last);
    return backward(...args);
  };
  const ctl = new AbortController();
  const res = await train({ ...opts, signal: ctl.signal, onStep: (m) => m.step === 2 && ctl.abort() });
  expect(res.steps).toBe(2);
  return { weights: model.params.data.slice(), metrics: res.metrics, updates, lr: c.train.lr };
}

describe.each(["grpo", "dr-grpo", "dapo"])("%s: micro-batch-tokens does not change the update", (preset) => {
  it("8192 vs 64 vs 1: the same weights and metrics after two steps; the batch really is split", async () => {
    const whole = await run(preset, 8192);
    // Every mini-batch of this scenario is longer than 64 tokens: one forward/backward each at 8192.
    expect(Math.min(...whole.updates)).toBeGreaterThan(64);
    const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
    for (const cap of [64, 1]) {
      const split = await run(preset, cap);
      expect(split.updates.length).toBeGreaterThan(whole.updates.length);
      // Every micro-batch holds at most `cap` tokens (a sequence longer than the cap goes alone: cap 1).
      if (cap === 64) expect(Math.max(...split.updates)).toBeLessThanOrEqual(64);
      // The same tokens go through forward/backward, only in smaller pieces.
      expect(sum(split.updates)).toBe(sum(whole.updates));
      // Only the fp32 accumulation order differs (measured ≤ 2.6e-7, a couple of ulps, with the fixture's
      // AdamW ε = 1e-3; with ε = 1e-8 a near-zero gradient element's rounding reached 7.6e-6: lr·δ/ε).
      expectClose(`${preset} cap ${cap} weights`, split.weights, whole.weights, { atol: 1e-4 * split.lr, rtol: 1e-5 });
      for (let s = 0; s < 2; s++)
        for (const k of KEYS) {
          if (!(k in whole.metrics[s]!)) continue;
          expectClose(`${preset} cap ${cap} step ${s + 1} ${k}`, [split.metrics[s]![k]!], [whole.metrics[s]![k]!], { atol: 1e-7, rtol: 1e-6 });
        }
    }
  });
});
