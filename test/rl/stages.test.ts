/**
 * Each stage of an RL step on its own (src/rl/stages.ts), on the tiny model of ./tiny.ts with a
 * recording engine: collect (requests carry n, limits, stop ids and the task's stop strings; EOS is
 * cut from the text), score (groups concurrently; overlong penalty hand-worked), select (dynamic
 * sampling), batch (offsets, overlong and per-token masks), reference (old log-probs = the model's
 * own; reference from the reference model; fused leaves them to update), advantages (hand-worked
 * GRPO group), update (zero advantages move nothing; the number of optimizer updates).
 */
import { describe, expect, it } from "vitest";
import type { GroupScorer } from "../../src/rewards/compose.js";
import { advantages, collect, makeBatch, reference, score, selectGroups, update, type Sample, type StepContext } from "../../src/rl/stages.js";
import { objectiveSettings } from "../../src/rl/trainer.js";
import type { Completion, RolloutRequest } from "../../src/rollout/engine.js";
import { ARITH_SPECIAL } from "../../src/tasks/arithmetic.js";
import { setup, tokenizer } from "./tiny.js";

const EOS = ARITH_SPECIAL.eos;

/** An engine that records its requests and answers with fixed token ids (the last ends with EOS). */
function recordingEngine(answers: number[][]) {
  const requests: RolloutRequest[] = [];
  const seeds: (number | undefined)[] = [];
  return {
    requests,
    seeds,
    engine: {
      logprobKind: "none" as const,
      generate: async (reqs: readonly RolloutRequest[], opts?: { seed?: number }): Promise<Completion[][]> => {
        requests.push(...reqs);
        seeds.push(opts?.seed);
        return reqs.map((r) => Array.from({ length: r.n ?? 1 }, (_, j): Completion => {
          const ids = answers[j % answers.length]!;
          const stop = ids[ids.length - 1] === EOS;
          return { requestIndex: 0, sampleIndex: j, tokenIds: Int32Array.from(ids), logprobs: null, finishReason: stop ? "stop" : "length" };
        }));
      },
    },
  };
}

function context(argv: string[], over: Partial<StepContext> = {}): StepContext {
  const { opts } = setup(argv);
  const scorer: GroupScorer<unknown> = async (rs) => rs.map((r) => ({ reward: r.text.length, parts: {}, correct: false, extracted: null, reason: "" }));
  return { rl: opts.rl, train: opts.train, task: opts.task, template: "none", tokenizer: opts.tokenizer, engine: opts.engine, policy: opts.policy, scorer, settings: objectiveSettings(opts.rl), ...over };
}

const enc = (s: string): number[] => tokenizer.encode(s).slice(1); // without BOS

describe("collect", () => {
  it("sends n, limits, stop ids and the task's stop strings; cuts the stop token from the text", async () => {
    const rec = recordingEngine([[...enc("12"), EOS], enc("345")]);
    const ctx = context(["--group-size", "2", "--max-new-tokens", "7", "--temperature", "0.7", "--top-p", "0.9"]);
    const problems = ctx.task.train.size === null ? [ctx.task.train.get(0), ctx.task.train.get(1)] : [];
    const groups = await collect({ ...ctx, engine: rec.engine }, problems, 99);
    expect(rec.seeds).toEqual([99]);
    expect(rec.requests).toHaveLength(2);
    for (const r of rec.requests) {
      expect(r).toMatchObject({ n: 2, maxNewTokens: 7, temperature: 0.7, topP: 0.9, stopTokenIds: [EOS], stopStrings: ["</answer>"] });
    }
    expect(Array.from(rec.requests[0]!.promptIds)).toEqual(tokenizer.encode(problems[0]!.question));
    expect(groups.map((g) => g.map((s) => [s.text, s.response.length, s.truncated]))).toEqual([
      [["12", 3, false], ["345", 3, true]],
      [["12", 3, false], ["345", 3, true]],
    ]);
    expect(groups[1]![0]!.problem).toBe(problems[1]);
  });
});

function fakeSample(group: number, text: string, length: number, truncated = false): Sample {
  return { group, problem: { id: `p${group}`, question: "q", answer: "a", reference: null }, promptText: "q", responsePrefix: "", prompt: [1, 2], response: new Int32Array(length).fill(5), text, truncated, engineLogp: null };
}

