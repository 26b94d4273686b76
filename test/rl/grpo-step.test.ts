/**
 * Whole RL steps pinned end to end against PyTorch (fixtures/rl/grpo-step/, written by
 * scripts/make_grpo_step_fixture.py in float64 independently of src/rl): the real trainer (train(),
 * run: null) on a tiny Qwen2-shaped model with fixed prompts, responses and rewards, for the grpo,
 * dr-grpo and dapo presets — rewards and overlong shaping → dynamic sampling → advantages → the
 * clipped objective with its aggregation and k3 KL against the frozen reference → gradients → grad
 * clipping → AdamW with the lr schedule — two steps, compared weight by weight after each step and
 * metric by metric. A second group of tests changes one switch at a time and checks that the same
 * comparison then fails (the comparison can tell the presets' settings apart).
 */
import { describe, expect, it } from "vitest";
import { train, type MetricsRow } from "../../src/rl/trainer.js";
import { compare, expectClose } from "../model/helpers.js";
import { expectedWeights, loadScenario, scenarioOptions, type Scenario } from "./grpo-fixture.js";

const sc: Scenario = loadScenario();

/**
 * Weights: fp32 forward/backward against float64 torch, then AdamW, which moves a weight by about
 * lr·g/(|g| + ε): an error δ in a gradient element becomes up to lr·δ/ε in the weight (the fixture
 * uses ε = 1e-3 to keep that factor at 30; see the script). Hence an absolute part relative to lr.
 * Measured max |diff| over both steps and all tensors: 1.2e-6 (native kernels), 2.8e-7 (AHA_BACKEND=ts),
 * at lr 0.02–0.03; the tolerance is 5e-6..7.5e-6.
 */
const W = { rtol: 1e-5, atolOfLr: 2.5e-4 };
/** Metrics: fp32 log-probs summed in fp64 (measured ≤ 2.7e-7 absolute, 1e-6 relative); clip fractions are counts, exact. */
const M = { atol: 2e-7, rtol: 5e-6 };

interface Outcome {
  metrics: MetricsRow[];
  /** Weights after each step, by tensor name. */
  weights: Map<string, Float32Array>[];
  lr: number;
}

/** Runs the trainer on the fixture for `preset` (plus extra flags) for as many steps as the fixture has. */
async function runFixture(preset: string, extra: string[] = []): Promise<Outcome> {
  const fx = sc.presets[preset]!;
  const { opts, model } = scenarioOptions(sc, preset, extra);
  const weights: Map<string, Float32Array>[] = [];
  const ctl = new AbortController();
  const res = await train({
    ...opts,
    signal: ctl.signal,
    onStep: (m) => {
      weights.push(new Map(model.table.specs.map((s) => [s.name, model.params.view(s.name).slice()])));
      if (m.step === fx.steps.length) ctl.abort(); // dr-grpo's cosine schedule is 4 steps long: stop after 2
    },
  });
  expect(res.steps).toBe(fx.steps.length);
  return { metrics: res.metrics, weights, lr: Math.max(...fx.steps.map((s) => s.metrics["lr"]!)) };
}

/** Weight comparisons of one step: the tensor names outside tolerance. */
function weightsOff(preset: string, out: Outcome, step: number, report: boolean): string[] {
  const expected = expectedWeights(preset);
  const bad: string[] = [];
  for (const [name, got] of out.weights[step - 1]!) {
    const want = expected.get(`step${step}.${name}`);
    if (!want) throw new Error(`fixture lacks step${step}.${name}`);
    const tol = { atol: W.atolOfLr * out.lr, rtol: W.rtol };
    if (report) expectClose(`${preset} step ${step} ${name}`, got, want, tol);
    else if (!compare(name, got, want, tol).ok) bad.push(name);
  }
  return bad;
}

describe.each(["grpo", "dr-grpo", "dapo"])("%s: two trainer steps equal PyTorch", (preset) => {
  it("weights after each step and the step metrics", async () => {
    const fx = sc.presets[preset]!;
    const out = await runFixture(preset);
    fx.steps.forEach((st, k) => {
      expect(out.metrics[k]!["skipped"]).toBe(0);
      weightsOff(preset, out, k + 1, true);
      for (const [key, want] of Object.entries(st.metrics)) {
        expect(out.metrics[k], `${preset} step ${k + 1} reports ${key}`).toHaveProperty(key);
        expectClose(`${preset} step ${k + 1} ${key}`, [out.metrics[k]![key]!], [want], M);
      }
    });
  });
});

// One switch away from the preset: the comparison must fail (else it could not catch that switch).
const MUTANTS: [string, string[]][] = [
  ["grpo", ["--scale-rewards", "none"]],
  ["grpo", ["--advantage-eps", "0.1"]],
  ["grpo", ["--loss-agg", "token-mean"]],
  ["grpo", ["--kl-coef", "0.02"]],
  ["grpo", ["--kl-estimator", "k1"]],
  ["grpo", ["--grad-clip", "none"]],
  ["grpo", ["--weight-decay", "0"]],
  ["grpo", ["--adam-eps", "1e-8"]],
  ["grpo", ["--adam-beta2", "0.999"]],
  ["grpo", ["--warmup-steps", "0"]],
  ["grpo", ["--mini-batches", "1"]],
  ["dr-grpo", ["--loss-agg", "seq-mean-token-sum"]],
  ["dr-grpo", ["--clip-low", "0.3"]],
  ["dr-grpo", ["--lr-schedule", "constant"]],
  ["dapo", ["--clip-high", "0.2"]],
  ["dapo", ["--overlong", "none"]],
  ["dapo", ["--no-dynamic-sampling"]],
  ["dapo", ["--algorithm", "grpo", "--kl-coef", "0"]],
];

describe("the comparison fails when one switch differs from the preset", () => {
  it.each(MUTANTS)("%s with %j", async (preset, extra) => {
    const out = await runFixture(preset, extra);
    const off = [1, 2].map((s) => weightsOff(preset, out, s, false).length);
    expect(off[0]! + off[1]!).toBeGreaterThan(0);
  });
});
