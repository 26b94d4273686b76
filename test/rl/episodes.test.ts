// Environment tokens in training: masked out of the loss, the KL and the length figures. Checked by
// hand-worked values (the objective with a mask, KL in the reward over model tokens only) and end to
// end on a tiny random model whose episodes call an environment (metrics, samples.jsonl, resume-free).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import type { Environment } from "../../src/env/types.js";
import { klPenalisedRewards } from "../../src/rl/advantages.js";
import { klPerToken, policyObjective, type ObjectiveSettings } from "../../src/rl/objective.js";
import { makeBatch, modelOnly, type Sample } from "../../src/rl/stages.js";
import { train } from "../../src/rl/trainer.js";
import { RunDir } from "../../src/runs/run-dir.js";
import { arithEncode } from "../../src/tasks/arithmetic.js";
import { readJsonl } from "../../src/util/jsonl.js";
import { setup, spec } from "./tiny.js";

const settings: ObjectiveSettings = {
  ratioLevel: "token", clipLow: 0.2, clipHigh: 0.2, dualClip: null, aggregation: "token-mean", maxLength: 10,
  klEstimator: "k1", klCoef: 0.5, klPlacement: "loss", entropyCoef: 0, tisCap: null, icepop: null,
};

describe("environment tokens are masked", () => {
  it("the objective: masked tokens add nothing to the loss or the gradient (hand-worked)", () => {
    // one response of 4 tokens, tokens 1 and 2 from the environment; ratio 1 (logp = logp_old)
    const logp = [-1, -2, -3, -0.5];
    const out = policyObjective(settings, {
      logp, logpOld: logp, logpRef: [-1.5, -9, -9, -0.25], advantages: [2, 2, 2, 2], mask: [1, 0, 0, 1], offsets: [0, 4],
    });
    // token-mean over the 2 model tokens: policy term −A·ratio = −2 each; KL k1 = logp − logp_ref = 0.5, −0.25
    // loss = (−2 + 0.5·0.5) / 2 + (−2 + 0.5·(−0.25)) / 2 = −0.875 − 1.0625 = −1.9375
    expect(out.loss).toBeCloseTo(-1.9375, 12);
    // dL/dlogp_t = (−A·ratio + β) / 2 for a model token (k1's derivative is 1), 0 for an environment token
    expect(Array.from(out.dLogp)).toEqual([(-2 + 0.5) / 2, 0, 0, (-2 + 0.5) / 2]);
    expect(out.stats.tokens).toBe(2);
    expect(out.stats.klMean).toBeCloseTo((0.5 - 0.25) / 2, 12);
  });

  it("KL in the reward sums the model's tokens only", () => {
    const sample = (lossMask?: number[]): Sample => ({
      group: 0, problem: { id: "p", question: "", answer: "", reference: null }, promptText: "", responsePrefix: "", prompt: [1],
      response: Int32Array.from([3, 4, 5]), text: "", truncated: false, engineLogp: null, reward: 1,
      ...(lossMask ? { lossMask: Float64Array.from(lossMask) } : {}),
    });
    const rl = spec.fromArgv([], () => "").config.rl;
    const b = makeBatch(rl, [sample([1, 0, 1]), sample()]);
    expect(Array.from(b.mask)).toEqual([1, 0, 1, 1, 1, 1]);
    const kl = modelOnly(b, klPerToken("k1", [-1, -1, -1, -1, -1, -1], [-2, -5, -2, -2, -2, -2])); // k1: 1, 4, 1, 1, 1, 1
    expect(Array.from(kl)).toEqual([1, 0, 1, 1, 1, 1]);
    // r − β·ΣKL: 1 − 0.1·2 for the episode (its environment token's KL of 4 left out), 1 − 0.1·3 for the other
    const r = klPenalisedRewards([1, 1], b.lengths, kl, 0.1);
    expect(r[0]).toBeCloseTo(0.8, 12);
    expect(r[1]).toBeCloseTo(0.7, 12);
  });

  it("a training run with an environment: tools/ metrics, episodes in samples.jsonl, lengths of model tokens", async () => {
    const { c, opts } = setup(["--steps", "2", "--kl-coef", "0.01", "--samples-per-step", "4", "--max-new-tokens", "16"]);
    // "=" ends a turn with a call; the environment answers "7;" (two tokens, masked)
    const env: Environment = {
      name: "sevens", turnEnd: ["="],
      start: () => ({ step: (t) => (t.ended === "call" ? { type: "observation", text: "7;", calls: [{ name: "sevens", input: {}, output: "7;", seconds: 0 }] } : { type: "end" }) }),
    };
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "aha-episodes-")), "run");
    const run = RunDir.create(dir, spec.toFlat(c), { total_steps: 2, kind: "train", task: "arithmetic", model: "tiny", algorithm: "grpo" });
    const res = await train({ ...opts, run, episodes: { env, limits: { maxTurns: 3, maxTokens: 16, toolSeconds: 5, observationBytes: 100 }, encode: arithEncode, turnEndIds: [14] } });
    expect(res.steps).toBe(2);
    for (const m of res.metrics) {
      expect(m["tools/calls_per_episode"]).toBeGreaterThan(0);
      expect(m["tools/turns_per_episode"]).toBeGreaterThanOrEqual(1);
      expect(m["tools/masked_share"]).toBeGreaterThan(0);
      expect(m["tools/masked_share"]).toBeLessThan(1);
      expect(m["tools/errors"]).toBe(0);
      expect(Number.isFinite(m["loss/policy"])).toBe(true);
      expect(Number.isFinite(m["kl"])).toBe(true);
    }
    const rows = readJsonl<Record<string, unknown>>(path.join(dir, "samples.jsonl")).rows;
    expect(rows.length).toBe(8);
    let withCall = 0;
    for (const r of rows) {
      const ep = r["episode"] as { spans: { kind: string; start: number; end: number; text: string }[]; calls: unknown[]; finish: string };
      expect(ep.spans.length).toBeGreaterThan(0);
      const modelTokens = ep.spans.filter((s) => s.kind === "model").reduce((a, s) => a + s.end - s.start, 0);
      expect(r["length"]).toBe(modelTokens);
      // every call's result was appended, but the last one's when it did not fit (max_tokens)
      const envSpans = ep.spans.filter((s) => s.kind === "env");
      const dropped = ep.calls.length - envSpans.length;
      expect(dropped === 0 || (dropped === 1 && ep.finish === "max_tokens")).toBe(true);
      for (const e of envSpans) expect(e.text).toBe("7;");
      withCall += envSpans.length > 0 ? 1 : 0;
      expect(["stop", "max_turns", "max_tokens"]).toContain(ep.finish);
    }
    expect(withCall).toBeGreaterThan(0);
    fs.rmSync(path.dirname(dir), { recursive: true });
  }, 60_000);
});