describe("score", () => {
  it("scores every group at once and applies DAPO's overlong penalty (hand-worked)", async () => {
    let inFlight = 0;
    let most = 0;
    const scorer: GroupScorer<unknown> = async (rs) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 15));
      inFlight--;
      return rs.map((r) => ({ reward: r.text === "null" ? null : 1, parts: { x: r.tokens }, correct: true, extracted: null, reason: "" }));
    };
    // L_max 10, buffer 4: lengths ≤ 6 no penalty; 8 → −(8−6)/4 = −0.5; 10 → −1
    const ctx = context(["--group-size", "2", "--max-new-tokens", "10", "--overlong", "penalty", "--overlong-buffer", "4", "--overlong-penalty", "1"], { scorer });
    const groups = [[fakeSample(0, "a", 6), fakeSample(0, "b", 8)], [fakeSample(1, "c", 10, true), fakeSample(1, "null", 9)], [fakeSample(2, "d", 1), fakeSample(2, "e", 2)]];
    await score(ctx, groups);
    expect(most).toBe(3);
    expect(groups.flat().map((s) => s.reward)).toEqual([1, 0.5, 0, null, 1, 1]);
    expect(groups[0]![1]!.scored!.parts).toEqual({ x: 8 });
  });
});

describe("selectGroups", () => {
  const groups = (rewards: (number | null)[][]): Sample[][] => rewards.map((g, i) => g.map((r) => ({ ...fakeSample(i, "", 1), reward: r })));
  it("dynamic sampling keeps the groups whose rewards differ", () => {
    const ctx = context(["--group-size", "3", "--dynamic-sampling"]);
    expect(selectGroups(ctx.rl, groups([[1, 1, 1], [0, 1, 0], [0, 0, 0], [2, 2, 3]]))).toEqual({ keep: [1, 3], zeroVarianceFrac: 0.5 });
  });
  it("without it every group is kept", () => {
    const ctx = context(["--group-size", "3", "--no-dynamic-sampling"]);
    expect(selectGroups(ctx.rl, groups([[1, 1, 1], [0, 1, 0]])).keep).toEqual([0, 1]);
  });
});

describe("makeBatch", () => {
  it("offsets per sample; masks overlong responses (mask mode) and environment tokens", () => {
    const ctx = context(["--group-size", "3", "--overlong", "mask"]);
    const env = fakeSample(0, "", 4);
    env.lossMask = Float64Array.from([1, 0, 0, 1]);
    const b = makeBatch(ctx.rl, [fakeSample(0, "", 2), fakeSample(0, "", 3, true), env]);
    expect(b.offsets).toEqual([0, 2, 5, 9]);
    expect(b.total).toBe(9);
    expect(Array.from(b.mask)).toEqual([1, 1, 0, 0, 0, 1, 0, 0, 1]);
  });
});

describe("reference", () => {
  const samples = (): Sample[] => [0, 1, 2, 3].map((g) => {
    const s = fakeSample(0, "", 3 + g);
    s.prompt = [ARITH_SPECIAL.bos, 4 + g, 5];
    s.response = Int32Array.from({ length: 3 + g }, (_, t) => 4 + ((g + t) % 10));
    return s;
  });
  it("separate pass: old log-probs are the model's own per response token; ref from the reference model", () => {
    const ctx = context(["--group-size", "4", "--epochs", "2", "--kl-coef", "0.1"]);
    const b = makeBatch(ctx.rl, samples());
    const lp = reference(ctx, b);
    expect(lp.fused).toBe(false);
    // the same numbers one sequence at a time, straight from the model
    b.samples.forEach((s, i) => {
      const tokens = Int32Array.from([...s.prompt, ...s.response]);
      const targets = new Int32Array(tokens.length).fill(-1);
      for (let t = 0; t < s.response.length; t++) targets[s.prompt.length - 1 + t] = s.response[t]!;
      const { logp } = ctx.policy.model.forward(tokens, Int32Array.from([0, tokens.length]), targets, { onlyTargets: true });
      for (let t = 0; t < s.response.length; t++) expect(lp.old[b.offsets[i]! + t]).toBeCloseTo(logp[s.prompt.length - 1 + t]!, 5);
    });
    // before any update the reference (a frozen copy) equals the policy
    for (let t = 0; t < b.total; t++) expect(lp.ref![t]).toBeCloseTo(lp.old[t]!, 5);
  });
  it("one update per rollout: the old log-probs are left to the update's own forward (fused)", () => {
    const ctx = context(["--group-size", "4", "--kl-coef", "0"]);
    const lp = reference(ctx, makeBatch(ctx.rl, samples()));
    expect(lp.fused).toBe(true);
    expect(lp.ref).toBeNull();
    expect(Array.from(lp.old).every((x) => x === 0)).toBe(true);
  });
});

