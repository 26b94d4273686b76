/**
 * Async rollouts in the trainer: with max-staleness K the rollouts of the next steps are launched
 * before the current step trains (from the weights the servers hold then), at most K batches wait, the
 * staleness is a metric and never exceeds K, each sample records the weight version that produced it,
 * and batches that outlived the bound are dropped.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { DEFAULT_STAGES, train, type Stages } from "../../src/rl/trainer.js";
import { RunDir } from "../../src/runs/run-dir.js";
import { setup, spec } from "./tiny.js";

function traced(argv: string[], maxStaleness: number, syncEvery = 1) {
  const { opts } = setup(["--steps", "5", "--samples-per-step", "4", ...argv]);
  const events: string[] = [];
  let pushed = 0; // the step whose weights "the servers" hold: the afterUpdate stage plays weight sync
  const engine = {
    logprobKind: opts.engine.logprobKind,
    generate: async (...a: Parameters<typeof opts.engine.generate>) => {
      events.push(`launch@${pushed}`);
      await new Promise((r) => setTimeout(r, 5)); // a server's latency
      return opts.engine.generate(...a);
    },
  };
  const stages: Partial<Stages> = {
    update: (ctx, b, lp, adv, lr) => {
      events.push("update");
      return DEFAULT_STAGES.update(ctx, b, lp, adv, lr);
    },
    afterUpdate: (_ctx, step) => {
      if (step % syncEvery === 0) pushed = step;
      events.push(`sync@${pushed}`);
    },
  };
  const samples: { step: number; weight_version?: number }[] = [];
  const run = { appendMetrics: () => {}, appendSamples: (rows: readonly { step: number; weight_version?: number }[]) => void samples.push(...rows), readMetrics: () => [], setStep: () => {}, setState: () => {}, saveCheckpoint: async () => "" };
  return { opts: { ...opts, engine, stages, run, asyncRollouts: { maxStaleness }, rolloutVersion: () => pushed }, events, samples };
}

describe("async rollouts", () => {
  it("max-staleness 1: the next batch is launched before each step trains; staleness is 1 after the first step", async () => {
    const t = traced([], 1);
    const res = await train(t.opts);
    // step 1: its own batch (weights 0), then the prefetch for step 2 (weights 0), then the update
    expect(t.events.slice(0, 4)).toEqual(["launch@0", "launch@0", "update", "sync@1"]);
    expect(t.events.filter((e) => e.startsWith("launch"))).toHaveLength(5); // one batch per step, none wasted
    expect(res.metrics.map((m) => m["rollout/staleness"])).toEqual([0, 1, 1, 1, 1]);
    const byStep = new Map(t.samples.map((s) => [s.step, s.weight_version]));
    expect([...byStep.entries()]).toEqual([[1, 0], [2, 0], [3, 1], [4, 2], [5, 3]]);
  });

  it("max-staleness 2 keeps two batches waiting; the staleness never exceeds the bound", async () => {
    const t = traced([], 2);
    const res = await train(t.opts);
    expect(t.events.slice(0, 4)).toEqual(["launch@0", "launch@0", "launch@0", "update"]);
    const st = res.metrics.map((m) => m["rollout/staleness"]!);
    expect(Math.max(...st)).toBe(2);
    expect(st).toEqual([0, 1, 2, 2, 2]);
  });

  it("a batch older than the bound (weights not synced for a while) is dropped and sampled afresh", async () => {
    const t = traced([], 1, 2); // weights pushed every 2 steps: a prefetched batch can be 2 versions old
    const res = await train(t.opts);
    for (const m of res.metrics) expect(m["rollout/staleness"]!).toBeLessThanOrEqual(1);
    expect(res.metrics.some((m) => (m["async/discarded_batches"] ?? 0) > 0)).toBe(true);
  });

  it("sync mode (no async): every batch comes from the current weights", async () => {
    const t = traced([], 1);
    const res = await train({ ...t.opts, asyncRollouts: null });
    expect(res.metrics.map((m) => m["rollout/staleness"])).toEqual([0, 0, 0, 0, 0]);
    expect(t.events.slice(0, 3)).toEqual(["launch@0", "update", "sync@1"]);
  });

  it("a run stopped in async mode resumes from its last checkpoint and finishes", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "aha-async-"));
    try {
      const t = traced(["--save-every", "1"], 1);
      const run = RunDir.create(path.join(dir, "run"), spec.toFlat(setup(["--steps", "5"]).c), { total_steps: 5, kind: "train", task: "arithmetic", model: "tiny" });
      const ctl = new AbortController();
      const first = await train({ ...t.opts, run, signal: ctl.signal, onStep: (m) => { if (m.step === 2) ctl.abort(); } });
      expect(first).toMatchObject({ steps: 2, stopped: true });
      const again = traced(["--save-every", "1"], 1);
      const r = RunDir.resume(path.join(dir, "run"));
      const res = await train({ ...again.opts, run: r.run, resume: r.checkpoint });
      expect(res.steps).toBe(5);
      expect(r.run.readMetrics().map((m) => m.step)).toEqual([1, 2, 3, 4, 5]);
      // the resumed run launches afresh (the batch in flight at the stop is not in the checkpoint)
      expect(again.events[0]).toBe("launch@0");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
