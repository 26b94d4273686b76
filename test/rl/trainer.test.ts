// The trainer loop end to end on a tiny random model and the arithmetic task: metrics and samples
// in the run directory, exact resume (6 steps = 3 + resumed 3), NaN steps skipped then stopping,
// Ctrl-C (abort) saving a checkpoint, LoRA with the adapters-off reference, dynamic sampling (which
// prompts are drawn and which groups are trained, on a task with known zero-variance groups).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { AhaError } from "../../src/errors.js";
import { PRESETS, PRESET_NAMES } from "../../src/rl/presets.js";
import { isTimingKey, train, type MetricsRow } from "../../src/rl/trainer.js";
import { readJsonl } from "../../src/util/jsonl.js";
import { latestCheckpoint } from "../../src/runs/checkpoint.js";
import { RunDir } from "../../src/runs/run-dir.js";
import { readStatus } from "../../src/runs/status.js";
import { setup, spec } from "./tiny.js";

// The presets with a critic (ppo, orz, vapo) need the value-model stage (src/rl/gae.ts, value-loss.ts).
const CRITIC_PRESETS = PRESET_NAMES.filter((n) => PRESETS[n].values.critic === "value");
const CRITIC_FREE = PRESET_NAMES.filter((n) => !CRITIC_PRESETS.includes(n));

const roots: string[] = [];
const tmp = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "aha-trainer-"));
  roots.push(d);
  return d;
};
afterAll(() => {
  for (const d of roots) fs.rmSync(d, { recursive: true, force: true });
});

const REQUIRED = ["reward/mean", "reward/std", "reward/accuracy", "reward/accuracy.sevens", "accuracy", "format_rate", "groups/zero_variance_frac", "length/mean", "length/min", "length/max", "length/truncated_frac", "recheck_share", "entropy", "kl", "clip/low_frac", "clip/high_frac", "loss/policy", "grad_norm", "lr", "tokens_per_s/rollout", "tokens_per_s/train", "seconds/generate", "seconds/reward", "seconds/reference", "seconds/train", "seconds/step"];
const noTiming = (rows: MetricsRow[]) => rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !isTimingKey(k))));