describe("advantages and update", () => {
  const batchOf = (ctx: StepContext, rewards: number[]) => makeBatch(ctx.rl, rewards.map((r, i) => {
    const s = fakeSample(0, "", 2 + i);
    s.prompt = [ARITH_SPECIAL.bos, 4];
    s.response = Int32Array.from({ length: 2 + i }, (_, t) => 5 + t);
    s.reward = r;
    return s;
  }));
  it("GRPO group advantages, hand-worked: (r − mean) / (std + ε), one per token", () => {
    const ctx = context(["--group-size", "4", "--kl-coef", "0", "--advantage-eps", "0"]);
    const b = batchOf(ctx, [1, 0, 0, 1]);
    const adv = advantages(ctx, b, reference(ctx, b));
    // mean 0.5, sample std (n − 1) = sqrt(1/3) → ±0.5·sqrt(3)
    const a = 0.5 * Math.sqrt(3);
    const want = [a, a, -a, -a, -a, -a, -a, -a, -a, a, a, a, a, a]; // lengths 2, 3, 4, 5
    expect(adv.perToken).toHaveLength(want.length);
    want.forEach((w, t) => expect(adv.perToken[t]).toBeCloseTo(w, 12));
  });
  it("zero advantages and no KL move nothing; two mini-batches × two epochs are four updates", () => {
    const ctx = context(["--group-size", "2", "--prompts-per-step", "2", "--kl-coef", "0", "--epochs", "2", "--mini-batches", "2", "--weight-decay", "0"]);
    const before = ctx.policy.model.params.data.slice();
    const b = batchOf(ctx, [1, 1, 0, 0]);
    const lp = reference(ctx, b);
    const flat = update(ctx, b, lp, { perToken: new Float64Array(b.total), kl: null }, 0.01);
    expect(flat.updates).toBe(4);
    expect(ctx.policy.model.params.data).toEqual(before);
    const moved = update(ctx, b, reference(ctx, b), advantages(ctx, batchOf(ctx, [1, 0, 1, 0]), lp), 0.01);
    expect(moved.updates).toBe(4);
    expect(moved.skipped).toBe(false);
    expect(ctx.policy.model.params.data).not.toEqual(before);
  });  it("importance sampling: tis/weight_mean is the mean k, tis/truncated_frac or tis/masked_frac the share beyond C or outside [α, β]; none when off", () => {
    // k = exp(logp_old − logp_engine) = 2 on even tokens and 8 on odd ones of each response (lengths 2, 3, 4, 5: 6 of 14 odd).
    const run = (argv: string[]) => {
      const ctx = context(["--group-size", "4", "--kl-coef", "0", ...argv], { separateOldPass: true });
      const b = batchOf(ctx, [1, 0, 0, 1]);
      const lp = reference(ctx, b);
      b.samples.forEach((s, i) => {
        s.engineLogp = Float32Array.from({ length: s.response.length }, (_, t) => lp.old[b.offsets[i]! + t]! - Math.log(t % 2 ? 8 : 2));
      });
      return update(ctx, b, lp, advantages(ctx, b, lp), 0.01);
    };
    const mean = (2 * 8 + 8 * 6) / 14;
    const tr = run(["--tis-cap", "3"]).tis!;
    expect(Object.keys(tr).sort()).toEqual(["tis/truncated_frac", "tis/weight_mean"]);
    expect(tr["tis/weight_mean"]).toBeCloseTo(mean, 4);
    expect(tr["tis/truncated_frac"]).toBeCloseTo(6 / 14, 12);
    const ip = run(["--tis-mode", "icepop"]).tis!;
    expect(Object.keys(ip).sort()).toEqual(["tis/masked_frac", "tis/weight_mean"]);
    expect(ip["tis/weight_mean"]).toBeCloseTo(mean, 4);
    expect(ip["tis/masked_frac"]).toBeCloseTo(6 / 14, 12);
    expect(run([]).tis).toBeNull();
  });
});
