/**
 * PPO with a critic in the trainer (src/rl/critic.ts + src/rl/stages.ts): the ppo, orz and vapo presets
 * train a value model beside the policy; GAE advantages at γ = λ = 1 without whitening are R − V_old
 * per token; VAPO's value warmup leaves the policy still while the critic learns; the positive-example
 * LM loss moves the policy even with zero advantages; the value loss falls on a fixed batch; resume with
 * the critic in the checkpoint is exact.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { criticValues, updateCritic } from "../../src/rl/critic.js";
import { advantages, makeBatch, reference, update, type Sample, type StepContext } from "../../src/rl/stages.js";
import { isTimingKey, objectiveSettings, train, type MetricsRow } from "../../src/rl/trainer.js";
import { RunDir } from "../../src/runs/run-dir.js";
import { ARITH_SPECIAL } from "../../src/tasks/arithmetic.js";
import { setup, spec } from "./tiny.js";

const roots: string[] = [];
afterAll(() => {
  for (const d of roots) fs.rmSync(d, { recursive: true, force: true });
});
const tmp = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "aha-critic-"));
  roots.push(d);
  return d;
};

const CRITIC_METRICS = ["critic/value_loss", "critic/explained_variance", "critic/value_mean", "critic/return_mean", "critic/clip_frac", "critic/grad_norm", "advantage/mean", "advantage/std", "advantage/min", "advantage/max"];

function changed(a: Float32Array, b: Float32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

describe("PPO with a critic", () => {
  it.each(["ppo", "orz", "vapo"])("preset %s trains the policy and the value model; the critic's metrics are reported", async (name) => {
    const { opts, model, vm } = setup(["--steps", "2", "--algorithm", name, "--value-warmup-steps", "0"], { critic: true });
    const p0 = model.params.data.slice();
    const v0 = vm!.params.data.slice();
    const res = await train(opts);
    for (const m of res.metrics) for (const k of CRITIC_METRICS) expect(Number.isFinite(m[k]), `${k} at step ${m.step}`).toBe(true);
    expect(changed(p0, model.params.data)).toBeGreaterThan(p0.length / 2);
    expect(changed(v0, vm!.params.data)).toBeGreaterThan(v0.length / 2);
  });

  it("VAPO's value warmup: the policy stays still while the critic learns, then moves", async () => {
    const { opts, model, vm } = setup(["--steps", "2", "--algorithm", "vapo", "--value-warmup-steps", "2"], { critic: true });
    const p0 = model.params.data.slice();
    const v0 = vm!.params.data.slice();
    const res = await train(opts);
    expect(model.params.data).toEqual(p0);
    expect(changed(v0, vm!.params.data)).toBeGreaterThan(0);
    expect(res.metrics.every((m) => m["loss/policy"] === undefined && Number.isFinite(m["critic/value_loss"]))).toBe(true);
    const more = setup(["--steps", "3", "--algorithm", "vapo", "--value-warmup-steps", "2"], { critic: true });
    const q0 = more.model.params.data.slice();
    await train(more.opts);
    expect(changed(q0, more.model.params.data)).toBeGreaterThan(0);
  });
});

/** A batch of fixed responses with rewards; `correct` marks the positive examples. */
function batchOf(ctx: StepContext, rewards: number[], correct: boolean[] = rewards.map(() => false)) {
  return makeBatch(ctx.rl, rewards.map((r, i): Sample => ({
    group: 0, problem: { id: "p", question: "q", answer: "a", reference: null }, promptText: "q", responsePrefix: "",
    prompt: [ARITH_SPECIAL.bos, 4 + i], response: Int32Array.from({ length: 2 + i }, (_, t) => 5 + ((t + i) % 9)), text: "", truncated: false,
    engineLogp: null, reward: r, scored: { reward: r, parts: {}, correct: correct[i]!, extracted: null, reason: "" },
  })));
}

function ctxOf(argv: string[]): { ctx: StepContext; model: ReturnType<typeof setup>["model"] } {
  const { opts, model } = setup(argv, { critic: true });
  const ctx: StepContext = {
    rl: opts.rl, train: opts.train, task: opts.task, template: "none", tokenizer: opts.tokenizer, engine: opts.engine, policy: opts.policy,
    critic: opts.critic!, scorer: async () => [], settings: objectiveSettings(opts.rl),
  };
  return { ctx, model };
}