describe("trainer", () => {
  it("writes every metric, samples, status and a final checkpoint; the weights change", async () => {
    const { c, opts, model } = setup(["--steps", "2", "--kl-coef", "0.01", "--samples-per-step", "3"]);
    const dir = path.join(tmp(), "run");
    const run = RunDir.create(dir, spec.toFlat(c), { total_steps: 2, kind: "train", task: "arithmetic", model: "tiny", algorithm: "grpo" });
    const before = model.params.data.slice();
    const res = await train({ ...opts, run });
    expect(res.steps).toBe(2);
    const metrics = run.readMetrics();
    expect(metrics.map((m) => m.step)).toEqual([1, 2]);
    for (const k of REQUIRED) expect(metrics[0], k).toHaveProperty(k);
    expect(metrics[0]!["lr"]).toBe(0.01);
    const samples = readJsonl<{ step: number; response: string; reward: number }>(run.samplesPath).rows;
    expect(samples.length).toBe(6);
    expect(readStatus(dir)).toMatchObject({ state: "finished", step: 2 });
    expect(fs.readFileSync(path.join(dir, "checkpoints", "latest"), "utf8").trim()).toBe("step-2");
    expect(fs.existsSync(path.join(dir, "checkpoints", "step-2", "model", "model.safetensors"))).toBe(true);
    let changed = 0;
    for (let i = 0; i < before.length; i++) if (before[i] !== model.params.data[i]) changed++;
    expect(changed).toBeGreaterThan(before.length / 2);
  });

  it("a run of 6 steps equals 3 steps, stopped (Ctrl-C), then resumed for 3 more", async () => {
    const argv = ["--steps", "6", "--save-every", "0", "--epochs", "2", "--mini-batches", "2", "--micro-batch-tokens", "100", "--lr-schedule", "cosine", "--kl-coef", "0.02", "--clip-high", "0.28"];
    const a = setup(argv);
    const dirA = path.join(tmp(), "a");
    const runA = RunDir.create(dirA, spec.toFlat(a.c), { total_steps: 6, kind: "train", task: "arithmetic", model: "tiny" });
    await train({ ...a.opts, run: runA });

    const b = setup(argv);
    const dirB = path.join(tmp(), "b");
    const runB = RunDir.create(dirB, spec.toFlat(b.c), { total_steps: 6, kind: "train", task: "arithmetic", model: "tiny" });
    const ctl = new AbortController();
    const first = await train({ ...b.opts, run: runB, signal: ctl.signal, onStep: (m) => m.step === 3 && ctl.abort() });
    expect(first).toMatchObject({ steps: 3, stopped: true });
    expect(readStatus(dirB)!.state).toBe("stopped");

    const r = RunDir.resume(dirB);
    const c2 = setup(argv); // a fresh process: new model, engine, optimizer
    await train({ ...c2.opts, run: r.run, resume: r.checkpoint });
    expect(noTiming(runB.readMetrics())).toEqual(noTiming(runA.readMetrics()));
    expect(c2.model.params.data).toEqual(a.model.params.data);
  });

  it("NaN steps are skipped and reported; three in a row stop the run with a clear message", async () => {
    const { opts, c } = setup(["--steps", "5"]);
    const model = opts.policy.model;
    const forward = model.forward.bind(model);
    let calls = 0;
    model.forward = (...args) => {
      const r = forward(...args);
      if (++calls > 1) r.logp.fill(Number.NaN); // step 1 is fine (one fused forward), then NaN
      return r;
    };
    const dir = path.join(tmp(), "nan");
    const run = RunDir.create(dir, spec.toFlat(c), { total_steps: 5, kind: "train", task: "arithmetic", model: "tiny" });
    const before = model.params.data.slice();
    const warnings: string[] = [];
    const err = await train({ ...opts, run, warn: (w) => warnings.push(w) }).catch((e: unknown) => e);
    expect(warnings[0]).toMatch(/^step 2: non-finite loss or gradient \(NaN\/Inf\); update skipped \(1 in a row/);
    expect(err).toBeInstanceOf(AhaError);
    expect((err as AhaError).message).toMatch(/3 steps in a row had a non-finite loss or gradient/);
    expect(run.readMetrics().map((m) => m["skipped"])).toEqual([0, 1, 1, 1]);
    expect(readStatus(dir)).toMatchObject({ state: "crashed" });
    expect(readStatus(dir)!.error).toMatch(/non-finite/);
    // only step 1 updated the weights
    expect(model.params.data).not.toEqual(before);
  });

  it("LoRA: only the adapters train; the reference is the base (KL 0 before the first update)", async () => {
    const { opts, model } = setup(["--steps", "2", "--kl-coef", "0.05"], { lora: true });
    const base = model.params.data.slice();
    const res = await train(opts);
    expect(model.params.data).toEqual(base);
    expect(res.metrics[0]!["kl"]).toBe(0); // B = 0 at init: policy = base exactly
    expect(res.metrics[1]!["kl"]).toBeGreaterThan(0);
  });

  it("learns: the share of 7s goes from ~0 to most of the response (gradient signs end to end)", async () => {
    const { opts } = setup(["--steps", "10", "--algorithm", "dr-grpo", "--lr", "0.02"]);
    const res = await train(opts);
    const r = res.metrics.map((m) => m["reward/mean"]!);
    expect(r[0]).toBeLessThan(0.1);
    expect(Math.max(...r.slice(-3))).toBeGreaterThan(0.5);
  });

  it("one update per rollout: old log-probs from the update's own forward = a separate pass", async () => {
    const a = setup(["--steps", "2", "--kl-coef", "0.02"]);
    const b = setup(["--steps", "2", "--kl-coef", "0.02"]);
    const ra = await train(a.opts);
    const rb = await train({ ...b.opts, separateOldPass: true });
    const keys = ["reward/mean", "loss/policy", "grad_norm", "kl", "entropy", "clip/high_frac"];
    for (let i = 0; i < 2; i++) for (const k of keys) expect(Math.abs(ra.metrics[i]![k]! - rb.metrics[i]![k]!), `${k} step ${i + 1}`).toBeLessThan(1e-5);
  });

  it.each(CRITIC_FREE)("preset %s runs a step with its switches (and overlong mask, TIS)", async (name) => {
    const { opts } = setup(["--steps", "1", "--algorithm", name, "--overlong", "mask", "--tis-cap", "2", "--entropy-coef", "0.01", "--dual-clip", "3"]);
    const res = await train(opts);
    expect(res.metrics[0]!["skipped"]).toBe(0);
    expect(Number.isFinite(res.metrics[0]!["loss/policy"] ?? 0)).toBe(true);
  });

  it.each(CRITIC_PRESETS)("preset %s (GAE with a value model) without a critic is refused before any step", async (name) => {
    const { opts } = setup(["--steps", "1", "--algorithm", name]);
    await expect(train(opts)).rejects.toMatchObject({ code: "AHA_NO_CRITIC" });
  });

  it.each([
    ["GRPO", ["--steps", "12", "--save-every", "1", "--kl-coef", "0.02"]],
    ["PPO with its critic", ["--steps", "12", "--save-every", "1", "--algorithm", "ppo"]],
  ])("kill -9 of a real training run (%s) at random points: it resumes and ends equal to an uninterrupted run", async (_name, argv) => {
    const critic = argv.includes("ppo");
    const ref = setup(argv, { critic });
    const dirRef = path.join(tmp(), "ref");
    const runRef = RunDir.create(dirRef, spec.toFlat(ref.c), { total_steps: 12, kind: "train", task: "arithmetic", model: "tiny" });
    await train({ ...ref.opts, run: runRef });

    const dir = path.join(tmp(), "killed");
    const vn = path.resolve("node_modules/.bin/vite-node");
    // Kill a new run once it has 2 checkpoints, then its resumption once it has 6, each at a random
    // moment inside the next step (steps take tens of ms here: a fixed delay would miss the run).
    for (const [i, target] of [2, 6].entries()) {
      const child = spawn(vn, [path.resolve("test/rl/train-child.ts"), dir, i === 0 ? "new" : "resume", ...argv], { stdio: "ignore" });
      let exited = false;
      const exit = new Promise((r) => child.on("exit", () => { exited = true; r(null); })); // listen before the child can end
      const t0 = Date.now();
      while (!exited && (latestCheckpoint(dir)?.state.step ?? 0) < target && Date.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 2));
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 30)));
      child.kill("SIGKILL");
      await exit;
      expect(latestCheckpoint(dir)?.state.step ?? 0, "the child reached its checkpoint before the kill").toBeGreaterThanOrEqual(target);
    }
    const st = readStatus(dir)!;
    expect(["crashed", "finished"]).toContain(st.state);
    const r = RunDir.resume(dir);
    const fresh = setup(argv, { critic });
    await train({ ...fresh.opts, run: r.run, resume: r.checkpoint });
    expect(noTiming(r.run.readMetrics())).toEqual(noTiming(runRef.readMetrics()));
    expect(fresh.model.params.data).toEqual(ref.model.params.data);
    if (critic) expect(fresh.vm!.params.data).toEqual(ref.vm!.params.data);
  }, 240_000); // two child processes (vite-node start-up each) plus three runs: slow on a loaded 2-core machine

  describe("dynamic sampling", () => {
    // A task where some prompts are "flat" (every response scores 1: a zero-variance group) and the
    // others "varied" (the k-th response to a prompt scores k: all rewards of a group differ). Each step
    // records which prompts were scored, in order, and which prompts the training forward pass saw.
    const P = 4; // --prompts-per-step in tiny.ts
    const G = 4; // --group-size
    const mixedFlat = (q: string): boolean => [...q].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) % 1009, 7) % 2 === 0;
    function observe(argv: string[], isFlat: (question: string) => boolean) {
      const { opts, model } = setup(["--steps", "4", "--save-every", "0", ...argv]);
      const steps: { drawn: string[]; trained: string[] }[] = [];
      let cur = { drawn: [] as string[], trained: [] as string[] };
      const calls = new Map<string, number>();
      const task = {
        ...opts.task,
        score: (_text: string, problem: { id: string; question: string }) => {
          if (!cur.drawn.includes(problem.question)) cur.drawn.push(problem.question);
          const k = calls.get(problem.id) ?? 0;
          calls.set(problem.id, k + 1);
          const reward = isFlat(problem.question) ? 1 : k;
          return { reward, parts: {}, correct: false, extracted: null, reason: "" };
        },
      } as typeof opts.task;
      const forward = model.forward.bind(model);
      model.forward = (tokens, cuSeqlens, targets, fo) => {
        for (let s = 0; s + 1 < cuSeqlens.length; s++) {
          const seq = Array.from(tokens.subarray(cuSeqlens[s], cuSeqlens[s + 1]));
          const q = cur.drawn.find((d) => {
            const ids = opts.tokenizer.encode(d);
            return ids.every((id, i) => seq[i] === id);
          });
          cur.trained.push(q ?? "?");
        }
        return forward(tokens, cuSeqlens, targets, fo);
      };
      const onStep = (): void => {
        steps.push(cur);
        cur = { drawn: [], trained: [] };
      };
      return { run: () => train({ ...opts, task, onStep }), steps };
    }
    /** The prompts DAPO's rule draws from `order`: P, then P − kept per extra round while the batch is short. */
    function expectedDraw(order: string[], isFlat: (q: string) => boolean, rounds: number): number {
      let drawn = 0;
      let kept = 0;
      for (let round = 0; round <= rounds && kept < P; round++) {
        const take = order.slice(drawn, drawn + P - kept);
        drawn += take.length;
        kept += take.filter((q) => !isFlat(q)).length;
      }
      return drawn;
    }
    /** The training forward saw exactly `groups`' prompts, all G responses of each (as often as it runs over the batch). */
    function expectTrained(trained: string[], groups: string[], what: string): void {
      const seen = new Map<string, number>();
      for (const q of trained) seen.set(q, (seen.get(q) ?? 0) + 1);
      expect([...seen.keys()].sort(), what).toEqual([...groups].sort());
      const passes = trained.length / (G * groups.length);
      if (groups.length > 0) expect(Number.isInteger(passes) && passes >= 1 && [...seen.values()].every((n) => n === G * passes), what).toBe(true);
    }

    it("trains exactly the groups with reward variance, draws more prompts until the batch is full, reports the first round's zero-variance share", async () => {
      const o = observe(["--dynamic-sampling", "--dynamic-sampling-rounds", "3"], mixedFlat);
      const res = await o.run();
      expect(o.steps).toHaveLength(4);
      let extraRounds = 0;
      o.steps.forEach(({ drawn, trained }, i) => {
        const m = res.metrics[i]!;
        const varied = drawn.filter((q) => !mixedFlat(q));
        expect(drawn.length, `step ${i + 1}: prompts drawn`).toBe(expectedDraw(drawn, mixedFlat, 3));
        if (drawn.length > P) extraRounds++;
        // every trained sequence is one of a varied group's G responses, and every varied group is trained
        expectTrained(trained, varied, `step ${i + 1}: trained prompts`);
        expect(m["groups/trained"]).toBe(varied.length);
        expect(m["groups/zero_variance_frac"]).toBe(drawn.slice(0, P).filter(mixedFlat).length / P);
      });
      // the case this test is about happened: zero-variance groups in a first round, refilled by extra rounds to a full batch
      expect(extraRounds).toBeGreaterThan(0);
      expect(res.metrics.filter((m) => m["groups/trained"] === P).length).toBeGreaterThanOrEqual(extraRounds);
    });

    it("gives up after the extra rounds: all groups flat → 1 + rounds generation rounds, nothing trained", async () => {
      const o = observe(["--dynamic-sampling", "--dynamic-sampling-rounds", "2"], () => true);
      const res = await o.run();
      for (const [i, { drawn, trained }] of o.steps.entries()) {
        expect(drawn, `step ${i + 1}`).toHaveLength(3 * P);
        expect(trained).toEqual([]);
        expect(res.metrics[i]).toMatchObject({ "groups/trained": 0, "groups/zero_variance_frac": 1 });
      }
    });

    it("off: one round of P prompts, every group trained, the zero-variance share still reported", async () => {
      const o = observe([], mixedFlat);
      const res = await o.run();
      let flat = 0;
      for (const [i, { drawn, trained }] of o.steps.entries()) {
        expect(drawn, `step ${i + 1}`).toHaveLength(P);
        expectTrained(trained, drawn, `step ${i + 1}: trained prompts`);
        flat += drawn.filter(mixedFlat).length;
        expect(res.metrics[i]).toMatchObject({ "groups/trained": P, "groups/zero_variance_frac": drawn.filter(mixedFlat).length / P });
      }
      expect(flat).toBeGreaterThan(0);
    });
  });
});