describe("critic stages", () => {
  it("GAE at γ = λ = 1 without whitening: the advantage of every token is R − V_old, the return R", () => {
    const { ctx } = ctxOf(["--algorithm", "ppo", "--group-size", "4", "--gamma", "1", "--gae-lambda", "1", "--no-gae-whiten", "--kl-coef", "0"]);
    const b = batchOf(ctx, [1, 0, 0.5, 1]);
    const lp = reference(ctx, b);
    expect(lp.values).not.toBeNull();
    expect(Array.from(lp.values!)).toEqual(Array.from(criticValues(ctx, b)));
    const adv = advantages(ctx, b, lp);
    b.samples.forEach((s, i) => {
      for (let t = b.offsets[i]!; t < b.offsets[i + 1]!; t++) {
        expect(adv.perToken[t]).toBeCloseTo(s.reward! - lp.values![t]!, 12);
        expect(adv.critic!.returns[t]).toBeCloseTo(s.reward!, 12);
      }
    });
  });

  it("the value loss falls on a fixed batch as the critic updates", () => {
    const { ctx } = ctxOf(["--algorithm", "ppo", "--group-size", "4", "--kl-coef", "0", "--value-clip", "none"]);
    const b = batchOf(ctx, [1, 0, 0.5, 1]);
    const lp = reference(ctx, b);
    const adv = advantages(ctx, b, lp);
    const losses = Array.from({ length: 6 }, () => updateCritic(ctx, b, adv, 1e-3).loss);
    expect(losses[5]!).toBeLessThan(losses[0]! * 0.8);
  });

  it("VAPO's LM loss on positive examples moves the policy even with zero advantages", () => {
    for (const [coef, moves] of [[0, false], [0.1, true]] as const) {
      const { ctx, model } = ctxOf(["--algorithm", "vapo", "--group-size", "4", "--lm-loss-coef", String(coef), "--weight-decay", "0"]);
      const b = batchOf(ctx, [1, 0, 0, 1], [true, false, false, true]);
      const lp = reference(ctx, b);
      const before = model.params.data.slice();
      update(ctx, b, lp, { perToken: new Float64Array(b.total), kl: null }, 0.01);
      expect(changed(before, model.params.data) > 0, `lm-loss-coef ${coef}`).toBe(moves);
    }
  });
});

describe("a LoRA critic", () => {
  it("trains the adapters and the score head on a frozen body; resume restores both exactly", async () => {
    const argv = ["--steps", "4", "--save-every", "0", "--algorithm", "ppo"];
    const a = setup(argv, { critic: "lora" });
    const body0 = a.vm!.params.data.slice(0, a.vm!.params.data.length - a.vm!.cfg.hiddenSize);
    const lora0 = a.criticLora!.params.data.slice();
    const head0 = a.vm!.params.data.slice(body0.length);
    const dirA = path.join(tmp(), "lora-a");
    await train({ ...a.opts, run: RunDir.create(dirA, spec.toFlat(a.c), { total_steps: 4, kind: "train", task: "arithmetic", model: "tiny" }) });
    expect(a.vm!.params.data.slice(0, body0.length)).toEqual(body0); // the body is frozen
    expect(changed(lora0, a.criticLora!.params.data)).toBeGreaterThan(0);
    expect(changed(head0, a.vm!.params.data.slice(body0.length))).toBeGreaterThan(0); // the score head trains
    expect(fs.existsSync(path.join(dirA, "checkpoints", "step-4", "critic", "model", "adapter_model.safetensors"))).toBe(true);

    const b = setup(argv, { critic: "lora" });
    const dirB = path.join(tmp(), "lora-b");
    const ctl = new AbortController();
    await train({ ...b.opts, run: RunDir.create(dirB, spec.toFlat(b.c), { total_steps: 4, kind: "train", task: "arithmetic", model: "tiny" }), signal: ctl.signal, onStep: (m) => { if (m.step === 2) ctl.abort(); } });
    const c = setup(argv, { critic: "lora" });
    const r = RunDir.resume(dirB);
    await train({ ...c.opts, run: r.run, resume: r.checkpoint });
    expect(c.criticLora!.params.data).toEqual(a.criticLora!.params.data);
    expect(c.vm!.params.data).toEqual(a.vm!.params.data);
    expect(c.model.params.data).toEqual(a.model.params.data);
  });
});

describe("resume with the critic", () => {
  it("4 PPO steps equal 2 steps, stopped, then resumed for 2 more (policy, critic and metrics)", async () => {
    const noTiming = (rows: MetricsRow[]) => rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !isTimingKey(k))));
    const argv = ["--steps", "4", "--save-every", "0", "--algorithm", "ppo", "--mini-batches", "2", "--epochs", "2"];
    const a = setup(argv, { critic: true });
    const dirA = path.join(tmp(), "a");
    await train({ ...a.opts, run: RunDir.create(dirA, spec.toFlat(a.c), { total_steps: 4, kind: "train", task: "arithmetic", model: "tiny" }) });

    const b = setup(argv, { critic: true });
    const dirB = path.join(tmp(), "b");
    const ctl = new AbortController();
    const first = await train({ ...b.opts, run: RunDir.create(dirB, spec.toFlat(b.c), { total_steps: 4, kind: "train", task: "arithmetic", model: "tiny" }), signal: ctl.signal, onStep: (m) => { if (m.step === 2) ctl.abort(); } });
    expect(first).toMatchObject({ steps: 2, stopped: true });
    expect(fs.existsSync(path.join(dirB, "checkpoints", "step-2", "critic", "model", "model.safetensors"))).toBe(true);
    const c = setup(argv, { critic: true }); // fresh weights: everything must come from the checkpoint
    const r = RunDir.resume(dirB);
    await train({ ...c.opts, run: r.run, resume: r.checkpoint });
    expect(c.model.params.data).toEqual(a.model.params.data);
    expect(c.vm!.params.data).toEqual(a.vm!.params.data);
    expect(noTiming(r.run.readMetrics())).toEqual(noTiming(RunDir.resume(dirA).run.readMetrics()));
  });
});
